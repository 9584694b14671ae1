"""Kill -9 the streaming job again and again while events keep landing, and give back what
exactly-once is judged on: the killed run's sinks, one uninterrupted run's over the same
events, and the keys of the valid events fed (`run_with_kills` -> FaultRun;
bench/stream_faults.py and tests/test_stream_faults.py drive it, the first longer and with
more kills, and each makes its own comparisons).
"""

from __future__ import annotations

import json
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness.paths import SPEC
from harness.stream_job import Job, batches, snapshot, wait_for, wait_more
from sensorpipe.core.spec import load_spec
from sensorpipe.sim.feed import EventStream
from sensorpipe.sim.kafka import Sender, producer
from sensorpipe.sim.landing import Landing
from sensorpipe.sim.text import Rates, device_names
from sensorpipe.store.sinks import read_frame
from streaming.source import kafka_input

# faults whose outcome does not depend on where batches begin: no late readings
RATES = Rates(missing=0.002, malformed=0.002, stuck=0.002, spike=0.001, duplicate=0.002, late=0.0)
KEY = ["device_id", "ts"]
TS = re.compile(rb'"ts":"([^"]*)"')


def read_sink(out: Path, sink: str) -> pd.DataFrame:
    frame = read_frame(out / sink)  # the files the sink's manifest names
    if len(frame):
        ts = pd.to_datetime(frame["ts"])
        frame["ts"] = ts.dt.tz_convert("UTC").dt.tz_localize(None) if ts.dt.tz else ts
    return frame


def valid_keys(landing: Path) -> set[tuple[str, pd.Timestamp]]:
    """(device_id, ts) of every line that is a JSON object with both, computed from the files
    alone: what the spec accepts of this feed (no late readings; a duplicate counts once)."""
    keys = set()
    for path in sorted(landing.glob("events-*.jsonl")):
        for line in path.read_text(errors="replace").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if not isinstance(row, dict) or row.get("device_id") is None or row.get("ts") is None:
                continue
            ts = row["ts"]
            stamp = pd.Timestamp(ts, unit="s") if isinstance(ts, int) else pd.Timestamp(ts).tz_localize(None)
            keys.add((row["device_id"], stamp))
    return keys


def steps(data: bytes) -> list[bytes]:
    """data's lines cut where the event time moves on; a line with no readable ts (a broken
    one) stays with the lines before it."""
    out, current, ts = [], [], None
    for line in data.splitlines(keepends=True):
        found = TS.search(line)
        if found and found.group(1) != ts and current:
            out.append(b"".join(current))
            current = []
        ts = found.group(1) if found else ts
        current.append(line)
    return out + [b"".join(current)] if current else out


def tick(devices: int, when: pd.Timestamp) -> bytes:
    return "".join(
        json.dumps({"device_id": d, "ts": when.strftime("%Y-%m-%dT%H:%M:%SZ")}) + "\n"
        for d in device_names(devices)
    ).encode()


@dataclass
class FaultRun:
    """A run_with_kills run's data, compared by its caller. Timestamps are naive UTC."""

    events_written: int  # lines fed, the two tick files' included
    valid: set[tuple[str, pd.Timestamp]]  # (device_id, ts) of every valid event fed, from the files alone
    last_ts: pd.Timestamp  # the newest event fed before the ticks (one per device, 1 and 2 days later)
    scored: pd.DataFrame  # the killed run's scored/
    reference_scored: pd.DataFrame  # the uninterrupted reference's
    alerts: pd.DataFrame  # alerts/, sorted by device_id, ts, episode
    reference_alerts: pd.DataFrame
    quarantine: list[tuple[str, str]]  # (reason, raw line) of every quarantined line, sorted
    reference_quarantine: list[tuple[str, str]]
    kills: int
    restarts: int
    seconds_with_kills: float
    total_seconds: float


