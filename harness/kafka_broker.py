"""A real one-node Kafka broker (KRaft: broker and controller in one JVM) on loopback ports.

Its jars come from Maven Central through conf/kafka/pom.xml (`make setup`). The storage is
formatted with kafka.tools.StorageTool, the broker runs as `kafka.Kafka server.properties`
in its own process group, and it counts as up when a client gets its metadata.
"""

from __future__ import annotations

import base64
import struct
import subprocess
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.daemons import ClusterError, free_ports, poll, start_daemon, stop_daemon
from harness.paths import ROOT

LIB = ROOT / "conf" / "kafka" / "lib"

SERVER = """\
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.quorum.bootstrap.servers=127.0.0.1:{controller}
log.dirs={logs}
num.partitions=2
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
"""


CODECS = ("none", "gzip", "snappy", "lz4", "zstd")  # a record batch's attributes & 7


@dataclass(frozen=True)
class Broker:
    bootstrap: str  # 127.0.0.1:P
    logs: Path | None = None  # log.dirs: <topic>-<partition>/<base offset>.log segments

    def create_topic(self, name: str, partitions: int = 2) -> str:
        from confluent_kafka.admin import AdminClient, NewTopic  # noqa: PLC0415

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        for future in admin.create_topics([NewTopic(name, partitions, 1)]).values():
            future.result(30)
        return name

    def batch_codecs(self, topic: str, partition: int = 0) -> list[str]:
        """The compression of each record batch the broker stored, read from its log segments
        (Kafka's record batch v2: baseOffset int64, batchLength int32, partitionLeaderEpoch
        int32, magic int8, crc int32, attributes int16, ...; all big-endian)."""
        codecs = []
        for segment in sorted((self.logs / f"{topic}-{partition}").glob("*.log")):
            data, at = segment.read_bytes(), 0
            while at + 23 <= len(data):
                (length,) = struct.unpack_from(">i", data, at + 8)
                (attributes,) = struct.unpack_from(">h", data, at + 21)
                codecs.append(CODECS[attributes & 7])
                at += 12 + length
        return codecs


def java(main: str, *args: str) -> list[str]:
    # a small heap and the serial collector: a test broker on a busy 2-core machine
    opts = ["-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", "-Djava.awt.headless=true"]
    return ["java", *opts, "-cp", f"{LIB}/*", main, *args]


def _metadata(bootstrap: str) -> bool:
    from confluent_kafka.admin import AdminClient  # noqa: PLC0415

    try:
        brokers = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=2).brokers
    except Exception:  # noqa: BLE001 (KafkaException until the broker answers)
        return False
    return bool(brokers)


def new_cluster_id() -> str:
    """A random Kafka cluster id (a UUID, URL-safe base64) that does not start with "-": the
    storage tool's argument parser would take such an id for an option ("--cluster-id/-t:
    expected one argument", 1 start in 64; Kafka's own Uuid.randomUuid skips those too)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


@contextmanager
def running_kafka(base: Path):
    """A formatted, running broker under `base`; killed (with its process group) on exit."""
    if not list(LIB.glob("kafka_2.13-*.jar")):
        raise ClusterError(f"no Kafka jars in {LIB}: run `make setup`")
    port, controller = free_ports(2)
    props = base / "server.properties"
    props.write_text(SERVER.format(port=port, controller=controller, logs=base / "data"))
    cluster_id = new_cluster_id()
    fmt = java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props), "--standalone")
    done = subprocess.run(
        fmt, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False, timeout=120
    )
    if done.returncode:
        raise ClusterError(f"formatting the Kafka storage failed:\n{done.stdout}{done.stderr}")
    log = base / "broker.log"
    broker = start_daemon(java("kafka.Kafka", str(props)), log, None, base)
    try:
        bootstrap = f"127.0.0.1:{port}"
        poll("Kafka broker", lambda: _metadata(bootstrap), 90, [broker], [log])
        yield Broker(bootstrap, base / "data")
    finally:
        stop_daemon(broker)
