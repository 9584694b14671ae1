"""What an installed package (no source tree around it) finds instead of the checkout's files
(issue 16): the Hadoop launcher for pydoop, the demo's first cleaning engine, the cluster
artifacts of `make dist`. Quick: no JVM, no subprocess; tests/test_wheel.py runs the wheel."""

from __future__ import annotations

import pytest

from sensorpipe.demo.batch import first_engine
from sensorpipe.spark import launch
from sensorpipe.store.hdfs import HdfsMissing, hadoop_bin


def fake_hadoop(home):
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "hadoop").write_text("#!/bin/sh\n")
    (home / "bin" / "hadoop").chmod(0o755)
    return home


def test_pydoop_uses_hadoop_on_path_then_hadoop_home_then_the_checkouts_launcher(tmp_path):
    home, launcher = fake_hadoop(tmp_path / "home"), fake_hadoop(tmp_path / "checkout") / "bin"
    assert hadoop_bin("/usr/bin/hadoop", str(home), launcher) == ""  # on PATH: nothing to add
    assert hadoop_bin(None, str(home), launcher) == str(home / "bin")
    assert hadoop_bin(None, None, launcher) == str(launcher)
    assert hadoop_bin(None, str(tmp_path / "nowhere"), launcher) == str(launcher)


def test_without_any_hadoop_the_message_names_path_and_hadoop_home(tmp_path):
    wheel = tmp_path / "site-packages" / "conf" / "hadoop" / "bin"  # what an installed package sees
    with pytest.raises(HdfsMissing) as unset:
        hadoop_bin(None, None, wheel)
    assert str(unset.value) == (
        "hdfs:// paths need Hadoop: no `hadoop` command on PATH and HADOOP_HOME is not set. Install"
        " Hadoop and put its `hadoop` on PATH or set HADOOP_HOME (a source checkout's `make setup`"
        " provides one)"
    )
    with pytest.raises(HdfsMissing, match=f"no bin/hadoop in HADOOP_HOME={tmp_path}/opt"):
        hadoop_bin(None, str(tmp_path / "opt"), wheel)


def test_the_demo_cleans_with_the_pipe_engine_where_hadoop_cannot_run(tmp_path, monkeypatch):
    lib = tmp_path / "lib"
    lib.mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no `hadoop` command
    assert first_engine(lib) == "pipe"
    (lib / "hadoop-streaming-3.4.1.jar").write_bytes(b"")  # `make setup` in a checkout
    assert first_engine(lib) == "hadoop"
    (lib / "hadoop-streaming-3.4.1.jar").unlink()
    fake_hadoop(tmp_path / "opt")
    monkeypatch.setenv("PATH", str(tmp_path / "opt" / "bin"))
    assert first_engine(lib) == "hadoop"


def test_a_cluster_master_without_dist_names_sensorpipe_dist(tmp_path, monkeypatch):
    monkeypatch.setenv("SENSORPIPE_DIST", str(tmp_path))
    with pytest.raises(launch.SetupError) as missing:
        launch.cluster_submit_args()
    assert str(missing.value) == (
        f"missing {tmp_path}/sensorpipe.zip, {tmp_path}/sensorpipe-env.tar.gz: a master other than"
        " local[*] needs them. Run `make dist` in a source checkout and set SENSORPIPE_DIST to its"
        ' dist/ directory, or to the hdfs:// directory they were uploaded to (README, "Running on a'
        ' cluster")'
    )


def test_an_installed_package_looks_for_dist_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("SENSORPIPE_DIST", raising=False)
    monkeypatch.setattr(launch, "ROOT", tmp_path / "site-packages")  # no pyproject.toml there
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "sensorpipe.zip").write_bytes(b"")
    assert launch.cluster_submit_args(python_env=False) == ["--py-files", f"{tmp_path}/dist/sensorpipe.zip"]
