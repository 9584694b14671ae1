"""The stream's writers: scored/, alerts/ and quarantine/ exactly once, and its progress.

Each micro-batch is written by foreachBatch to `<sink>/_staging/<batch>/` and its part
files are renamed into `<sink>/` as `batch-<batch>-<n>.parquet`. The alerts, a few rows a
batch, come back to the driver with the scored write (an Observation) and are written from
there by pyarrow, in Spark's own Parquet types, without a Spark job of their own. A batch that runs again
after a crash (Spark replays it from its offset log, with the same input, state version
and watermark, so the same rows) first deletes whatever the failed attempt left, so no
row lands twice. Readers skip `_staging` (names starting with `_`). Paths go through
Hadoop's FileSystem (sensorpipe.spark.hfs), so OUT may be local or on HDFS.
"""

from __future__ import annotations

import json
import sys

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_type
from pyspark.sql.streaming import StreamingQueryListener

from sensorpipe.model.features import FeatureConfig
from sensorpipe.spark.hfs import HadoopFS
from streaming.source import ORDER


def commit_batch(frame: DataFrame, sink: str, batch_id: int, options: dict | None = None) -> None:
    """Write one batch's rows into sink/ under names that say their batch, idempotently."""
    fs = HadoopFS(frame.sparkSession)
    clear_batch(fs, sink, batch_id)
    staging = f"{sink}/_staging/{batch_id}"
    frame.write.options(**(options or {})).parquet(staging)
    parts = sorted(e.name for e in fs.entries(staging) if e.name.startswith("part-"))
    for i, name in enumerate(parts):
        fs.rename(f"{staging}/{name}", f"{sink}/{_prefix(batch_id)}{i:05d}.parquet")
    fs.delete(staging)


def commit_rows(spark: SparkSession, rows: list, schema: T.StructType, sink: str, batch_id: int) -> None:
    """Write a batch's few rows, collected on the driver, as one file in sink/, idempotently.

    The Parquet bytes come from pyarrow with the types Spark writes (timestamps as INT96,
    naive UTC), and go through Hadoop's FileSystem: a staging file, then a rename."""
    fs = HadoopFS(spark)
    clear_batch(fs, sink, batch_id)
    columns = {f.name: [r[i] for r in rows] for i, f in enumerate(schema.fields)}
    table = pa.table({f.name: pa.array(columns[f.name], _arrow_type(f.dataType)) for f in schema.fields})
    buffer = pa.BufferOutputStream()
    pq.write_table(table, buffer, use_deprecated_int96_timestamps=True, compression="snappy")
    staging = f"{sink}/_staging/{batch_id}"
    fs.write_bytes(f"{staging}/part-00000.parquet", buffer.getvalue().to_pybytes())
    fs.rename(f"{staging}/part-00000.parquet", f"{sink}/{_prefix(batch_id)}00000.parquet")
    fs.delete(staging)


def _arrow_type(spark_type: T.DataType) -> pa.DataType:
    # collected timestamps are naive datetimes in the driver's time zone: the order column is
    # collected as epoch microseconds instead and written as Spark writes a timestamp
    return pa.timestamp("us") if isinstance(spark_type, T.TimestampType) else to_arrow_type(spark_type)


def clear_batch(fs: HadoopFS, sink: str, batch_id: int) -> None:
    """Delete what an earlier attempt of this batch left in sink/ (its files, its staging)."""
    for old in fs.glob(f"{sink}/{_prefix(batch_id)}*"):
        fs.delete(old)
    fs.delete(f"{sink}/_staging/{batch_id}")


def _prefix(batch_id: int) -> str:
    return f"batch-{batch_id:010d}-"


def has_data(fs: HadoopFS, sink: str) -> bool:
    """Whether sink/ holds a batch file (so a reader finds the sink's schema there)."""
    return bool(fs.glob(f"{sink}/batch-*.parquet"))


