"""Kill -9 the streaming job at random moments while events keep arriving, in a landing
directory and on a Kafka topic (two runs side by side), restart it from its checkpoint each
time, drain it: scored/ holds each valid event once, and alerts/ and the quarantine equal one
uninterrupted run's over the same events read from files (harness/faults.py drives it;
longer runs: bench/stream_faults.py). For the Kafka run that reference also shows that the job reads
a topic as it reads a landing directory: the same scores, alerts and quarantined lines."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.faults import run_with_kills
from harness.models import make_model


@pytest.mark.slow
@pytest.mark.cluster
def test_kill_9_loses_nothing_and_duplicates_nothing(kafka_broker, tmp_path):
    make_model(tmp_path / "model")
    topic = kafka_broker.create_topic("faults", partitions=2)
    runs = {"landing": dict(seed=7), "kafka": dict(seed=11, kafka=(kafka_broker.bootstrap, topic))}
    with ThreadPoolExecutor(len(runs)) as pool:
        futures = {
            name: pool.submit(
                run_with_kills,
                tmp_path / name,
                tmp_path / "model",
                kills=3,
                seconds=10,
                devices=6,
                echo=lambda msg, name=name: print(f"{name}: {msg}"),
                **kw,
            )  # fmt: skip
            for name, kw in runs.items()
        }
        results = {name: f.result() for name, f in futures.items()}
    for name, r in results.items():
        why = (name, r["quarantine reasons"], r["reference quarantine reasons"])
        assert r["kills"] == 3 and r["restarts"] == 3, name
        assert r["duplicates"] == 0, why
        assert r["missing"] == 0 and r["unexpected"] == 0, why
        assert r["same as reference"] and r["scored"] == r["reference scored"], name
        alerts, reference = r["alert rows"]
        assert len(reference) > 0, f"{name}: the reference raised no alert: the comparison would be empty"
        assert r["alerts equal"], (name, alerts, reference)
        assert r["quarantine equal"], name
