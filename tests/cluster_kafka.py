"""The session's Kafka broker (KRaft, one node: harness/kafka_broker.py)."""

from __future__ import annotations

import pytest

from harness.kafka_broker import Broker, running_kafka


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory) -> Broker:
    """A formatted, running broker; killed (with its process group) at teardown."""
    with running_kafka(tmp_path_factory.mktemp("kafka")) as broker:
        yield broker
