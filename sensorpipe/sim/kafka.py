"""`sensorpipe simulate --kafka BOOTSTRAP --topic T`: the simulator's JSON events published to
a Kafka topic at a given rate, one event a message (confluent-kafka's producer).

Messages are keyed by device id, so one device's events stay in order in one partition; a
line too broken to show its device goes without a key. The pacing is run_stream's: the
events of each interval are sent at its end, rate * interval of them.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator

DEVICE = re.compile(rb'"device_id":"([^"]*)"')


def messages(data: bytes) -> Iterator[tuple[bytes | None, bytes]]:
    """(key, value) of each JSON line of a batch of events."""
    for line in data.splitlines():
        if line:
            found = DEVICE.search(line)
            yield (found.group(1) if found else None), line


class OptionError(ValueError):
    """A --kafka-option the producer refuses (an unknown property, a bad value): a usage error."""


def producer(bootstrap: str, options: dict | None = None):
    """An idempotent producer (no duplicates on retry) that gives up on a message after 30 s;
    options (--kafka-option: librdkafka properties, e.g. security.protocol, compression.type)
    are added to that configuration, or replace its values."""
    from confluent_kafka import KafkaException, Producer  # noqa: PLC0415 (only this subcommand needs it)

    config = {"enable.idempotence": True, "linger.ms": 20, "message.timeout.ms": 30000}
    config.update(options or {})
    try:
        return Producer({**config, "bootstrap.servers": bootstrap})
    except KafkaException as exc:
        given = " ".join(f"{k}={v}" for k, v in (options or {}).items())
        raise OptionError(f"--kafka-option {given}: {exc.args[0].str()}") from None


class Sender:
    """Hands messages to a producer and counts what the broker acknowledged."""

    def __init__(self, producer, topic: str):
        self.producer, self.topic = producer, topic
        self.delivered, self.errors = 0, []

    def _done(self, err, _msg) -> None:
        if err is None:
            self.delivered += 1
        else:
            self.errors.append(str(err))

    def send(self, data: bytes) -> int:
        n = 0
        for key, value in messages(data):
            while True:
                try:
                    self.producer.produce(self.topic, value, key, on_delivery=self._done)
                    break
                except BufferError:  # the local queue is full: let deliveries drain it
                    self.producer.poll(0.5)
            n += 1
        self.producer.poll(0)
        return n

    def close(self, timeout: float = 60.0) -> None:
        """Wait for every acknowledgement; a message the broker never took is an error."""
        left = self.producer.flush(timeout)
        if left or self.errors:
            raise RuntimeError(
                f"kafka: {left + len(self.errors)} events not delivered to {self.topic!r}"
                + (f" (first error: {self.errors[0]})" if self.errors else "")
            )


def run_kafka(
    events,
    bootstrap: str,
    topic: str,
    rate: float,
    duration: float | None = None,
    interval: float = 1.0,
    echo=None,
    clock=time.monotonic,
    sleep=time.sleep,
    make_producer=producer,
    options: dict | None = None,
) -> dict:
    """Publish rate * interval events of `events` (a feed.EventStream) at the end of each
    interval, for `duration` seconds or until Ctrl-C; return when the broker has them all.
    options: the producer's --kafka-option properties."""
    sender = Sender(make_producer(bootstrap, options), topic)
    started, k, sent = clock(), 0, 0
    try:
        while duration is None or k * interval < duration - 1e-9:
            n = math.floor((k + 1) * rate * interval) - math.floor(k * rate * interval)
            data = events.take(n)
            if not data and getattr(events, "done", False):
                break  # a finite source (a replay) has run out
            k += 1
            wait = started + k * interval - clock()
            if wait > 0:
                sleep(wait)
            sent += sender.send(data)
            if echo and k % 60 == 0:
                echo(f"simulate: {sent:,} events to {topic}")
    except KeyboardInterrupt:  # Ctrl-C ends the stream; what was handed over is still delivered
        if echo:
            echo(f"simulate: stopped after {sent:,} events")
    sender.close()
    return {"events": sent, "delivered": sender.delivered, "seconds": clock() - started}
