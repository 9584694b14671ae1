"""The stream's writers: scored/, alerts/ and quarantine/ exactly once, and its progress.

Each micro-batch is written by foreachBatch to `<sink>/_staging/<batch>/` and its part
files are renamed into `<sink>/` as `batch-<batch>-<n>.parquet`. A batch that runs again
after a crash (Spark replays it from its offset log, with the same input, state version
and watermark, so the same rows) first deletes whatever the failed attempt left, so no
row lands twice. Readers skip `_staging` (names starting with `_`). Paths go through
Hadoop's FileSystem, so OUT may be local or on HDFS.
"""

from __future__ import annotations

import json
import sys

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQueryListener

from sensorpipe.features import FeatureConfig
from streaming.source import ORDER


def _fs(spark: SparkSession, path: str):
    jvm = spark._jvm
    p = jvm.org.apache.hadoop.fs.Path(path)
    return p.getFileSystem(spark._jsc.hadoopConfiguration()), p


def commit_batch(frame: DataFrame, sink: str, batch_id: int) -> None:
    """Write one batch's rows into sink/ under names that say their batch, idempotently."""
    spark = frame.sparkSession
    fs, root = _fs(spark, sink)
    jvm = spark._jvm
    prefix = f"batch-{batch_id:010d}-"
    for old in fs.globStatus(jvm.org.apache.hadoop.fs.Path(root, prefix + "*")) or []:
        fs.delete(old.getPath(), False)
    staging = jvm.org.apache.hadoop.fs.Path(root, f"_staging/{batch_id}")
    fs.delete(staging, True)
    frame.write.parquet(staging.toString())
    parts = sorted(
        s.getPath().getName() for s in fs.listStatus(staging) if s.getPath().getName().startswith("part-")
    )
    for i, name in enumerate(parts):
        fs.rename(
            jvm.org.apache.hadoop.fs.Path(staging, name),
            jvm.org.apache.hadoop.fs.Path(root, f"{prefix}{i:05d}.parquet"),
        )
    fs.delete(staging, True)


def batch_writer(out: str, features: FeatureConfig, order_is_time: bool, alerts_by_batch: dict):
    """The foreachBatch function: split the state's output into the three sinks."""
    d = features.device
    order = F.timestamp_micros(ORDER) if order_is_time else F.col(ORDER)

    def write(df: DataFrame, batch_id: int) -> None:
        df = df.withColumn(features.order, order).withColumn("batch_id", F.lit(batch_id).cast("long"))
        df.persist()
        try:
            scored = df.where(F.col("kind") == "scored")
            commit_batch(
                scored.select(d, features.order, *features.names, "probability", "batch_id"),
                f"{out}/scored",
                batch_id,
            )
            alerts = scored.where("alert").select(
                d, features.order, "probability", "threshold", "top_sensors", F.col("episode").cast("int")
            )
            commit_batch(alerts, f"{out}/alerts", batch_id)
            quarantine = df.where(F.col("kind") == "quarantine").select(
                "reason", "raw", "source", "line", d, features.order, "batch_id"
            )
            commit_batch(quarantine, f"{out}/quarantine", batch_id)
            alerts_by_batch[batch_id] = alerts.count()
        finally:
            df.unpersist()

    return write


class ProgressListener(StreamingQueryListener):
    """One console line per micro-batch, and each StreamingQueryProgress appended to metrics.jsonl
    with {"sensorpipe": {"alerts": n}} added (a replayed batch is appended again)."""

    def __init__(self, metrics_path: str, alerts_by_batch: dict, echo=None):
        self.path, self.alerts = metrics_path, alerts_by_batch
        self.echo = echo or (lambda msg: print(msg, file=sys.stderr, flush=True))

    def onQueryStarted(self, event) -> None:
        pass

    def onQueryIdle(self, event) -> None:
        pass

    def onQueryTerminated(self, event) -> None:
        pass

    def onQueryProgress(self, event) -> None:
        p = event.progress
        doc = json.loads(p.json)
        alerts = self.alerts.get(p.batchId)
        doc["sensorpipe"] = {"alerts": alerts}
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(doc) + "\n")
        seconds = doc.get("durationMs", {}).get("triggerExecution", 0) / 1000
        observed = doc.get("observedMetrics", {}).get("sensorpipe", {})
        rows = observed.get("events", 0)  # lines; Spark's numInputRows counts whole files
        rate = rows / seconds if seconds else 0.0
        self.echo(
            f"batch {p.batchId}: {rows:,} rows in {seconds:.1f} s ({rate:,.0f} rows/s), {alerts or 0} alerts"
        )
