"""Kill -9 the streaming job at random moments while events keep landing (in a directory, or
on a Kafka topic), restart it from its checkpoint each time, drain it; scored/ holds each
valid event once and alerts/ equals one uninterrupted run's (bench/stream_faults.py drives
it; longer runs: run that script)."""

from __future__ import annotations

import pytest

from bench.stream_faults import run_with_kills
from tests.stream_fixtures import make_model


@pytest.mark.slow
def test_kill_9_loses_nothing_and_duplicates_nothing(tmp_path):
    make_model(tmp_path / "model")
    r = run_with_kills(
        tmp_path / "run", tmp_path / "model", kills=3, seconds=20, devices=6, seed=7, echo=print
    )
    assert r["kills"] == 3 and r["restarts"] == 3
    assert r["duplicates"] == 0
    assert r["missing"] == 0 and r["unexpected"] == 0
    assert r["same as reference"] and r["scored"] == r["reference scored"]
    alerts, reference = r["alert rows"]
    assert len(reference) > 0, "the reference raised no alert: the comparison would be empty"
    assert r["alerts equal"], (alerts, reference)


@pytest.mark.slow
@pytest.mark.cluster
def test_kill_9_on_kafka_loses_nothing_and_duplicates_nothing(kafka_broker, tmp_path):
    """The same on a real broker: the job reads the topic (offsets in its checkpoint)."""
    make_model(tmp_path / "model")
    topic = kafka_broker.create_topic("faults", partitions=2)
    r = run_with_kills(
        tmp_path / "run", tmp_path / "model", kills=3, seconds=20, devices=6, seed=11, echo=print,
        kafka=(kafka_broker.bootstrap, topic),
    )  # fmt: skip
    assert r["kills"] == 3 and r["restarts"] == 3
    assert r["duplicates"] == 0
    assert r["missing"] == 0 and r["unexpected"] == 0
    assert r["same as reference"] and r["scored"] == r["reference scored"]
    alerts, reference = r["alert rows"]
    assert len(reference) > 0, "the reference raised no alert: the comparison would be empty"
    assert r["alerts equal"], (alerts, reference)
