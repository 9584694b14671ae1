"""`sensorpipe simulate --kafka`: pacing and keys without a broker, then a real broker
(KRaft, tests/cluster_kafka.py) whose topic Spark's Kafka source reads back in batch."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import ROOT
from sensorpipe.cli import main as cli
from sensorpipe.sim.kafka import messages, run_kafka
from sensorpipe.spark.launch import kafka_jars, spark_env, spark_submit_command
from streaming.source import source_options


class Producer:
    """confluent_kafka.Producer's calls that run_kafka makes; every message is acknowledged."""

    def __init__(self):
        self.sent, self.waiting = [], []

    def produce(self, topic, value, key, on_delivery):
        self.sent.append((topic, key, value))
        self.waiting.append(on_delivery)

    def poll(self, _timeout):
        return 0

    def flush(self, _timeout):
        for done in self.waiting:
            done(None, None)
        self.waiting = []
        return 0


class Lines:
    def take(self, n: int) -> bytes:
        return b"".join(b'{"device_id":"d%d","ts":1}\n' % (i % 2) for i in range(n))


def test_messages_are_keyed_by_device_and_broken_lines_have_no_key():
    data = b'{"device_id":"dev-00001","ts":"2026-11-01T00:00:00Z"}\n{"device_id":"dev-0\n'
    assert list(messages(data)) == [
        (b"dev-00001", b'{"device_id":"dev-00001","ts":"2026-11-01T00:00:00Z"}'),
        (None, b'{"device_id":"dev-0'),
    ]


def test_events_go_out_at_the_rate_one_interval_at_a_time():
    now, sleeps, producer = [100.0], [], Producer()

    def sleep(s):
        sleeps.append(s)
        now[0] += s

    got = run_kafka(
        Lines(),
        "b:1",
        "t",
        2.5,
        2.0,
        1.0,
        clock=lambda: now[0],
        sleep=sleep,
        make_producer=lambda *_: producer,
    )
    assert sleeps == [1.0, 1.0]  # each interval's events leave at its end
    assert got == {"events": 5, "delivered": 5, "seconds": 2.0}  # 2 then 3: floor(k * rate)
    assert [(t, k) for t, k, _ in producer.sent] == [
        ("t", b"d0"),
        ("t", b"d1"),
        ("t", b"d0"),
        ("t", b"d1"),
        ("t", b"d0"),
    ]


@pytest.mark.cluster
def test_simulated_events_reach_kafka_and_spark_reads_them_back(kafka_broker, tmp_path):
    topic = kafka_broker.create_topic("telemetry", partitions=2)
    argv = ["simulate", "--spec", str(ROOT / "conf" / "sensors.toml"), "--devices", "3", "--clean"]
    argv += [
        "--start",
        "2026-11-01T00:00:00Z",
        "--rate",
        "1000",
        "--file-interval",
        "0.1",
        "--duration",
        "0.3",
    ]
    argv += ["--truth", str(tmp_path / "truth")]  # not truth-TOPIC in the working directory
    assert cli([*argv, "--kafka", kafka_broker.bootstrap, "--topic", topic]) == 0
    out = tmp_path / "read"
    job = ["--bootstrap", kafka_broker.bootstrap, "--topic", topic, "--output", str(out)]
    cmd = spark_submit_command("tests/kafka_read_job.py", job, "local[2]", kafka_jars())
    # as run_spark runs it, with a limit: a hung read fails here instead of at pytest's timeout
    done = subprocess.run(cmd, env=spark_env(), stdin=subprocess.DEVNULL, check=False, timeout=600)
    assert done.returncode == 0
    rows = [json.loads(line) for p in sorted(out.glob("part-*")) for line in p.read_text().splitlines()]
    assert len(rows) == 300  # 3 intervals of 0.1 s at 1000 events/s
    events = {(e["device_id"], e["ts"]): (r, e) for r in rows for e in [json.loads(r["value"])]}
    assert len(events) == 300 and all(r["key"] == e["device_id"] for r, e in events.values())
    _, first = events[("dev-00000", "2026-11-01T00:00:00Z")]
    assert first == {
        "device_id": "dev-00000",
        "ts": "2026-11-01T00:00:00Z",
        "model": "X9",
        "temperature": 26.91,
        "vibration": 2.28,
        "pressure": 337,
        "rpm": 702,
        "load": 16.3,
    }
    assert events[("dev-00002", "2026-11-01T01:39:00Z")][1]["rpm"] == 3485  # its 100th reading
    # one device, one partition, in order: offsets rise with the readings' times
    for device in ("dev-00000", "dev-00001", "dev-00002"):
        mine = sorted((r["offset"], e["ts"]) for (d, _), (r, e) in events.items() if d == device)
        assert len(mine) == 100 and [ts for _, ts in mine] == sorted(ts for _, ts in mine)
        assert len({r["partition"] for (d, _), (r, _) in events.items() if d == device}) == 1


