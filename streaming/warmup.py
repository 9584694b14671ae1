"""Warm a fresh driver before the stream's query starts, so its first batch is not blind for long.

A fresh Spark session's first micro-batch pays once for what every later one reuses: Janino
compiling the validation's generated code (cached by its source text), the JVM's JIT, Python
workers starting and importing pandas, pyarrow, sklearn and the project, the model read from
its broadcast and unpickled (sensorpipe.model.registry caches it per worker by SHA-256), the
state store's and the sinks' first use. `warm_up` runs the query's own plan once, available-now,
on a throwaway landing directory holding a few lines of its own (readings of one made-up
device, so that one is released, featured and scored, and one malformed line for the
quarantine), written to a throwaway OUT on the driver's local disk, then deletes both (their
directory is named after the driver's pid: one a kill -9 left behind is deleted at the next
start, once that pid is gone; `stale_scratch`). The
real query's OUT, checkpoint and metrics are never touched. Local masters only: on a cluster the
executors could not read the driver's disk, and the first batch pays these costs itself. The workers it starts stay in
pyspark's pool (spark.python.worker.reuse) with the model loaded.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pyspark.sql import SparkSession

from sensorpipe.core.spec import Spec
from streaming import restarts
from streaming.config import stream_config
from streaming.logic import Context
from streaming.sinks import batch_writer

log = logging.getLogger("streaming.warmup")
SCRATCH = "sensorpipe-warm-up-"  # + the driver's pid + "-" + mkdtemp's random part, in the temp dir
WARM_DEVICE = "_warm-up"
ENABLED = "spark.sensorpipe.stream.warmUp"  # "false": start the query cold (to measure what it saves)


def warm_lines(spec: Spec, ctx: Context) -> bytes:
    """warmup + 1 valid readings of one device, ten minutes (or 600 steps) apart, so that one
    is past its warming, released and scored whatever the watermark; then a malformed line."""
    f = ctx.features
    events = []
    for k in range(f.warmup + 1):
        event = {}
        for c in spec.columns:
            if c.out == f.device:
                event[c.name] = WARM_DEVICE if c.type not in ("int", "float") else -1
            elif c.out == f.order:
                at = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(minutes=10 * k)
                event[c.name] = at.strftime("%Y-%m-%dT%H:%M:%SZ") if c.type == "timestamp" else 1 + 600 * k
            elif c.type in ("int", "float"):
                low, high = c.range or (0, 0)
                value = (low + high) / 2
                event[c.name] = int(value) if c.type == "int" else value
            elif c.type == "timestamp":
                event[c.name] = "2000-01-01T00:00:00Z"
            else:
                event[c.name] = "x"
        events.append(json.dumps(event))
    return ("\n".join([*events, "{not json"]) + "\n").encode()


def stale_scratch(names: list[str], alive) -> list[str]:
    """The warm-up directories among names whose driver is gone: SCRATCH, a pid for which
    alive(pid) is false, "-", the rest. Other names (an older unnamed layout) are left alone."""
    stale = []
    for name in names:
        pid, dash, _ = name.removeprefix(SCRATCH).partition("-")
        if name.startswith(SCRATCH) and dash and pid.isdigit() and not alive(int(pid)):
            stale.append(name)
    return stale


def pid_alive(pid: int) -> bool:
    """A process with this pid exists (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def warm_up(spark: SparkSession, spec: Spec, ctx: Context, events_of) -> float:
    """Run the query's plan once on a few lines of its own; the seconds it took.

    events_of: streaming.score_stream.scored_events (the state's output stream), passed in
    because that module calls this one."""
    if spark.conf.get(ENABLED, "true").lower() == "false":
        return 0.0
    if not spark.sparkContext.master.startswith("local"):
        return 0.0  # its throwaway files live on the driver's disk, which executors elsewhere cannot read
    started = time.monotonic()
    tmp = Path(tempfile.gettempdir())
    for name in stale_scratch([p.name for p in tmp.glob(f"{SCRATCH}*")], pid_alive):
        shutil.rmtree(tmp / name, ignore_errors=True)  # a warm-up that was killed: nothing of it is read
    work = Path(tempfile.mkdtemp(prefix=f"{SCRATCH}{os.getpid()}-", dir=tmp))
    try:
        landing, out = work / "landing", work / "out"
        landing.mkdir()
        (landing / "warm-up.jsonl").write_bytes(warm_lines(spec, ctx))
        buckets = restarts.bucket_count(spark, stream_config(spec).buckets)
        spark.conf.set(
            "spark.sql.shuffle.partitions", str(min(buckets, spark.sparkContext.defaultParallelism))
        )
        where = f"file://{out}"  # the driver's local disk, whatever the default file system
        restarts.make_drain_dir(spark, where)
        keys = restarts.state_keys(spark, where, buckets)
        query = (
            events_of(spark, spec, ctx, f"file://{landing}", where, keys)
            .writeStream.foreachBatch(batch_writer(where, ctx.features, ctx.order_is_time, {}))
            .option("checkpointLocation", f"{where}/checkpoint")
            .queryName("sensorpipe-warm-up")
            .trigger(availableNow=True)
            .start()
        )
        query.awaitTermination()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    seconds = time.monotonic() - started
    log.info("warm-up: %.1f s", seconds)
    return seconds
