"""Counts that are counted: report.json's figures come from what the passes counted, a count
that is missing fails the run, and the row accounting check can fail on every engine.
(test_messy.py runs real Hadoop with its client at WARN and checks the figures by hand.)
"""

import shutil

import pytest

from conftest import DATA, run_clean
from mapreduce import runner
from mapreduce.figures import CountsMissing, read_counts, read_tally
from sensorpipe.core.output import report_document
from sensorpipe.core.spec import load_spec

SPEC = DATA / "messy.toml"
REJECTED = {"malformed_row": 5, "missing_required": 3, "invalid_value": 5, "duplicate_key": 4}

# A script that runs the real one and drops every count it makes: its count records on
# stdout and its Hadoop counters on stderr, as if the counts had never been made.
SILENCED = """import subprocess, sys
done = subprocess.run([sys.executable, {real!r}], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
sys.stdout.buffer.writelines(x for x in done.stdout.splitlines(True) if not x.startswith(b"C\\t"))
sys.stderr.buffer.writelines(
    x for x in done.stderr.splitlines(True) if not x.startswith(b"reporter:counter:")
)
sys.exit(done.returncode)
"""


def report(rows_in, rows_clean, rejected):
    return report_document("test", rows_in, rows_clean, rejected, {}, {}, 0.0)


def test_report_accepts_a_balanced_accounting():
    doc = report(30, 13, REJECTED)
    assert (doc["rows_in"], doc["rows_clean"], doc["rows_rejected"]) == (30, 13, 17)


@pytest.mark.parametrize(
    ("rows_in", "rows_clean", "rejected"),
    [
        (30, 12, REJECTED),  # a clean row lost
        (26, 13, {k: v for k, v in REJECTED.items() if k != "duplicate_key"}),  # a reason not counted
        (None, 13, REJECTED),  # rows_in not counted
        (0, 0, {}),  # nothing counted: what a missing counter group used to report
    ],
    ids=["unbalanced", "reason-missing", "rows-in-missing", "nothing-counted"],
)
def test_report_refuses_an_accounting_that_was_not_counted(rows_in, rows_clean, rejected):
    with pytest.raises(RuntimeError, match="row accounting"):
        report(rows_in, rows_clean, rejected)


def test_count_records_are_summed_and_required():
    lines = ["C\trows_in\t-\t20", "D\tx", "C\trows_in\t-\t10", "C\tclipped\t4\t3"]
    counts = read_counts(lines, [("rows_in", "-"), ("clipped", "4")], "validate")
    assert counts == {("rows_in", "-"): 30, ("clipped", "4"): 3}
    with pytest.raises(CountsMissing, match=r"validate pass wrote no count of rows_clean, clipped\[5\]"):
        read_counts(lines, [("rows_clean", "-"), ("clipped", "5")], "validate")


def test_the_tally_must_have_seen_every_kept_row():
    columns = load_spec(SPEC).columns[:1]  # device_id
    lines = ["C\trows\t-\t7", "C\trows\t-\t5", "C\timputed\t0\t0", "C\tclipped\t0\t0"]
    assert read_tally(lines, columns, 12) == {"imputed": {"device_id": 0}, "clipped": {"device_id": 0}}
    with pytest.raises(CountsMissing, match="tally pass saw 12 kept rows, the validate pass kept 13"):
        read_tally(lines, columns, 13)


def test_a_pass_that_counts_nothing_fails_the_run(tmp_path, monkeypatch, capsys):
    """The validate pass's scripts run, but every count they make is dropped: the run fails
    (exit 1, no _SUCCESS), and the earlier output in OUT stays as it was."""
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    for name in runner.SCRIPTS:
        shutil.copy(runner.HERE / name, scripts / name)
    for name in ("validate_mapper.py", "dedup_reducer.py"):
        (scripts / name).write_text(SILENCED.format(real=str(runner.HERE / name)))
    monkeypatch.setattr(runner, "HERE", scripts)
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text("the earlier run's report\n")
    (out / "_SUCCESS").write_text("")
    assert run_clean("pipe", SPEC, DATA / "messy", out) == 1
    assert "the validate pass wrote no count of rows_in" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["_SUCCESS", "report.json"]
    assert (out / "report.json").read_text() == "the earlier run's report\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "scripts"]  # no stage left


def test_spark_counts_the_clean_rows_it_writes(spark, tmp_path, monkeypatch):
    """clean/ gets one row fewer than the rows the rejects were counted against: the count
    made on the write disagrees, and the run fails without _SUCCESS (the derived count,
    rows_in - rejects, said 13 and the run succeeded)."""
    from pyspark.sql import functions as F  # noqa: PLC0415

    import jobs.clean  # noqa: PLC0415

    select_clean = jobs.clean.select_clean

    def one_row_lost(params, as_text=False):
        def transform(df):
            rows = df.transform(select_clean(params, as_text))
            return rows.where(~F.col("note").eqNullSafe("ok"))  # d1's row (a_messy.csv line 2)

        return transform

    monkeypatch.setattr(jobs.clean, "select_clean", one_row_lost)
    with pytest.raises(RuntimeError, match="row accounting broken"):
        jobs.clean.clean(spark, str(SPEC), str(DATA / "messy"), str(tmp_path / "out"), fmt="csv")
    assert not (tmp_path / "out").exists()
