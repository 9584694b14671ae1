"""`sensorpipe stream` as an operator runs it: a real process over a landing directory that the
simulator feeds, its Prometheus endpoint scraped while it runs, its metrics.jsonl counting
events, and stopped by SIGINT (a Ctrl-C: the signal to its process group) or SIGTERM (to
the process): one line, no traceback, exit 0, and what it committed readable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta

import pytest

from conftest import ROOT
from harness.daemons import free_port
from harness.models import make_model
from harness.stream_job import scrape, start_cli, wait_for
from sensorpipe.cli import main as cli
from sensorpipe.sim.landing import Landing
from sensorpipe.store.sinks import read_frame

BAD = [  # the hand-written bad lines: 2 malformed_row, 1 missing_required, 1 invalid_value
    '{"device_id":"dev-00000","ts":"2026-11-01T00:01:00Z","temperature":6',
    "[1, 2]",
    '{"device_id":"dev-00001"}',
    '{"device_id":"dev-00002","ts":"yesterday"}',
]


@pytest.fixture
def setup(tmp_path):
    """A model, and the fleet's spec with a zero watermark: no event waits for a later one, so
    every line written is scored or quarantined once the stream has caught up. At teardown, a
    stream a failed test left running gets three SIGTERMs (the third kills its job's group)."""
    make_model(tmp_path / "model")
    spec = tmp_path / "spec.toml"
    spec.write_text((ROOT / "conf" / "sensors.toml").read_text() + '\n[stream]\nwatermark = "0 seconds"\n')
    yield tmp_path, spec
    for proc in STARTED.pop(tmp_path, []):
        for _ in range(3 if proc.poll() is None else 0):
            proc.send_signal(signal.SIGTERM)
        proc.wait(60)


STARTED: dict = {}  # tmp_path -> the streams a test started


def simulate(spec, landing, start: str, seconds: float) -> int:
    """5 devices at 50 events/s, a file every 0.5 s: 25 events a file, 50 a second."""
    argv = ["simulate", "--spec", str(spec), "--devices", "5", "--clean", "--start", start]
    argv += ["--rate", "50", "--file-interval", "0.5", "--duration", str(seconds), "--stream", str(landing)]
    return cli(argv)


def stream(tmp_path, spec, port: int | None = None):
    args = ["--spec", str(spec), "--model", str(tmp_path / "model"), "--input", str(tmp_path / "landing")]
    args += ["--output", str(tmp_path / "out")]  # the job's default trigger (250 ms), through the CLI
    args += ["--metrics-port", str(port)] if port else []
    proc = start_cli(args, tmp_path / "stream.log")
    STARTED.setdefault(tmp_path, []).append(proc)
    return proc


def stopped(proc, log, sig, group: bool) -> str:
    """Send `sig` (to the process group, as a terminal's Ctrl-C, or to the process), wait; the log."""
    if group:
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    assert proc.wait(300) == 0
    return log.read_text()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_prometheus_counts_the_events_written_and_sigint_stops_cleanly(setup):
    tmp_path, spec = setup
    landing = tmp_path / "landing"
    assert simulate(spec, landing, "2026-11-01T00:00:00Z", 2) == 0  # 100 events in 4 files
    Landing(landing).put(("\n".join(BAD) + "\n").encode())
    port = free_port()
    proc = stream(tmp_path, spec, port)

    def caught_up():
        if proc.poll() is not None:
            raise AssertionError(f"stream exited {proc.returncode}:\n{(tmp_path / 'stream.log').read_text()}")
        got = scrape(port)
        return got if got and got["sensorpipe_stream_events_total"] == 104 else None

    wait_for(caught_up, 600, "the stream to read the 104 lines")
    got = scrape(port)
    assert got["sensorpipe_stream_scored_total"] == 100
    assert {k: v for k, v in got.items() if k.startswith("sensorpipe_stream_quarantined_total")} == {
        'sensorpipe_stream_quarantined_total{reason="malformed_row"}': 2,
        'sensorpipe_stream_quarantined_total{reason="missing_required"}': 1,
        'sensorpipe_stream_quarantined_total{reason="invalid_value"}': 1,
        'sensorpipe_stream_quarantined_total{reason="duplicate_key"}': 0,
        'sensorpipe_stream_quarantined_total{reason="late"}': 0,
    }
    assert got["sensorpipe_stream_event_commit_latency_seconds_count"] == 100
    assert got["sensorpipe_stream_batches_total"] >= 1
    for gauge in ("last_batch_duration_seconds", "watermark_seconds", "state_rows", "state_bytes"):
        assert f"sensorpipe_stream_{gauge}" in got
    assert 'sensorpipe_stream_last_batch_latency_seconds{quantile="0.5"}' in got

    log = stopped(proc, tmp_path / "stream.log", signal.SIGINT, group=True)
    assert "Traceback" not in log
    assert "falling behind" not in log  # every batch outlasts the 250 ms trigger (conf/log4j2.properties)
    said = [line for line in log.splitlines() if "stream stopped" in line]
    assert said == [f"sensorpipe: stream stopped after {batches_in(tmp_path)} batches"]
    lines = [
        json.loads(x)["sensorpipe"] for x in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()
    ]
    assert sum(x["events"] for x in lines) == 104  # events, not the 5 files
    assert sum(x["scored"] for x in lines) == 100
    by_reason = {}
    for x in lines:
        for reason, n in x["quarantined_by_reason"].items():
            by_reason[reason] = by_reason.get(reason, 0) + n
    assert by_reason == {"malformed_row": 2, "missing_required": 1, "invalid_value": 1}
    assert {"batch_seconds", "watermark", "state_rows", "state_bytes", "alerts"} <= set(lines[0])
    # committed_at (our clock, when the sinks named the batch) falls within Spark's span of the batch
    docs = [json.loads(x) for x in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    committed = [d for d in docs if "committed_at" in d["sensorpipe"]]  # not a batch the stop cut short
    assert len(committed) >= len(docs) - 1
    for doc in committed:
        start = datetime.fromisoformat(doc["timestamp"])
        end = start + timedelta(milliseconds=doc["durationMs"]["triggerExecution"])
        assert start <= datetime.fromisoformat(doc["sensorpipe"]["committed_at"]) <= end
    assert len(read_frame(tmp_path / "out" / "scored")) == 100
    assert len(read_frame(tmp_path / "out" / "quarantine")) == 4


def batches_in(tmp_path) -> int:
    return len((tmp_path / "out" / "metrics.jsonl").read_text().splitlines())


def events_read(tmp_path) -> int:
    path = tmp_path / "out" / "metrics.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return sum(json.loads(x)["sensorpipe"]["events"] for x in lines)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_sigterm_after_a_live_feed_stops_cleanly_and_keeps_the_sinks_whole(setup):
    tmp_path, spec = setup
    landing = tmp_path / "landing"
    landing.mkdir()
    proc = stream(tmp_path, spec)
    # the simulator feeds it as it starts: 300 events, 25 a file
    argv = ["simulate", "--spec", str(spec), "--devices", "5", "--clean", "--start", "2026-11-01T00:00:00Z"]
    argv += ["--rate", "50", "--file-interval", "0.5", "--duration", "6", "--stream", str(landing)]
    feed = subprocess.Popen(
        [sys.executable, "-m", "sensorpipe.cli", *argv], cwd=ROOT, stderr=subprocess.DEVNULL
    )
    assert feed.wait(120) == 0
    wait_for(lambda: events_read(tmp_path) == 300 or proc.poll() is not None, 600, "the 300 events read")
    log = stopped(proc, tmp_path / "stream.log", signal.SIGTERM, group=False)  # to the CLI only
    assert "Traceback" not in log
    assert [line for line in log.splitlines() if "stream stopped" in line] == [
        f"sensorpipe: stream stopped after {batches_in(tmp_path)} batches"
    ]
    scored = read_frame(tmp_path / "out" / "scored")  # what the manifests name: whole batches
    assert len(scored) == 300 and not scored.duplicated(["device_id", "ts"]).any()
    assert len(read_frame(tmp_path / "out" / "quarantine")) == 0  # a clean feed
