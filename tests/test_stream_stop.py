"""`sensorpipe stream` stopped by a Ctrl-C while it is behind: batches back to back, a backlog
still to read. It ends at a batch boundary (the batch that starts after the signal writes nothing
and is replayed at the next start), exits 0, prints its one stop line even with -q and no
traceback, and a restart with --available-now scores or quarantines every line exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from harness.models import events, make_model
from harness.stream_job import batches, wait_for
from sensorpipe.sim.landing import Landing
from sensorpipe.store.sinks import read_frame

FILES, PER_FILE = 40, 25  # 1000 clean events of 5 devices, one file a batch (--max-files-per-trigger 1)
BAD = [  # one more file, in the middle: 2 malformed_row, 1 missing_required, 1 invalid_value
    '{"device_id":"dev-00000","ts":"2026-11-01T00:01:00Z","temperature":6',
    "[1, 2]",
    '{"device_id":"dev-00001"}',
    '{"device_id":"dev-00002","ts":"yesterday"}',
]


@pytest.fixture
def backlog(tmp_path):
    """A model, the fleet's spec with a zero watermark (no event waits for a later one) and a
    landing directory holding the 41 files before the stream starts."""
    make_model(tmp_path / "model")
    spec = tmp_path / "spec.toml"
    spec.write_text((ROOT / "conf" / "sensors.toml").read_text() + '\n[stream]\nwatermark = "0 seconds"\n')
    lines = events(5, FILES * PER_FILE).decode().splitlines(keepends=True)
    landing = Landing(tmp_path / "landing")
    for n in range(FILES):
        landing.put("".join(lines[n * PER_FILE : (n + 1) * PER_FILE]).encode())
        if n == FILES // 2:
            landing.put(("\n".join(BAD) + "\n").encode())
    procs: list[subprocess.Popen] = []
    yield tmp_path, spec, procs
    for proc in procs:  # a failed test's stream: three SIGTERMs (the third kills its job's group)
        for _ in range(3 if proc.poll() is None else 0):
            proc.send_signal(signal.SIGTERM)
        proc.wait(60)


def sensorpipe_stream(tmp_path, spec, *options: str, name: str) -> subprocess.Popen:
    """`sensorpipe -q stream ...` in a session of its own (a signal to its group is a Ctrl-C),
    stdout and stderr to separate files."""
    args = ["--spec", str(spec), "--model", str(tmp_path / "model"), "--input", str(tmp_path / "landing")]
    args += ["--output", str(tmp_path / "out"), *options]
    cmd = [sys.executable, "-m", "sensorpipe.cli", "-q", "stream", *args]
    with open(tmp_path / f"{name}.out", "wb") as out, open(tmp_path / f"{name}.err", "wb") as err:
        return subprocess.Popen(
            cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True
        )


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_sigint_while_behind_stops_at_a_batch_boundary_and_a_restart_scores_every_line_once(backlog):
    tmp_path, spec, procs = backlog
    out = tmp_path / "out"
    proc = sensorpipe_stream(tmp_path, spec, "--trigger", "1s", "--max-files-per-trigger", "1", name="first")
    procs.append(proc)
    wait_for(lambda: batches(out, "commits") >= 3 or proc.poll() is not None, 600, "3 batches committed")
    assert proc.poll() is None, (tmp_path / "first.err").read_text()
    os.killpg(proc.pid, signal.SIGINT)  # a Ctrl-C: the CLI's group (the job has a group of its own)
    assert proc.wait(300) == 0
    stdout, stderr = (tmp_path / "first.out").read_text(), (tmp_path / "first.err").read_text()
    committed = batches(out, "commits")
    assert committed < FILES + 1  # stopped while behind: files were still unread
    # back to back, the batch after the signal was planned (its offsets logged) and ended by the
    # guard before it wrote anything: the restart replays it
    assert batches(out, "offsets") == committed + 1
    for text in (stdout, stderr):
        for word in ("Traceback", "Py4J", "py4j", "Exception", "interrupted", "ERROR"):
            assert word not in text, f"{word} in:\n{text}"
    metrics = (out / "metrics.jsonl").read_text().splitlines()
    assert len(metrics) == committed  # a progress line for each committed batch, none for the last planned
    assert [x for x in stderr.splitlines() if "stopped" in x] == [
        f"sensorpipe: stream stopped after {committed} batches"  # under -q too
    ]
    assert "stopped" not in stdout

    again = sensorpipe_stream(tmp_path, spec, "--available-now", name="again")
    procs.append(again)
    assert again.wait(600) == 0, (tmp_path / "again.err").read_text()
    # a restart under -q: Spark's once-a-query notes that it calls normal stay off the console
    # (conf/log4j2.properties), while its other warnings would still show; nor does a
    # deprecation of our own making (the two-argument ltrim, streaming/source.py)
    noise = (
        "doesn't exist in loadedMaps",
        "adaptive.enabled is not supported",
        "Disabling AQE",
        "deprecated",
    )
    assert not [x for x in (tmp_path / "again.err").read_text().splitlines() if any(n in x for n in noise)]
    scored = read_frame(out / "scored")
    assert len(scored) == 1000  # the 40 files' clean events, written by hand above: 40 x 25
    assert not scored.duplicated(["device_id", "ts"]).any()
    quarantine = read_frame(out / "quarantine")
    assert sorted(quarantine["reason"]) == [
        "invalid_value",
        "malformed_row",
        "malformed_row",
        "missing_required",
    ]


def descendants(pid: int) -> set[int]:
    """pid's descendants, from /proc (Linux): the JVM, the Python driver, pyspark's daemon and workers."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    out, todo = set(), list(children.get(pid, []))
    while todo:
        p = todo.pop()
        out.add(p)
        todo += children.get(p, [])
    return out


def running(pid: int) -> bool:
    """Alive and not a zombie (an exited child its parent has not reaped yet)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_job_dies_with_a_killed_cli(backlog):
    """kill -9 of `sensorpipe stream` (no handler runs) takes spark-submit and its Python driver
    with it, though they run in a process group of their own (sensorpipe/spark/stoppable.py)."""
    tmp_path, spec, procs = backlog
    proc = sensorpipe_stream(tmp_path, spec, "--trigger", "1s", "--max-files-per-trigger", "1", name="killed")
    procs.append(proc)
    wait_for(lambda: batches(tmp_path / "out", "commits") >= 1 or proc.poll() is not None, 600, "a batch")
    job = descendants(proc.pid)
    assert proc.poll() is None and len(job) >= 2  # spark-submit's JVM and the Python driver at least
    proc.kill()
    proc.wait(30)
    wait_for(lambda: not any(map(running, job)), 30, f"the job's processes {sorted(job)} to end")
    # the driver dies with its JVM (SIGKILL too): no py4j traceback of a lost gateway
    assert "Traceback" not in (tmp_path / "killed.err").read_text() + (tmp_path / "killed.out").read_text()
