"""-v / -q / --log-format: what reaches stderr at each level and format, the command results
that stay on stdout, and the choice reaching a spark-submit entry point through the environment."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sensorpipe.cli import main
from sensorpipe.core import log

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "tests" / "data" / "messy.toml"
MESSY = ROOT / "tests" / "data" / "messy"
PASSES = ["count", "validate", "stats", "transform", "rejects", "tally"]


@pytest.fixture(autouse=True)
def unconfigured(monkeypatch):
    """Each test starts with no SENSORPIPE_LOG_* and no handler of ours, and leaves none."""
    for var in (log.LEVEL_ENV, log.FORMAT_ENV):
        monkeypatch.setenv(var, "")  # recorded, so that teardown also undoes configure()'s writes
        monkeypatch.delenv(var)
    yield
    _reset()


def _reset() -> None:
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, log._Stderr)]:
        root.removeHandler(handler)
    for name in log.PROJECT:
        logging.getLogger(name).setLevel(logging.NOTSET)


def _clean(tmp_path, *options: str) -> int:
    args = ["clean", "--engine", "pipe", "--spec", str(SPEC), "--input", str(MESSY)]
    return main([*options, *args, "--output", str(tmp_path / "out")])


def test_default_shows_the_progress_lines_as_they_always_read(tmp_path, capsys):
    assert _clean(tmp_path) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["rows_clean"] == 13
    lines = err.splitlines()
    assert [re.fullmatch(r"\[pipe\] (\w+): done in \d+\.\ds", line)[1] for line in lines] == PASSES


def test_quiet_hides_progress_and_keeps_warnings_and_errors(tmp_path, capsys):
    log.configure(-1)
    logging.getLogger("mapreduce.runner").info("[pipe] count: done in 0.2s")
    logging.getLogger("sensorpipe.model.workflow").warning("conf/x.toml differs from the model's spec")
    assert capsys.readouterr().err == "sensorpipe: warning: conf/x.toml differs from the model's spec\n"
    missing = tmp_path / "nope.csv"
    code = main(
        ["-q", "clean", "--spec", str(SPEC), "--input", str(missing), "--output", str(tmp_path / "o")]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("sensorpipe: run failed: ") and "nope.csv" in err
    assert main(["-q", "validate-spec", str(tmp_path / "nope.toml")]) == 2
    assert capsys.readouterr().err.startswith(f"sensorpipe: {tmp_path / 'nope.toml'}: ")


def test_quiet_clean_prints_its_result_and_nothing_else(tmp_path):
    """A real `sensorpipe -q clean` process: no progress on stderr, the JSON counts on stdout."""
    cmd = [sys.executable, "-m", "sensorpipe.cli", "-q", "clean", "--engine", "pipe", "--spec", str(SPEC)]
    cmd += ["--input", str(MESSY), "--output", str(tmp_path / "out")]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, check=False, timeout=300)
    assert done.returncode == 0 and done.stderr == ""
    (line,) = done.stdout.splitlines()
    counts = json.loads(line)
    assert (counts["rows_in"], counts["rows_clean"], counts["rows_rejected"]) == (30, 13, 17)


def test_verbose_adds_debug_lines_with_time_level_and_logger(tmp_path, capsys):
    assert _clean(tmp_path, "-v") == 0
    err = capsys.readouterr().err.splitlines()
    stamp = r"\d\d:\d\d:\d\d\.\d\d\d"
    debug = rf"{stamp} DEBUG   mapreduce\.pipe: \[pipe\] validate: \d+ map tasks, 2 reduce tasks"
    assert any(re.fullmatch(debug, line) for line in err), err
    info = rf"{stamp} INFO    mapreduce\.runner: \[pipe\] validate: done in \d+\.\ds"
    assert any(re.fullmatch(info, line) for line in err), err


def test_json_lines_carry_the_fields_and_the_extras(tmp_path, capsys):
    assert _clean(tmp_path, "--log-format", "json") == 0
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [r["step"] for r in records] == PASSES
    first = records[0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["ts"])
    assert (first["level"], first["logger"], first["engine"]) == ("INFO", "mapreduce.runner", "pipe")
    assert re.fullmatch(r"\[pipe\] count: done in \d+\.\ds", first["message"])
    assert first["seconds"] >= 0


def test_json_record_with_an_exception():
    record = logging.LogRecord("jobs.score", logging.ERROR, __file__, 1, "model %s failed", ("v3",), None)
    try:
        raise ValueError("bad bytes")
    except ValueError:
        record.exc_info = sys.exc_info()
    record.model = "v3"
    doc = json.loads(log.JsonFormatter().format(record))
    assert (doc["level"], doc["logger"], doc["message"], doc["model"]) == (
        "ERROR",
        "jobs.score",
        "model v3 failed",
        "v3",
    )
    assert doc["exc"].splitlines()[-1] == "ValueError: bad bytes"


def test_the_choice_reaches_a_spark_entry_point_through_the_environment(tmp_path, capsys):
    from sensorpipe.spark.launch import spark_env  # noqa: PLC0415

    assert main(["-q", "--log-format", "json", "validate-spec", str(SPEC)]) == 0
    env = spark_env()  # what spark-submit and so the job's driver get
    assert (env["SENSORPIPE_LOG_LEVEL"], env["SENSORPIPE_LOG_FORMAT"]) == ("WARNING", "json")
    _reset()  # as in the child: nothing configured but the environment
    capsys.readouterr()

    import jobs.clean  # noqa: PLC0415

    assert jobs.clean.main(["--spec", str(tmp_path / "nope.toml"), "--input", "x", "--output", "y"]) == 2
    logging.getLogger("jobs.clean").info("hidden: -q")
    logging.getLogger("jobs.clean").warning("shown")
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("sensorpipe: ")  # the error line stays plain text, whatever the format
    (shown,) = [json.loads(line) for line in err[1:]]
    assert (shown["level"], shown["logger"], shown["message"]) == ("WARNING", "jobs.clean", "shown")


def test_the_environment_is_read_when_no_option_is_given(monkeypatch):
    monkeypatch.setenv(log.LEVEL_ENV, "debug")
    monkeypatch.setenv(log.FORMAT_ENV, "json")
    log.configure()
    assert logging.getLogger("streaming").getEffectiveLevel() == logging.DEBUG
    assert logging.getLogger("py4j").getEffectiveLevel() == logging.WARNING  # not ours: stays quiet
    log.configure(0, "text")  # options win over the environment, and are passed on
    assert logging.getLogger("streaming").getEffectiveLevel() == logging.INFO
    assert (os.environ[log.LEVEL_ENV], os.environ[log.FORMAT_ENV]) == ("INFO", "text")


# A stand-in for `sensorpipe` running spark-submit, whose PythonRunner joins the Python driver's
# stderr to its stdout; argv[1]: whether it names its stderr to the job (as launch.run_spark does).
SUBMIT_LIKE = """
import os, subprocess, sys
from sensorpipe.core import log
if sys.argv[1] == "named":
    os.environ[log.STDERR_ENV] = log.stderr_for_child()
