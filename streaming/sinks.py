"""The stream's writers: scored/, alerts/ and quarantine/ exactly once, and its progress.

Each sink is a directory of Parquet files and `_manifest.json`, the list of its visible
files (the layout and the reader: sensorpipe/store/sinks.py). foreachBatch writes a batch
into `<sink>/_staging/<batch>-<token>/`, moves its files into `<sink>/` as
`batch-<batch>-<token>-<n>.parquet`, then commits the batch with ONE atomic rename: a new
manifest naming them over the old one. A reader of the manifest sees the batch whole or not
at all. A batch that runs again after a crash (Spark replays it from its offset log, with the
same input, state version and watermark, so the same rows) commits a manifest that names its
new files instead of whatever an earlier attempt committed, which are then deleted, so no row
lands twice. Every `--compact-files` committed files of one level (default 16, all of batches
before the current one, whose commit in Spark's log is therefore final: they never replay)
are merged into one file of the next level, committed the same way, the originals deleted
after the manifest stops naming them. A merge runs in the background, beside the next batches
(merge_in_background), and no batch waits for it: the merge reads and writes its files on its
own, and only its manifest swap takes the sink's lock, which a batch's commit takes too, so
one writer changes a manifest at a time and each swap starts from the other's (a level-2
merge rewrites ~128 MB: 4 s here, which a batch that waited for it added to its latency).
The alerts, a few rows a batch, and the
quarantined lines, up to a cap (batch_writer), come back to the driver with the scored write (an
Observation) and are written from there by pyarrow, in Spark's own Parquet types, without a
Spark job of their own. Paths go through Hadoop's FileSystem
(sensorpipe.spark.hfs), so OUT may be local or on HDFS.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_type

from sensorpipe.core.inputs import as_pattern
from sensorpipe.model.features import FeatureConfig
from sensorpipe.spark.hfs import HadoopFS
from sensorpipe.store import sinks as layout
from streaming.metrics import QUARANTINE_REASONS, batch_figures
from streaming.source import ORDER

COMPACT_FILES = "spark.sensorpipe.sinks.compactFiles"  # files of a level merged at once; 0: never
COMPACT_BYTES = "spark.sensorpipe.sinks.compactBytes"  # files this size or larger are left alone
DEFAULT_COMPACT_FILES, DEFAULT_COMPACT_BYTES = 16, 128 << 20
QUARANTINE_ON_DRIVER = "spark.sensorpipe.sinks.quarantineOnDriver"  # rows a batch's driver takes; 0: none
DEFAULT_QUARANTINE_ON_DRIVER, MAX_K = 10_000, 100_000  # MAX_K: min_by's largest k
# the order of the quarantine rows a batch's driver writes (not the raw line: a key is a copy)
QUARANTINE_KEY = ("source", "line", "reason", ORDER)
COMPACTING = "_compacting"  # a merge's staging, apart from the batches' _staging/

# Merges run on one thread of their own (merge_in_background); _RUNNING: each sink's latest.
# A sink gets no new merge while one runs there: the next batch asks again.
_MERGE_THREAD = "sensorpipe-merge"
_MERGES = ThreadPoolExecutor(1, thread_name_prefix=_MERGE_THREAD)
_RUNNING: dict[str, Future] = {}
_RUNNING_LOCK = threading.Lock()


def settle(*paths: str) -> None:
    """Wait until no merge runs in the sinks at `paths` (every sink: none given); the error of
    a merge that failed is raised here, as it would have been in its batch."""
    if threading.current_thread().name.startswith(_MERGE_THREAD):
        return  # a merge waits for no merge (the one thread would wait for itself)
    with _RUNNING_LOCK:
        done = [_RUNNING.pop(p) for p in (paths or list(_RUNNING)) if p in _RUNNING]
    for future in done:
        future.result()


def merging(*paths: str) -> bool:
    """Whether a merge runs (or waits to run) in a sink at one of `paths`; the error of one
    that failed there is raised here, as it would have been in its batch."""
    with _RUNNING_LOCK:
        running = {p: _RUNNING[p] for p in paths if p in _RUNNING}
        for p, future in running.items():
            if future.done():
                del _RUNNING[p]
    for future in running.values():
        if future.done():
            future.result()
    return any(not future.done() for future in running.values())


def merge_in_background(sinks: list[Sink], session: SparkSession, batch_id: int, fanin: int, target: int):
    """Each sink's merges due after batch_id (Sink.compact), on the merge thread, unless one
    still runs there (merging): batches go on committing meanwhile (see the module's doc)."""
    if merging(*[each.path for each in sinks]):
        return

    def merge() -> None:
        for each in sinks:
            each.compact(session, batch_id, fanin, target)

    future = _MERGES.submit(merge)
    with _RUNNING_LOCK:
        for each in sinks:
            _RUNNING[each.path] = future


class Sink:
    """One sink directory as its writer keeps it: the manifest's entries in memory (read once
    per query), and the commits and compactions that replace the manifest."""

    def __init__(self, fs: HadoopFS, path: str, options: dict | None = None):
        self.fs, self.path, self.options = fs, path, options or {}
        self.files: list[dict] | None = None
        # held while the entries are read for a decision and swapped: a batch's commit and a
        # merge (on its own thread) each start from the other's manifest
        self.lock = threading.RLock()

    def open(self) -> None:
        """Before the query's first commit here: read the manifest (a sink from before
        manifests: adopt its batch files; none: start an empty one), then delete what it does
        not name, all left by a crash: a commit's or a compaction's files, staging, a
        half-written manifest."""
        if self.files is not None:
            return
        settle(self.path)  # an earlier writer's merge here (a restart in this process) ends first
        fs = self.fs
        fs.mkdir(self.path)
        listed = fs.lengths(self.path)
        if layout.MANIFEST in listed:
            self.files = layout.loads(fs.read_bytes(f"{self.path}/{layout.MANIFEST}"))
        else:
            self._swap(layout.legacy_entries(sorted(listed), listed), [])
        named = {e["name"] for e in self.files}
        for name in listed:
            ours = (name.startswith("batch-") and name.endswith(".parquet")) or name.startswith("_manifest-")
            if ours and name not in named:
                fs.delete(f"{self.path}/{name}")
        fs.delete(f"{self.path}/_staging")
        fs.delete(f"{self.path}/{COMPACTING}")

    def has_data(self) -> bool:
        """Whether the sink names a file (so a reader finds the sink's schema there)."""
        self.open()
        return bool(self.files)

    def staging(self, batch_id: int | str) -> tuple[str, str]:
        """(a fresh staging directory for an attempt, its token)."""
        self.open()
        token = uuid.uuid4().hex[:8]
        return f"{self.path}/_staging/{batch_id}-{token}", token

    def publish(self, batch_id: int, staged: str, token: str) -> None:
        """Commit the part files written to `staged` as batch_id's, in place of whatever an
        earlier attempt of the batch committed."""
        if any(e["level"] > 0 and e["last"] >= batch_id for e in self.files):
            raise RuntimeError(
                f"{self.path}: batch {batch_id} is older than a compacted one (a new checkpoint?)"
            )
        parts = sorted((n, size) for n, size in self.fs.lengths(staged).items() if n.startswith("part-"))
        new = []
        for n, (name, size) in enumerate(parts):
            target = layout.batch_file(batch_id, token, n)
            self.fs.rename(f"{staged}/{name}", f"{self.path}/{target}")
            new.append(layout.entry(target, batch_id, batch_id, 0, size))
        with self.lock:  # a merge never takes a batch at or after batch_id: the two touch other entries
            old = [e for e in self.files if e["level"] == 0 and e["first"] == batch_id]
            self._swap([e for e in self.files if e not in old] + new, old)
        self.fs.delete(f"{self.path}/_staging")  # one batch writer: nothing else is staged

    def _small(self, level: int, batch_id: int, target: int) -> list[dict]:
        """A level's files that may merge: of batches before batch_id, under `target` bytes."""
        return [e for e in self.files if e["level"] == level and e["last"] < batch_id and e["bytes"] < target]

    def due(self, batch_id: int, fanin: int, target: int) -> bool:
        """Whether compact(batch_id, fanin, target) would merge files."""
        self.open()
        with self.lock:
            levels = {e["level"] for e in self.files}
            return fanin >= 2 and any(len(self._small(level, batch_id, target)) >= fanin for level in levels)

    def compact(self, spark: SparkSession, batch_id: int, fanin: int, target: int) -> bool:
        """Once a level holds `fanin` files smaller than `target` bytes, all of batches before
        batch_id: merge its first ones, `fanin` of them or fewer as soon as they reach
        `target` bytes (so a merged file stays under twice that), into one file a level up.
        At most one merge per level and call, the lowest level first; whether one was made."""
        if fanin < 2:
            return False
        self.open()
        merged, level = False, 0
        while level <= max((e["level"] for e in self.files), default=-1):
            with self.lock:
                small = self._small(level, batch_id, target)
            if len(small) >= fanin:
                group, size = [], 0
                for e in small[:fanin]:
                    group.append(e)
                    size += e["bytes"]
                    if size >= target and len(group) >= 2:
                        break
                self._merge(spark, group, level + 1)
                merged = True
            level += 1
        return merged

    def _merge(self, spark: SparkSession, group: list[dict], level: int) -> None:
        # staged apart from the batches' _staging/: a merge may run while a batch writes there
        token = uuid.uuid4().hex[:8]
        staged = f"{self.path}/{COMPACTING}/{token}"
        paths = [as_pattern(f"{self.path}/{e['name']}") for e in group]
        with sink_timestamps(spark):
            spark.read.parquet(*paths).coalesce(1).write.options(**self.options).parquet(staged)
        parts = [(n, size) for n, size in self.fs.lengths(staged).items() if n.startswith("part-")]
        if len(parts) != 1:  # an empty merge writes no file: keep the originals
            self.fs.delete(f"{self.path}/{COMPACTING}")
            return
        first, last = group[0]["first"], max(e["last"] for e in group)
        name = layout.merged_file(first, last, token)
        self.fs.rename(f"{staged}/{parts[0][0]}", f"{self.path}/{name}")
        with self.lock:  # the batches committed meanwhile stay (the group is older than all of them)
            merged = layout.entry(name, first, last, level, parts[0][1])
            self._swap([e for e in self.files if e not in group] + [merged], group)
        self.fs.delete(f"{self.path}/{COMPACTING}")

    def _swap(self, files: list[dict], retired: list[dict]) -> None:
        """The commit: the new manifest over the old in one rename, then the files it no
        longer names deleted."""
        files = sorted(files, key=lambda e: (e["first"], e["last"], e["name"]))
        tmp = f"{self.path}/_manifest-{uuid.uuid4().hex[:8]}.tmp"
        self.fs.write_bytes(tmp, layout.dumps(files))
        self.fs.replace(tmp, f"{self.path}/{layout.MANIFEST}")
        self.files = files
        for e in retired:
            self.fs.delete(f"{self.path}/{e['name']}")


@contextlib.contextmanager
def sink_timestamps(spark: SparkSession):
    """Every file of a sink stores timestamps one way, INT96 as commit_rows' pyarrow files do,
    whatever the session says (jobs/clean.py's TIMESTAMP_MICROS, a user's --conf): a merge of
    mixed files would change a column's type between a batch and its compacted form."""
    key = "spark.sql.parquet.outputTimestampType"
    before = spark.conf.get(key, None)
    spark.conf.set(key, "INT96")
    try:
        yield
    finally:
        if before is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, before)


