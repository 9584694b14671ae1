"""What a stream run keeps across restarts, under OUT/checkpoint/: the model version pinned
at first start, the state's keys (from its partition count), and the drain requests that
end an --available-now run. Files go through sensorpipe.spark.hfs, so OUT may be on HDFS.

A drain request is a file of JSON lines, one per device that holds events, written by the
driver into OUT/checkpoint/drain/ (the query's second file source); the next batch gives
each named device its drain row, which releases everything it holds (streaming/logic.py).
"""

from __future__ import annotations

import itertools
import json
import time

from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F

from sensorpipe.model.registry import CARD_FILE, ModelIntegrityError, resolve
from sensorpipe.spark.hfs import HadoopFS
from sensorpipe.spark.models import model_store
from sensorpipe.store.base import FILE

PIN = "model.json"
CLUSTER_BUCKETS = 8  # [stream] buckets unset on a cluster without spark.default.parallelism
LEGACY_BUCKETS = 8  # the default before an unset count meant one per core


def drain_dir(out: str) -> str:
    return f"{out}/checkpoint/drain"


def pinned_version(spark: SparkSession, model_dir: str, out: str) -> str:
    """The model version directory this OUT was started with (OUT/checkpoint/model.json),
    or, at first start, the registry's current one. A replayed batch must score with the
    model that scored it the first time. OUT and the registry may be on any Hadoop file
    system (HDFS); a local version is named by its absolute path."""
    doc = read_pin(spark, out)
    if doc is None:
        return resolve(model_dir, model_store(spark, model_dir))
    where = doc["version"]
    if model_store(spark, where).kind(f"{where}/{CARD_FILE}") != FILE:
        raise ModelIntegrityError(
            f"{out}/checkpoint/{PIN}: the model version this output was started with, {where}, "
            "is gone; restore it, or start over with a new --output"
        )
    return where


def bucket_count(spark: SparkSession, configured: int | None) -> int:
    """The state's bucket count for an output's first start: `[stream] buckets` when set, else one
    per core on a local master (one Python call per state task and batch: the fewest calls, the
    lowest latency), and on a cluster spark.default.parallelism when the site sets it, else 8
    (the executors registered at start are no guide; set `buckets` for the cluster's size)."""
    if configured is not None:
        return configured
    sc = spark.sparkContext
    if sc.master.startswith("local"):
        return max(1, sc.defaultParallelism)
    return max(1, int(sc.getConf().get("spark.default.parallelism", str(CLUSTER_BUCKETS))))


def pin_model(spark: SparkSession, out: str, where: str, sha256: str, buckets: int | None) -> int:
    """Record the version and the state's bucket count at first start; refuse a pinned version
    whose model changed, or another bucket count (the state is keyed by bucket). Returns the
    output's bucket count: the pinned one on a restart (buckets None: whatever it was)."""
    pin = f"{out}/checkpoint/{PIN}"
    doc = read_pin(spark, out)
    if doc is not None:
        if doc["model_sha256"] != sha256:
            raise ModelIntegrityError(
                f"{pin}: {where} no longer holds the model this output was started with"
            )
        # a pin without a count is from before the count was pinned, when 8 was the default
        started = doc.get("buckets", buckets or LEGACY_BUCKETS)
        if buckets is not None and started != buckets:
            raise ValueError(
                f"{pin}: stream.buckets is {buckets}, but this output's state was started with "
                f"{started}; keep {started} (or leave it unset) or start over with a new --output"
            )
        return started
    count = bucket_count(spark, buckets)
    _write_pin(spark, out, {"version": where, "model_sha256": sha256, "buckets": count})
    return count


def read_pin(spark: SparkSession, out: str) -> dict | None:
    """OUT/checkpoint/model.json, or None before the first start."""
    fs, pin = HadoopFS(spark), f"{out}/checkpoint/{PIN}"
    return json.loads(fs.read_bytes(pin).decode("utf-8")) if fs.exists(pin) else None