print("before", file=sys.stderr, flush=True)
job = "import logging; from sensorpipe.core import log; log.configure(); "
job += "logging.getLogger('jobs.clean').info('[spark] clean/: 13 rows'); print('{}')"
done = subprocess.run([sys.executable, "-c", job], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
sys.stdout.buffer.write(done.stdout)
print("after", file=sys.stderr, flush=True)
"""


def _submit_like(how: str, stderr) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-c", SUBMIT_LIKE, how]
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=stderr, env=env, timeout=120, check=True)


def test_a_jobs_log_lines_reach_the_stderr_of_the_process_that_submitted_it(tmp_path):
    done = _submit_like("named", subprocess.PIPE)
    assert (done.stdout, done.stderr) == (b"{}\n", b"before\n[spark] clean/: 13 rows\nafter\n")
    # to a file opened without append (`2> err.log`): in order, none written over another
    with open(tmp_path / "err.log", "wb") as err:
        done = _submit_like("named", err)
    assert done.stdout == b"{}\n"
    assert (tmp_path / "err.log").read_bytes() == b"before\n[spark] clean/: 13 rows\nafter\n"
    done = _submit_like("unnamed", subprocess.PIPE)  # what spark-submit alone does
    assert (done.stdout, done.stderr) == (b"[spark] clean/: 13 rows\n{}\n", b"before\nafter\n")


def test_only_an_ancestors_stderr_is_taken():
    other = subprocess.Popen(["sleep", "60"])  # a sibling: in a cluster container a pid is anyone's
    try:
        assert log.reattach_stderr(f"/proc/{other.pid}/fd/2") is False
    finally:
        other.kill()
        other.wait()
    assert log.reattach_stderr("/dev/stderr") is False
    assert log.reattach_stderr("") is False


def test_announce_shows_its_info_line_even_with_quiet(capsys):
    stream = logging.getLogger("streaming.score_stream")
    log.configure(-1)
    stream.info("batch 3: 25 events in 0.4 s")  # hidden by -q
    log.announce(stream, "sensorpipe: stream stopped after %d batches", 3)
    assert capsys.readouterr().err == "sensorpipe: stream stopped after 3 batches\n"
    log.configure(-1, "json")
    log.announce(stream, "sensorpipe: stream stopped after %d batches", 3)
    doc = json.loads(capsys.readouterr().err)
    assert (doc["level"], doc["message"]) == ("INFO", "sensorpipe: stream stopped after 3 batches")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_spark_jobs_progress_is_on_stderr_and_its_result_on_stdout(tmp_path):
    """A real spark-submit'd clean: its driver's log lines on the command's stderr, not stdout."""
    cmd = [sys.executable, "-m", "sensorpipe.cli", "clean", "--engine", "spark", "--spec", str(SPEC)]
    cmd += ["--input", str(MESSY), "--output", str(tmp_path / "out")]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, check=False, timeout=540)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout == (
        "{'engine': 'spark', 'rows_in': 30, 'rows_clean': 13, 'rows_rejected': 17, 'seconds': "
        + done.stdout.rsplit("'seconds': ", 1)[1]  # the one figure not known in advance
    )
    assert len(done.stdout.splitlines()) == 1
    progress = [line.split(" (")[0] for line in done.stderr.splitlines() if line.startswith("[spark]")]
    assert progress == [
        "[spark] input read: 35 lines",  # physical lines: a_messy.csv 31 (no newline at its end), 3, 0, 1
        "[spark] stats: 30 rows in",
        "[spark] clean/: 13 rows",
        "[spark] rejects/: 17 rows",
    ]