def commit_batch(frame: DataFrame, sink: Sink, batch_id: int) -> None:
    """Write one batch's rows into the sink, replacing an earlier attempt's (idempotent)."""
    staged, token = sink.staging(batch_id)
    with sink_timestamps(frame.sparkSession):
        frame.write.options(**sink.options).parquet(staged)
    sink.publish(batch_id, staged, token)


def commit_rows(rows: list, schema: T.StructType, sink: Sink, batch_id: int) -> None:
    """Write a batch's few rows, collected on the driver, as one file of the sink, idempotently.

    The Parquet bytes come from pyarrow with the types Spark writes (timestamps as INT96,
    naive UTC), and go through Hadoop's FileSystem: a staging file, then the commit."""
    fields = [pa.field(f.name, _arrow_type(f.dataType), f.nullable) for f in schema.fields]
    arrays = [pa.array([r[i] for r in rows], f.type) for i, f in enumerate(fields)]
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields))  # a column not nullable as Spark's
    buffer = pa.BufferOutputStream()
    pq.write_table(table, buffer, use_deprecated_int96_timestamps=True, compression="snappy")
    staged, token = sink.staging(batch_id)
    sink.fs.write_bytes(f"{staged}/part-00000.parquet", buffer.getvalue().to_pybytes())
    sink.publish(batch_id, staged, token)