def state_keys(spark: SparkSession, out: str, buckets: int) -> list[int]:
    """The state's grouping key of each bucket: keys that Spark's hash partitioning spreads
    evenly over the state's partitions (the bucket numbers 0..7 would put 5 of 8 buckets in
    one of 2 partitions, and leave one of 4 empty).

    The keys follow from the bucket count and the state's partition count, which a restart
    takes from its checkpoint (Spark's offset log), so a restart finds its state under the
    same keys. They are also recorded in OUT/checkpoint/model.json; an output whose pin has
    no keys but has committed batches was started with the bucket numbers as keys.
    """
    doc = read_pin(spark, out)
    if doc is not None and "keys" in doc:
        return doc["keys"]
    if doc is not None and _committed(spark, out):
        return list(range(buckets))
    partitions = checkpoint_partitions(spark, out) or int(spark.conf.get("spark.sql.shuffle.partitions"))
    # the same hash as HashPartitioning: pmod(murmur3(key, seed 42), partitions), of the key's
    # own type (an int hashes differently from a long)
    key = F.col("id").cast("int")
    rows = spark.range(64 * buckets).select(key, F.pmod(F.hash(key), F.lit(partitions))).collect()
    by_partition: dict[int, list[int]] = {}
    for key, part in rows:
        by_partition.setdefault(part, []).append(key)
    keys = [by_partition[b % partitions][b // partitions] for b in range(buckets)]
    if doc is not None:
        _write_pin(spark, out, {**doc, "keys": keys})
    return keys


def bucket_key(device: Column, keys: list[int]) -> Column:
    """A device's state key: its bucket (xxhash64 of the device modulo the bucket count) mapped
    to that bucket's key, an int as state_keys hashed it; null for a null device."""
    bucket = F.pmod(F.xxhash64(device), F.lit(len(keys)))
    return F.when(
        device.isNotNull(), F.element_at(F.array(*[F.lit(k) for k in keys]), (bucket + 1).cast("int"))
    )


def checkpoint_partitions(spark: SparkSession, out: str) -> int | None:
    """The state's partition count recorded in the checkpoint's last offset log entry, if any."""
    fs, offsets = HadoopFS(spark), f"{out}/checkpoint/offsets"
    if not fs.exists(offsets):
        return None
    batches = [int(e.name) for e in fs.entries(offsets) if e.name.isdigit()]
    if not batches:
        return None
    lines = fs.head_lines(f"{offsets}/{max(batches)}")
    try:
        _version, entry = itertools.islice(lines, 2)  # the log's version ("v1"), then its metadata
    finally:
        lines.close()
    meta = json.loads(entry)
    value = meta.get("conf", {}).get("spark.sql.shuffle.partitions")
    return int(value) if value else None


def _committed(spark: SparkSession, out: str) -> bool:
    """Whether the query has committed a batch (checkpoint/commits/<batch>)."""
    fs, commits = HadoopFS(spark), f"{out}/checkpoint/commits"
    return fs.exists(commits) and any(e.name.isdigit() for e in fs.entries(commits))


def _write_pin(spark: SparkSession, out: str, doc: dict) -> None:
    """Write the pin whole or not at all: a temporary file, then a rename over the old one."""
    fs, checkpoint = HadoopFS(spark), f"{out}/checkpoint"
    fs.mkdir(checkpoint)
    tmp = f"{checkpoint}/.{PIN}.tmp"
    fs.write_bytes(tmp, (json.dumps(doc) + "\n").encode())
    fs.replace(tmp, f"{checkpoint}/{PIN}")


def make_drain_dir(spark: SparkSession, out: str) -> None:
    HadoopFS(spark).mkdir(drain_dir(out))


def held_devices(spark: SparkSession, out: str) -> list:
    """Devices whose state holds events not yet released, read from the last committed state."""
    if not _committed(spark, out):
        return []
    state = spark.read.format("statestore").load(f"{out}/checkpoint")
    held = state.select(F.col("value.groupState.held")).collect()
    return sorted(d for row in held if row[0] for d in json.loads(row[0]))


def request_drain(spark: SparkSession, out: str, device_field: str, devices: list) -> None:
    """Write a drain request for `devices` by atomic rename (the source ignores `_` names)."""
    fs, root = HadoopFS(spark), drain_dir(out)
    data = "".join(json.dumps({device_field: d}) + "\n" for d in devices).encode()
    fs.write_bytes(f"{root}/_request.tmp", data)
    fs.rename(f"{root}/_request.tmp", f"{root}/drain-{time.time_ns()}.jsonl")
