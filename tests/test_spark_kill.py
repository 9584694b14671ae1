"""A batch Spark command dies with its CLI: kill -9 of `sensorpipe clean --engine spark` takes
spark-submit's JVM and the job's Python driver with it (sensorpipe/spark/launch.py run_spark,
die_with_parent in jobs/*.py), as tests/test_stream_stop.py checks for the stream."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from test_stream_stop import descendants, running

from conftest import ROOT
from harness.stream_job import wait_for

SPEC = ROOT / "tests" / "data" / "messy.toml"
MESSY = ROOT / "tests" / "data" / "messy"  # 4 files, 30 rows: small, but still to count, fit and write
STARTED = "[spark] 4 input file(s)"  # the driver's debug line before its first Spark pass (jobs/clean.py)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_batch_job_dies_with_a_killed_cli(tmp_path):
    cmd = [sys.executable, "-m", "sensorpipe.cli", "clean", "--engine", "spark", "--spec", str(SPEC)]
    cmd += ["--input", str(MESSY), "--output", str(tmp_path / "out")]
    env = {**os.environ, "SENSORPIPE_LOG_LEVEL": "DEBUG"}
    err = tmp_path / "clean.err"
    with err.open("wb") as sink:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=sink, cwd=tmp_path, env=env)
    try:
        wait_for(
            lambda: STARTED in err.read_text() or proc.poll() is not None, 540, "the driver's first line"
        )
        job = descendants(proc.pid)
        assert proc.poll() is None, err.read_text()[-3000:]
        assert len(job) >= 2  # spark-submit's JVM and the Python driver at least
        proc.kill()
        proc.wait(30)
        wait_for(lambda: not any(map(running, job)), 30, f"the job's processes {sorted(job)} to end")
        # the driver dies with its JVM without a word: the lost connections it may see before its
        # SIGKILL lands print nothing (quiet_when_jvm_ends; a clean-clone CI run once caught a
        # cut-off traceback there, before it)
        assert "Traceback" not in err.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