def _arrow_type(spark_type: T.DataType) -> pa.DataType:
    # collected timestamps are naive datetimes in the driver's time zone: the order column is
    # collected as epoch microseconds instead and written as Spark writes a timestamp
    return pa.timestamp("us") if isinstance(spark_type, T.TimestampType) else to_arrow_type(spark_type)


def batch_writer(out: str, features: FeatureConfig, order_is_time: bool, by_batch: dict):
    """The foreachBatch function: split the state's output into the three sinks.

    One pass computes the batch and writes scored/, while an Observation counts the scored
    and quarantine rows, takes the scored rows' event-time percentiles and brings back to the
    driver the alert rows (a few per batch) and the quarantine rows, which the driver writes
    itself (commit_rows): no cache of the batch, no second pass. A sink gets a file when the
    batch has rows for it, or when it holds no file yet (its first file carries the schema
    readers need). Then each sink may compact (Sink.compact), in the background: the merges
    run on a thread of their own, in a session of their own (its Parquet timestamp setting
    apart from the batch's), beside the next batches, which do not wait for them (the sink's
    lock orders the manifest swaps); a merge that failed fails the next batch (merging).

    The quarantine rows come back bounded: `min_by(row, key, cap)` keeps at most
    `--conf spark.sensorpipe.sinks.quarantineOnDriver` rows (default 10,000; 0: never) in each
    task's buffer and in the merge, the first by (source, line, ...), so a batch of a million
    bad lines costs the driver no more than `cap` rows. When the batch's quarantine count is
    over the cap the list is short, so it is not used: quarantine/ is written by Spark from the
    batch computed again (Spark replays the same input, state version and watermark: the same
    rows; both writes are keyed on the batch id, so a kill -9 anywhere still leaves each sink
    with the batch once or not at all, as commit_batch and commit_rows say). A bad spell tends
    to last, so the batch after an overflow is cached (the old way: scored/ from the pass,
    quarantine/ from the cache) until a batch fits under the cap again.

    by_batch[batch_id] gets what metrics.jsonl reports of the batch's output (scored,
    quarantined by reason, alerts, latency: streaming/metrics.batch_figures).
    """
    d = features.device
    order = F.timestamp_micros(ORDER) if order_is_time else F.col(ORDER)
    sinks: dict[str, Sink] = {}  # one per query: each reads its manifest once
    overflowed = [False]  # the last batch's quarantine was over the cap: cache this one
    merges: list[SparkSession] = []  # the merges' session, made at the first merge

    def sink(spark: SparkSession, name: str, options: dict | None = None) -> Sink:
        if name not in sinks:
            sinks[name] = Sink(HadoopFS(spark), f"{out}/{name}", options)
        return sinks[name]

    built: dict = {}  # (device type, cap) -> the batches' columns, made once (each a py4j call)

    def columns(device_type: T.DataType, cap: int) -> tuple:
        """The schemas of alerts/ and quarantine/, the Observation's metrics and scored/'s
        projection: the same for every batch of the query (~0.1 s of py4j calls a batch)."""
        key = (device_type.json(), cap)
        if key not in built:
            alert_schema = _alert_schema(features, device_type, order_is_time)
            quarantine_schema = _quarantine_schema(features, device_type, order_is_time)
            metrics = _metrics(features, alert_schema, quarantine_schema, cap, order_is_time)
            projection = [F.col(c) for c in (d, features.order, *features.names, "probability", "batch_id")]
            built[key] = alert_schema, quarantine_schema, metrics, projection, *_kinds()
        return built[key]

    def write(df: DataFrame, batch_id: int) -> None:
        spark = df.sparkSession
        cap = min(max(int(spark.conf.get(QUARANTINE_ON_DRIVER, str(DEFAULT_QUARANTINE_ON_DRIVER))), 0), MAX_K)
        alert_schema, quarantine_schema, metrics, projection, scored_rows, quarantine_rows = columns(
            df.schema[d].dataType, cap
        )
        # dictionaries of ~70 columns of distinct doubles cost the write ~a quarter of the
        # state stage's JVM time and save nothing; the device column keeps its own
        scored_sink = sink(
            spark, "scored", {"parquet.enable.dictionary": "false", f"parquet.enable.dictionary#{d}": "true"}
        )
        alerts_sink, quarantine_sink = sink(spark, "alerts"), sink(spark, "quarantine")
        df = df.withColumn(features.order, order).crossJoin(_batch_id(spark, batch_id))
        cached = overflowed[0]
        if cached:
            df.persist()
        try:
            seen = Observation("sensorpipe_sinks")
            scored = df.observe(seen, *metrics).where(scored_rows)
            merging(*[each.path for each in (scored_sink, alerts_sink, quarantine_sink)])  # failed: raised
            commit_batch(scored.select(*projection), scored_sink, batch_id)
            n = seen.get
            alerts = sorted(n["alerts"], key=lambda r: (r[0], r[1]))
            if alerts or not alerts_sink.has_data():
                commit_rows(alerts, alert_schema, alerts_sink, batch_id)
            overflowed[0] = n["quarantine"] > cap
            if overflowed[0]:  # the list holds only the first `cap`: Spark writes them all
                commit_batch(
                    df.where(quarantine_rows).select(*quarantine_schema.fieldNames()),
                    quarantine_sink,
                    batch_id,
                )
            elif n["quarantine"] or not quarantine_sink.has_data():
                rows = [(*r, batch_id) for r in n.get("quarantine_rows") or []]
                commit_rows(rows, quarantine_schema, quarantine_sink, batch_id)
            committed = time.time()
            by_batch[batch_id] = batch_figures(n, len(alerts), committed)
        finally:
            if cached:
                df.unpersist()
        fanin = int(spark.conf.get(COMPACT_FILES, str(DEFAULT_COMPACT_FILES)))
        target = int(spark.conf.get(COMPACT_BYTES, str(DEFAULT_COMPACT_BYTES)))
        if any(each.due(batch_id, fanin, target) for each in sinks.values()):
            if not merges:
                merges.append(spark.newSession())
                merges[0].conf.set("spark.sql.session.timeZone", "UTC")
            merge_in_background(
                [scored_sink, alerts_sink, quarantine_sink], merges[0], batch_id, fanin, target
            )

    return write


