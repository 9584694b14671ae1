"""The stream's warm-up scratch directory (streaming/warmup.py) is named after the driver's pid,
so one a kill -9 left behind is deleted at the next start, and a running driver's is kept."""

from __future__ import annotations

import os
import subprocess

from streaming.warmup import SCRATCH, pid_alive, stale_scratch


def test_only_the_directories_of_gone_drivers_are_stale():
    names = [
        "sensorpipe-warm-up-101-k2j4x_a",  # pid 101 is gone: stale
        "sensorpipe-warm-up-202-q8z0p1mm",  # pid 202 runs: kept
        "sensorpipe-warm-up-303-aa-bb",  # gone; mkdtemp's part may hold a dash: stale
        "sensorpipe-warm-up-x1y2z3w4",  # an older directory without a pid: left alone
        "sensorpipe-warm-up-404",  # no dash after the pid: not one of ours, left alone
        "other-303-dir",  # not a warm-up directory
    ]
    alive = {202}.__contains__
    assert stale_scratch(names, alive) == ["sensorpipe-warm-up-101-k2j4x_a", "sensorpipe-warm-up-303-aa-bb"]
    assert SCRATCH == "sensorpipe-warm-up-"


def test_a_finished_process_is_gone_and_this_one_is_alive():
    done = subprocess.Popen(["true"])
    done.wait()  # reaped: its pid is free (reuse within this test is not expected)
    assert pid_alive(done.pid) is False
    assert pid_alive(os.getpid()) is True