def run_with_kills(
    work: Path, model: Path, kills: int, seconds: float, devices: int = 6, per_file: int = 60,
    seed: int = 0, timeout: float = 900.0, echo=print, kafka: tuple[str, str] | None = None,
    confs: dict | None = None, reference=None,
) -> FaultRun:  # fmt: skip
    """Feed, kill and restart `kills` times over about `seconds`, drain, run the reference.

    kafka = (bootstrap, topic): each file's events are also published to the topic (keyed by
    device, acknowledged before the next step) and the job and the reference read the topic;
    the landing directory then only records what was fed. confs: Spark properties for the
    killed job and its drain (not the reference), e.g. to make the sinks compact often.
    reference(landing, ref): runs the uninterrupted reference over the files fed, into ref, while
    the drain runs (e.g. in a SparkSession the caller has); default: a spark-submit of the job."""
    started = time.monotonic()
    rng = random.Random(seed)
    landing, out, ref, log = work / "landing", work / "out", work / "reference", work / "job.log"
    landing.mkdir(parents=True)
    inbox = Landing(landing)  # events-000000.jsonl on, each mtime after the one before
    code = snapshot(work / "code")
    stream = EventStream(load_spec(SPEC), devices, seed=seed, rates=RATES)
    source = kafka_input(*kafka) if kafka else landing
    sender = Sender(producer(kafka[0]), kafka[1]) if kafka else None

    def put(data: bytes) -> None:
        inbox.put(data)
        for step in steps(data) if sender else ():
            sender.send(step)
            sender.producer.flush(30)

    def feed(n_files: int) -> None:
        for _ in range(n_files):
            put(stream.take(per_file))

    feed(2)
    job, restarts = Job.start(SPEC, model, source, out, log, code=code, confs=confs), 0
    pause = seconds / (kills + 1)
    try:
        for k in range(kills):
            feed(1)
            wait_more(out, "commits", job, timeout)  # progress since this (re)start
            feed(1 + rng.randrange(3))
            if rng.random() < 0.5:  # while a batch is planned and not committed
                wait_more(out, "offsets", job, timeout)
                when, delay = "in batch", rng.uniform(0, 1.5)
            else:
                when, delay = "anytime", rng.uniform(0, pause)
            deadline = time.monotonic() + delay
            wait_for(lambda t=deadline: time.monotonic() >= t, delay + 1, "the kill moment", job)
            state = (batches(out, "offsets"), batches(out, "commits"))
            job.kill()
            echo(f"kill {k + 1}/{kills} ({when}, +{delay:.1f} s): offsets {state[0]}, commits {state[1]}")
            feed(1)
            if k < kills - 1:  # after the last kill, the drain below is the restart
                job, restarts = Job.start(SPEC, model, source, out, log, code=code, confs=confs), restarts + 1
    finally:
        job.kill()
    last_ts = max(ts for _, ts in valid_keys(landing))
    put(tick(devices, last_ts + pd.Timedelta(days=1)))
    put(tick(devices, last_ts + pd.Timedelta(days=2)))
    if sender:
        sender.close()
        sender = None  # librdkafka's threads go with the producer (else they outlive the broker)
    # the killed run restarted from its checkpoint to drain, and the uninterrupted reference over
    # the files fed (also for a Kafka run: its reference reads the same events from the files)
    drain = Job.start(SPEC, model, source, out, log, live=False, code=code, max_files=None, confs=confs)
    restarts += 1
    jobs = [drain]
    try:
        if reference is None:  # its own spark-submit, side by side with the drain
            ref_log = work / "reference.log"
            jobs.append(Job.start(SPEC, model, landing, ref, ref_log, live=False, code=code, max_files=None))
        else:
            reference(landing, ref)
        assert drain.wait(timeout) == 0, log.read_text(errors="replace")[-3000:]
        faulted = time.monotonic() - started
        for j in jobs[1:]:
            assert j.wait(timeout) == 0, j.log.read_text(errors="replace")[-3000:]
    finally:  # a failed or timed-out wait leaves no job running
        for j in jobs:
            if j.proc.poll() is None:
                j.kill()
    return FaultRun(
        events_written=sum(p.read_bytes().count(b"\n") for p in landing.glob("events-*.jsonl")),
        valid={k for k in valid_keys(landing) if k[1] <= last_ts},
        last_ts=last_ts,
        scored=read_sink(out, "scored"),
        reference_scored=read_sink(ref, "scored"),
        alerts=_by_key(read_sink(out, "alerts")),
        reference_alerts=_by_key(read_sink(ref, "alerts")),
        quarantine=quarantined(out),
        reference_quarantine=quarantined(ref),
        kills=kills,
        restarts=restarts,
        seconds_with_kills=round(faulted, 1),
        total_seconds=round(time.monotonic() - started, 1),
    )


def quarantined(out: Path) -> list[tuple[str, str]]:
    """(reason, raw line) of every quarantined line, sorted (where a line came from differs:
    a file and line, or a topic partition and offset)."""
    q = read_sink(out, "quarantine")
    return sorted(zip(q["reason"], q["raw"])) if len(q) else []


def _by_key(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values([*KEY, "episode"]).reset_index(drop=True) if len(frame) else frame
