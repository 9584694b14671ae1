"""`make demo`'s steps on a small configuration, and the pieces that keep it honest: the
comparison of two cleanings, and stopping a process tree that left its process group."""

import json
import os
import re
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from sensorpipe.demo.batch import compare_clean
from sensorpipe.demo.procs import Processes
from sensorpipe.demo.run import main as demo
from sensorpipe.demo.session import MARKER, StepFailed, prepare_out


def _clean(out, *parts):
    (out / "clean").mkdir(parents=True)
    for i, text in enumerate(parts):
        (out / "clean" / f"part-{i:05d}").write_text(text)
    return out


def test_compare_clean_sorts_rows_and_allows_float_noise(tmp_path):
    a = _clean(tmp_path / "a", "d1,2026-11-01T00:00:00Z,0.1\nd2,2026-11-01T00:00:00Z,,x\n")
    b = _clean(tmp_path / "b", "d2,2026-11-01T00:00:00Z,,x\n", "d1,2026-11-01T00:00:00Z,0.1000000000000001\n")
    assert compare_clean(a, b) == (2, 0)
    c = _clean(tmp_path / "c", "d1,2026-11-01T00:00:00Z,0.1001\nd2,2026-11-01T00:00:00Z,,x\n")
    assert compare_clean(a, c) == (2, 1)
    d = _clean(tmp_path / "d", "d1,2026-11-01T00:00:00Z,0.1\n")
    assert compare_clean(a, d) == (2, 1)


def test_prepare_out_empties_only_a_demo_directory(tmp_path):
    mine = tmp_path / "mine"
    prepare_out(mine)
    (mine / "old.txt").write_text("from the last run")
    assert [p.name for p in prepare_out(mine).iterdir()] == [MARKER]
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "keep.txt").write_text("not the demo's")
    with pytest.raises(StepFailed, match="not a demo output directory"):
        prepare_out(theirs)
    assert (theirs / "keep.txt").exists()


# A child that, like pyspark's daemon, moves to a process group of its own, then sleeps.
TREE = """
import os, subprocess, sys, time
code = "import os, time; os.setpgid(0, 0); print(os.getpid(), flush=True); time.sleep(600)"
child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
print(child.stdout.readline().strip(), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:  # a zombie is gone, only not yet reaped by init
        return fh.read().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="the process tree is read from /proc")
def test_stop_all_ends_every_group_of_the_tree(tmp_path):
    lines = []
    procs = Processes(echo=lines.append)
    proc = procs.start("tree", [sys.executable, "-c", TREE])
    deadline = time.monotonic() + 30
    while not lines and time.monotonic() < deadline:
        time.sleep(0.05)
    grandchild = int(lines[0].split("|")[1])
    assert os.getpgid(grandchild) != proc.pid  # out of the group that was started
    procs.stop_all(grace=2.0)
    assert proc.returncode is not None and not procs.live
    deadline = time.monotonic() + 10
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)


@pytest.mark.slow
def test_demo_small(tmp_path, capsys):
    """12 machines, 20 days at a reading per 30 minutes (seed 3: failures on both sides of
    the device split), an 8-second feed of 8 days of event time (576 events/s), judged
    against its truth at the end."""
    out = tmp_path / "demo"
    small = ["--devices", "12", "--days", "20", "--interval-s", "1800", "--seed", "3"]
    assert demo(["--out", str(out), *small, "--stream-seconds", "8", "--feed-days", "8"]) == 0
    printed = capsys.readouterr().out
    assert "Hadoop Streaming and Spark agree on every clean row" in printed and ": yes" in printed
    for n in range(1, 7):
        assert f"[{n}/6]" in printed
    reports = {e: json.loads((out / f"clean-{e}" / "report.json").read_text()) for e in ("hadoop", "spark")}
    assert reports["hadoop"]["rows_in"] == reports["spark"]["rows_in"] > 12 * 20 * 48  # duplicates add rows
    assert reports["hadoop"]["rows_clean"] == reports["spark"]["rows_clean"]
    assert (out / "model" / "current").exists()
    parts = (out / "stream" / "scored").glob("batch-*.parquet")
    assert sum(pq.ParquetFile(p).metadata.num_rows for p in parts) > 0
    assert (out / "report.html").stat().st_size > 10_000
    assert f"Open the report: {out / 'report.html'}" in printed
    assert "576 events/s for 8 s: 8.0 days of event time" in printed
    live = r"live, judged against the feed's truth: \d+ of \d+ failures caught \(.*\), median lead .*; \d+ false of"
    assert re.search(live, printed), printed[-2000:]
    assert (out / "landing" / "_truth" / "failures.csv").exists()
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<h3>Alerts judged per event</h3>" in page and "against the feed's truth: " in page
    leftovers = subprocess.run(
        ["pgrep", "-f", str(out)], check=False, capture_output=True, text=True, timeout=30
    )
    assert leftovers.stdout.split() == []
