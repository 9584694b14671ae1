"""Edge inputs and failures: zero rows succeed; a failed run leaves nothing half-written."""

import json

import pytest

from conftest import DATA, Output, run_clean

SPEC = DATA / "messy.toml"
HEADER = "device_id,ts,temperature,pressure,rpm,model,note\n"


ZERO_ROWS = {"empty": "", "header": HEADER, "blanks": "\n\n" + HEADER + "\r\n  \n"}


@pytest.mark.parametrize(
    ("engine", "files"),
    [("pipe", ["empty"]), ("pipe", ["header"]), ("pipe", ["blanks"]), ("hadoop", list(ZERO_ROWS))],
    ids=["pipe-empty", "pipe-header", "pipe-blanks", "hadoop-all-three"],
)
def test_zero_rows_succeed(tmp_path, engine, files):
    """An empty file, a header alone, blank lines around a header: no rows, every output.
    Real Hadoop gets the three files as one input directory (one run of five jobs)."""
    src = tmp_path / "in"
    src.mkdir()
    for name in files:
        (src / f"{name}.csv").write_text(ZERO_ROWS[name])
    assert run_clean(engine, SPEC, src, tmp_path / "out") == 0
    out = Output(tmp_path / "out")
    assert (out.report["rows_in"], out.report["rows_clean"], out.report["rows_rejected"]) == (0, 0, 0)
    assert out.clean == [] and out.rejects == []
    assert out.stats["rows"] == 0
    assert out.stats["columns"]["temperature"]["mean"] is None
    assert out.stats["columns"]["model"]["vocab"] == []
    assert out.stats["output_columns"] == [
        "device_id",
        "ts",
        "temperature",
        "pressure",
        "rpm",
        "model",
        "note",
    ]


def test_one_row(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text(HEADER + "d1,2026-01-01T00:00:00Z,20,100,7,A,x\n")
    assert run_clean("pipe", SPEC, src, tmp_path / "out") == 0
    out = Output(tmp_path / "out")
    # one value: IQR 0, so pressure robust-scales to 0.0; rpm stays int
    assert out.clean == [["d1", "2026-01-01T00:00:00Z", "20.0", "0.0", "7", "0", "x"]]
    assert out.stats["columns"]["pressure"]["std"] == 0.0


@pytest.mark.parametrize("engine", ["pipe", "hadoop"])
def test_failed_run_leaves_previous_output_alone(tmp_path, engine, capsys):
    out = tmp_path / "out"
    assert run_clean("pipe", SPEC, DATA / "messy", out) == 0
    before = (out / "report.json").read_text()
    code = run_clean_with(engine, out, ["--python", str(tmp_path / "no-such-python")])
    assert code == 1
    assert "run failed" in capsys.readouterr().err
    assert (out / "report.json").read_text() == before and (out / "_SUCCESS").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging directory left


def run_clean_with(engine, out, extra):
    from sensorpipe.cli import main  # noqa: PLC0415

    return main(
        [
            "clean",
            "--engine",
            engine,
            "--spec",
            str(SPEC),
            "--input",
            str(DATA / "messy"),
            "--output",
            str(out),
            *extra,
        ]
    )


def test_header_missing_a_column_fails_naming_file_and_column(tmp_path, capsys):
    src = tmp_path / "in.csv"
    src.write_text("device_id,ts,temperature\nd1,2026-01-01,1\n")
    assert run_clean("pipe", SPEC, src, tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert str(src) in err and "'pressure'" in err
    assert not (tmp_path / "out").exists()


def test_missing_input_fails(tmp_path, capsys):
    assert run_clean("pipe", SPEC, tmp_path / "nope.csv", tmp_path / "out") == 1
    assert "nope.csv" in capsys.readouterr().err


def test_refuses_to_replace_a_foreign_directory(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    assert run_clean("pipe", SPEC, DATA / "messy", out) == 2
    assert "refusing" in capsys.readouterr().err
    assert (out / "thesis.tex").read_text() == "precious"


def test_pipe_runs_at_least_two_mappers_and_reducers(tmp_path):
    out = tmp_path / "out"
    assert run_clean("pipe", SPEC, DATA / "messy", out, split_mb=64) == 0
    assert len(list((out / "clean").glob("part-*"))) >= 2  # even one small file gets 2 splits
    report = json.loads((out / "report.json").read_text())
    assert report["rows_clean"] == 13


# Characters Hadoop leaves in a file's name (its Path prints them unescaped) that a URL would
# escape or cut at: every engine must find each file and name it in rejects/ as it is.
# The second line's are globs (and lists) to Spark and Hadoop unless escaped: "g[1].csv" names
# a missing g1.csv, "a?b.csv" "a b.csv" too, "b{1,2}.csv" b1.csv and b2.csv, a backslash
# escapes; Hadoop's -input splits "comma,z.csv" in two.
ODD_NAMES = ["a b.csv", "p%20q.csv", "h#x.csv", "plus+y.csv", "\u00fc.csv", "c%.csv"]
ODD_NAMES += ["g[1].csv", "a?b.csv", "b{1,2}.csv", "comma,z.csv", "back\\slash.csv"]


@pytest.mark.parametrize("engine", ["pipe", "hadoop", "spark-file-per-scan", "spark-one-scan"])
def test_odd_file_names(tmp_path, engine, monkeypatch, request):
    """Each file: its header, a good row, a bad pressure on line 3. The Spark engine reads up to
    jobs.lines.MAX_UNION files a scan each, more in one scan whose rows carry Spark's escaped
    URI of their file (both paths here: MAX_UNION 1 makes six files 'more')."""
    src = tmp_path / "in"
    src.mkdir()
    for i, name in enumerate(ODD_NAMES):
        (src / name).write_text(
            HEADER + f"d{i},2026-01-01T00:00:00Z,20,100,7,A,x\nd{i},2026-01-01T00:01:00Z,21,1e,7,A,x\n"
        )
    out = tmp_path / "out"
    if engine.startswith("spark"):
        import jobs.lines  # noqa: PLC0415
        from jobs.clean import clean  # noqa: PLC0415

        monkeypatch.setattr(jobs.lines, "MAX_UNION", 1 if engine == "spark-one-scan" else 32)
        clean(request.getfixturevalue("spark"), str(SPEC), str(src), str(out), fmt="csv")
    else:
        monkeypatch.setenv("SENSORPIPE_LOCAL_HADOOP", "1")
        assert run_clean(engine, SPEC, src, out) == 0
    got = Output(out)
    assert (got.report["rows_in"], got.report["rows_clean"]) == (22, 11)
    assert sorted((r["source"], r["line"], r["reason"]) for r in got.rejects) == sorted(
        (str(src / name), 3, "invalid_value") for name in ODD_NAMES
    )