# That `sensorpipe stream --kafka` scores, alerts and quarantines what a landing-directory run
# does on the same events: tests/test_stream_faults.py (its Kafka run's reference reads files).


def test_kafka_options_are_key_value_pairs(capsys, tmp_path):
    spec = str(ROOT / "conf" / "sensors.toml")
    stream = ["stream", "--spec", spec, "--model", "m", "--kafka", "b:1", "--topic", "t", "--output", "o"]
    with pytest.raises(SystemExit) as exc:
        cli([*stream, "--kafka-option", "maxOffsetsPerTrigger"])
    assert exc.value.code == 2
    assert "expected KEY=VALUE, got 'maxOffsetsPerTrigger'" in capsys.readouterr().err
    simulate = ["simulate", "--spec", spec, "--devices", "1", "--rate", "1", "--kafka", "b:1", "--topic", "t"]
    with pytest.raises(SystemExit) as exc:
        cli([*simulate, "--kafka-option", "=gzip"])
    assert exc.value.code == 2
    assert "expected KEY=VALUE, got '=gzip'" in capsys.readouterr().err
    # a value the producer refuses: a usage error naming it, before anything is sent
    truth = ["--truth", str(tmp_path / "truth"), "--duration", "1"]
    assert cli([*simulate, *truth, "--kafka-option", "linger.ms=soon"]) == 2
    assert "--kafka-option linger.ms=soon: Invalid value" in capsys.readouterr().err


def test_source_options_pass_spark_names_as_they_are_and_prefix_client_properties():
    given = {"maxOffsetsPerTrigger": "100", "startingoffsets": "latest", "security.protocol": "SASL_SSL"}
    given["kafka.sasl.mechanism"] = "PLAIN"
    assert source_options(given) == {
        "maxOffsetsPerTrigger": "100",
        "startingOffsets": "latest",
        "kafka.security.protocol": "SASL_SSL",
        "kafka.sasl.mechanism": "PLAIN",
    }
    with pytest.raises(ValueError, match="--kafka-option subscribe: set by --kafka / --topic"):
        source_options({"subscribe": "other"})
    with pytest.raises(ValueError, match="--kafka-option bootstrap.servers: set by --kafka / --topic"):
        source_options({"bootstrap.servers": "elsewhere:9092"})


@pytest.mark.cluster
def test_kafka_options_reach_the_producer_and_the_stream(kafka_broker, stream_model, tmp_path):
    """compression.type reaches the simulator's producer (the broker stores gzip batches; the
    default is none), maxOffsetsPerTrigger the stream's source (300 events in batches of 100;
    one batch without it)."""
    topic = kafka_broker.create_topic("options", partitions=1)
    spec = str(ROOT / "conf" / "sensors.toml")
    argv = ["simulate", "--spec", spec, "--devices", "3", "--clean", "--start", "2026-11-01T00:00:00Z"]
    argv += ["--rate", "1000", "--file-interval", "0.1", "--duration", "0.3"]  # 300 events
    argv += ["--kafka", kafka_broker.bootstrap, "--topic", topic, "--truth", str(tmp_path / "truth")]
    argv += ["--kafka-option", "compression.type=gzip"]
    assert cli(argv) == 0
    codecs = kafka_broker.batch_codecs(topic)
    assert len(codecs) >= 1 and set(codecs) == {"gzip"}
    out = tmp_path / "out"
    argv = ["stream", "--spec", spec, "--model", str(stream_model), "--output", str(out), "--available-now"]
    argv += [
        "--kafka",
        kafka_broker.bootstrap,
        "--topic",
        topic,
        "--kafka-option",
        "maxOffsetsPerTrigger=100",
    ]
    assert cli(argv) == 0
    lines = [json.loads(x)["sensorpipe"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [x["events"] for x in lines if x["events"]] == [100, 100, 100]
    assert sum(x["scored"] for x in lines) == 300


def test_a_cluster_id_never_starts_with_a_dash(monkeypatch):
    """The broker fixture's id: a UUID whose URL-safe base64 starts with "-" (a first byte of
    0xF8-0xFB) is drawn again; the storage tool took one for an option and CI failed."""
    import uuid  # noqa: PLC0415

    from harness.kafka_broker import new_cluster_id  # noqa: PLC0415

    draws = iter([uuid.UUID(bytes=b"\xf8" + b"\x00" * 15), uuid.UUID(bytes=b"\x01" * 16)])
    monkeypatch.setattr(uuid, "uuid4", lambda: next(draws))
    assert new_cluster_id() == "AQEBAQEBAQEBAQEBAQEBAQ"