def _metrics(
    features: FeatureConfig, alert_schema: T.StructType, quarantine_schema: T.StructType, cap: int, order_is_time: bool
) -> list:  # fmt: skip
    """What a batch's Observation takes of the state's output (see batch_writer)."""
    scored, quarantine = _kinds()
    metrics = [
        F.count_if(scored).alias("scored"),
        F.count_if(quarantine).alias("quarantine"),
        F.collect_list(F.when(scored & F.col("alert"), _driver_row(alert_schema, features))).alias("alerts"),
    ]
    if cap:  # null keys (the scored rows) are not taken
        key = F.when(quarantine, F.struct(*QUARANTINE_KEY))
        row = F.when(quarantine, _driver_row(quarantine_schema, features, batch=False))
        metrics.append(F.min_by(row, key, cap).alias("quarantine_rows"))
    metrics += [F.count_if(F.col("reason") == r).alias(r) for r in QUARANTINE_REASONS]
    if order_is_time:  # epoch microseconds
        event_us = F.when(scored, F.col(ORDER))
        metrics.append(F.percentile(event_us, [0.05, 0.5]).alias("event_us"))
        metrics.append(F.avg(event_us).alias("event_us_mean"))
    return metrics


def _kinds() -> tuple:
    """Whether a row of the state's output is scored, or quarantined."""
    return F.col("kind") == "scored", F.col("kind") == "quarantine"


