"""The file-store interface on the local file system: inputs, the replaceability check and the
staged commit (sensorpipe.store.base over sensorpipe.store.local)."""

from __future__ import annotations

import os

import pytest

from sensorpipe.core.inputs import InputError, as_pattern, local_path, path_parts
from sensorpipe.core.output import OutputError
from sensorpipe.store.local import LocalStore


def test_inputs_are_a_file_or_a_directorys_visible_files_by_name(tmp_path):
    for name in ("b.csv", "a.csv", "_SUCCESS", ".a.csv.crc"):
        (tmp_path / name).write_text("x\n")
    (tmp_path / "sub").mkdir()
    store = LocalStore()
    assert store.list_inputs(str(tmp_path)) == [str(tmp_path / "a.csv"), str(tmp_path / "b.csv")]
    assert store.list_inputs(str(tmp_path / "b.csv")) == [str(tmp_path / "b.csv")]
    with pytest.raises(InputError, match="no such file or directory"):
        store.list_inputs(str(tmp_path / "missing"))


def test_something_else_at_out_is_refused_by_its_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    with pytest.raises(OutputError) as err:
        LocalStore().check_replaceable("notes")
    assert (
        str(err.value)
        == f"{tmp_path / 'notes'}: exists and is not a sensorpipe output; refusing to replace it"
    )
    (tmp_path / "empty").mkdir()
    LocalStore().check_replaceable("empty")  # an empty directory may be replaced


def test_a_commit_writes_success_last_and_replaces_an_earlier_output(tmp_path):
    out = tmp_path / "deep" / "out"
    store = LocalStore()
    with store.staged_output(str(out)) as stage:
        assert os.path.basename(stage).startswith(".out.staging-")
        assert not (out / "_SUCCESS").exists()
        store.write_json(f"{stage}/stats.json", {"rows": 1})
    with store.staged_output(str(out)) as stage:
        store.write_bytes(f"{stage}/report.json", b"{}\n")
    assert sorted(p.name for p in out.iterdir()) == ["_SUCCESS", "report.json"]
    assert [p.name for p in out.parent.iterdir()] == ["out"]


def test_a_failed_run_leaves_out_as_it_was(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "_SUCCESS").write_text("")
    store = LocalStore()
    with pytest.raises(RuntimeError), store.staged_output(str(out)) as stage:
        store.write_bytes(f"{stage}/report.json", b"half")
        raise RuntimeError("the run failed")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert [p.name for p in out.iterdir()] == ["_SUCCESS"]


def test_a_failed_swap_puts_the_old_output_back(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "_SUCCESS").write_text("old")
    store = LocalStore()
    real_rename = store.rename

    def rename(src, dst):
        if ".staging-" in src:
            raise OSError("disk gone")
        real_rename(src, dst)

    monkeypatch.setattr(store, "rename", rename)
    with pytest.raises(OSError, match="disk gone"), store.staged_output(str(out)) as stage:
        store.write_bytes(f"{stage}/report.json", b"new")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert (out / "_SUCCESS").read_text() == "old"


def test_a_name_splits_as_hadoop_prints_it():
    """Hadoop's Path prints names unescaped: '#', '?' and '%' belong to the file's name."""
    assert path_parts("hdfs://nn:8020/d/a b#1?.csv") == ("hdfs", "nn:8020", "/d/a b#1?.csv")
    assert path_parts("file:/d/p%20q.csv") == ("file", "", "/d/p%20q.csv")
    assert path_parts("file:///d/x.csv") == ("file", "", "/d/x.csv")
    assert path_parts("HDFS:///d") == ("hdfs", "", "/d")
    assert path_parts("/d/a:b.csv") == ("", "", "/d/a:b.csv")
    assert path_parts("d/a:b.csv") == ("", "", "d/a:b.csv")  # 'd/a' is no scheme
    assert local_path("file:/d/h#x.csv") == "/d/h#x.csv"
    assert local_path("/d/../e/x.csv") == "/e/x.csv"
    assert local_path("hdfs://nn/d/x.csv") is None


def test_a_name_as_a_glob_that_matches_it_alone():
    assert as_pattern("file:/d/g[1]*?.csv") == r"file:/d/g\[1\]\*\?.csv"
    assert as_pattern(r"/d/b{1,2}\x.csv") == r"/d/b\{1,2\}\\x.csv"
    assert as_pattern("/d/c,z.csv") == "/d/c,z.csv"
    assert as_pattern("/d/c,z{.csv", commas=True) == r"/d/c{\,}z\{.csv"
