"""How the stream job runs beyond one query: the model version pinned in the checkpoint,
the drain at the end of an --available-now run, and waiting for the progress listener.

A drain request is a file of JSON lines, one per device that holds events, written by the
driver into OUT/checkpoint/drain/ (the query's second file source); the next batch gives
each named device its drain row, which releases everything it holds (streaming/logic.py).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from sensorpipe.registry import CARD_FILE, ModelIntegrityError, current_version

PIN = "model.json"


def drain_dir(out: str) -> str:
    return f"{out}/checkpoint/drain"


def pinned_version(model_dir: str, out: str) -> str:
    """The model version directory this OUT was started with (OUT/checkpoint/model.json),
    or, at first start, the registry's current one. A replayed batch must score with the
    model that scored it the first time."""
    pin = Path(out) / "checkpoint" / PIN
    if "://" in out or not pin.is_file():
        return str(current_version(model_dir).absolute())
    where = json.loads(pin.read_text(encoding="utf-8"))["version"]
    if not (Path(where) / CARD_FILE).is_file():
        raise ModelIntegrityError(
            f"{pin}: the model version this output was started with, {where}, is gone; "
            "restore it, or start over with a new --output"
        )
    return where


def pin_model(out: str, where: str, sha256: str, buckets: int) -> None:
    """Record the version (and the state's bucket count) at first start; refuse a pinned version
    whose model changed, or another bucket count (the state is keyed by bucket)."""
    pin = Path(out) / "checkpoint" / PIN
    if "://" in out:
        return
    if pin.is_file():
        doc = json.loads(pin.read_text(encoding="utf-8"))
        if doc["model_sha256"] != sha256:
            raise ModelIntegrityError(
                f"{pin}: {where} no longer holds the model this output was started with"
            )
        if doc.get("buckets", buckets) != buckets:
            raise ValueError(
                f"{pin}: stream.buckets is {buckets}, but this output's state was started with "
                f"{doc['buckets']}; keep {doc['buckets']} or start over with a new --output"
            )
        return
    pin.parent.mkdir(parents=True, exist_ok=True)
    tmp = pin.with_name(f".{PIN}.tmp")
    doc = {"version": where, "model_sha256": sha256, "buckets": buckets}
    tmp.write_text(json.dumps(doc) + "\n", encoding="utf-8")
    tmp.rename(pin)


def _fs(spark: SparkSession, path: str):
    p = spark._jvm.org.apache.hadoop.fs.Path(path)
    return p.getFileSystem(spark._jsc.hadoopConfiguration()), p


def make_drain_dir(spark: SparkSession, out: str) -> None:
    fs, p = _fs(spark, drain_dir(out))
    fs.mkdirs(p)


def held_devices(spark: SparkSession, out: str) -> list:
    """Devices whose state holds events not yet released, read from the last committed state."""
    fs, commits = _fs(spark, f"{out}/checkpoint/commits")
    if not fs.exists(commits) or not [s for s in fs.listStatus(commits) if s.getPath().getName().isdigit()]:
        return []
    state = spark.read.format("statestore").load(f"{out}/checkpoint")
    held = state.select(F.col("value.groupState.held")).collect()
    return sorted(d for row in held if row[0] for d in json.loads(row[0]))


def request_drain(spark: SparkSession, out: str, device_field: str, devices: list) -> None:
    """Write a drain request for `devices` by atomic rename (the source ignores `_` names)."""
    jvm = spark._jvm
    fs, root = _fs(spark, drain_dir(out))
    tmp = jvm.org.apache.hadoop.fs.Path(root, "_request.tmp")
    data = "".join(json.dumps({device_field: d}) + "\n" for d in devices).encode()
    stream = fs.create(tmp, True)
    stream.write(bytearray(data))
    stream.close()
    fs.rename(tmp, jvm.org.apache.hadoop.fs.Path(root, f"drain-{time.time_ns()}.jsonl"))


def flush_listeners(spark: SparkSession) -> None:
    """Wait until every listener (the progress writer among them) has seen every event so far."""
    spark._jsc.sc().listenerBus().waitUntilEmpty()