def batch_writer(out: str, features: FeatureConfig, order_is_time: bool, alerts_by_batch: dict):
    """The foreachBatch function: split the state's output into the three sinks.

    One pass computes the batch (cached) and writes scored/, while an Observation counts the
    quarantine rows and collects the alert rows (a few per batch) to the driver, which
    writes alerts/ itself (commit_rows). quarantine/ is written from the cache when it has
    rows. A sink gets a file when the batch has rows for it, or when it holds no file yet
    (its first file carries the schema readers need); otherwise the batch writes nothing
    there but still deletes what a failed attempt of it may have left.
    """
    d = features.device
    order = F.timestamp_micros(ORDER) if order_is_time else F.col(ORDER)
    kind = F.col("kind")
    sinks_with_data: set[str] = set()

    def to_sink(spark: SparkSession, sink: str, batch_id: int, has_rows: bool, commit) -> None:
        """commit() the batch's rows into sink/, or only clear what a failed attempt left."""
        fs = HadoopFS(spark)
        if sink not in sinks_with_data and has_data(fs, sink):
            sinks_with_data.add(sink)
        if has_rows or sink not in sinks_with_data:
            commit()
            sinks_with_data.add(sink)
        else:
            clear_batch(fs, sink, batch_id)

    def write(df: DataFrame, batch_id: int) -> None:
        spark = df.sparkSession
        alert_schema = _alert_schema(features, df.schema[d].dataType, order_is_time)
        df = df.withColumns({features.order: order, "batch_id": F.lit(batch_id).cast("long")})
        df.persist()
        try:
            seen = Observation("sensorpipe_sinks")
            is_alert = (kind == "scored") & F.col("alert")
            alert_row = F.struct(
                *[ORDER if f.name == features.order else f.name for f in alert_schema.fields]
            )
            scored = df.observe(
                seen,
                F.count_if(kind == "quarantine").alias("quarantine"),
                F.collect_list(F.when(is_alert, alert_row)).alias("alerts"),
            ).where(kind == "scored")
            commit_batch(
                scored.select(d, features.order, *features.names, "probability", "batch_id"),
                f"{out}/scored",
                batch_id,
                # dictionaries of ~70 columns of distinct doubles cost the write ~a quarter of
                # the state stage's JVM time and save nothing; the device column keeps its own
                {"parquet.enable.dictionary": "false", f"parquet.enable.dictionary#{d}": "true"},
            )
            n = seen.get
            alerts = sorted(n["alerts"], key=lambda r: (r[0], r[1]))
            alerts_dir, quarantine_dir = f"{out}/alerts", f"{out}/quarantine"
            quarantine = df.where(kind == "quarantine").select(
                "reason", "raw", "source", "line", d, features.order, "batch_id"
            )
            to_sink(
                spark,
                alerts_dir,
                batch_id,
                len(alerts) > 0,
                lambda: commit_rows(spark, alerts, alert_schema, alerts_dir, batch_id),
            )
            to_sink(
                spark,
                quarantine_dir,
                batch_id,
                n["quarantine"] > 0,
                lambda: commit_batch(quarantine, quarantine_dir, batch_id),
            )
            alerts_by_batch[batch_id] = len(alerts)
        finally:
            df.unpersist()

    return write


def _alert_schema(features: FeatureConfig, device_type: T.DataType, order_is_time: bool) -> T.StructType:
    """alerts/: device, event time (or order), probability, threshold, top_sensors, episode."""
    return T.StructType(
        [
            T.StructField(features.device, device_type),
            T.StructField(features.order, T.TimestampType() if order_is_time else T.LongType()),
            T.StructField("probability", T.DoubleType()),
            T.StructField("threshold", T.DoubleType()),
            T.StructField("top_sensors", T.StringType()),
            T.StructField("episode", T.IntegerType()),
        ]
    )


def appender(spark: SparkSession, path: str):
    """A function appending text to a file: a local one, or one on HDFS (Hadoop's append)."""
    if "://" not in path or path.startswith("file:"):
        local = path.removeprefix("file://").removeprefix("file:")

        def append_local(text: str) -> None:
            with open(local, "a", encoding="utf-8") as fh:
                fh.write(text)

        return append_local
    fs = HadoopFS(spark)
    return lambda text: fs.append(path, text.encode())


class ProgressListener(StreamingQueryListener):
    """One console line per micro-batch, and each StreamingQueryProgress appended to metrics.jsonl
    with {"sensorpipe": {"alerts": n}} added (a replayed batch is appended again)."""

    def __init__(self, append, alerts_by_batch: dict, echo=None):
        self.append, self.alerts = append, alerts_by_batch
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
        self.append(json.dumps(doc) + "\n")
        seconds = doc.get("durationMs", {}).get("triggerExecution", 0) / 1000
        observed = doc.get("observedMetrics", {}).get("sensorpipe", {})
        rows = observed.get("events", 0)  # lines; Spark's numInputRows counts whole files
        rate = rows / seconds if seconds else 0.0
        self.echo(
            f"batch {p.batchId}: {rows:,} rows in {seconds:.1f} s ({rate:,.0f} rows/s), {alerts or 0} alerts"
        )