def _batch_id(spark: SparkSession, batch_id: int) -> DataFrame:
    """The batch id as a one-row table for a cross join: a long literal would be inlined into
    the generated code of the batch's plan, so each batch would compile its plan anew (Janino
    on the driver, then the JIT again: at 5,000 events/s ~0.3 s of a 1.26 s batch, with the
    C2 compiler busy 60% of a core); a broadcast row leaves the code the same every batch."""
    return F.broadcast(spark.sql(f"SELECT * FROM VALUES ({int(batch_id)}L) AS t(batch_id)"))


def _driver_row(schema: T.StructType, features: FeatureConfig, batch: bool = True):
    """A struct of the schema's columns as the driver collects them: the order column as the
    state emits it (epoch microseconds when a time: see _arrow_type); batch_id, a constant,
    added on the driver unless `batch`."""
    names = [n for n in schema.fieldNames() if batch or n != "batch_id"]
    return F.struct(*[F.col(ORDER).alias(n) if n == features.order else F.col(n) for n in names])


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


def _quarantine_schema(features: FeatureConfig, device_type: T.DataType, order_is_time: bool) -> T.StructType:
    """quarantine/: reason, raw line, source, line number, device, event time (or order), batch."""
    return T.StructType(
        [
            T.StructField("reason", T.StringType()),
            T.StructField("raw", T.StringType()),
            T.StructField("source", T.StringType()),
            T.StructField("line", T.LongType()),
            T.StructField(features.device, device_type),
            T.StructField(features.order, T.TimestampType() if order_is_time else T.LongType()),
            T.StructField("batch_id", T.LongType(), nullable=False),  # Spark writes a literal so
        ]
    )
