"""Score live sensor events with the registry's current failure model (Structured Streaming).

    spark-submit --properties-file conf/spark-defaults.conf streaming/score_stream.py \\
        --spec conf/sensors.toml --model models/sensors --input LANDING --output OUT \\
        [--trigger "250 milliseconds" | --available-now] [--max-files-per-trigger N] [--maintenance LOG]

(`sensorpipe stream` runs exactly this.) streaming/source.py reads and validates the
JSON lines, streaming/logic.py keeps the devices' state (applyInPandasWithState on buckets of
devices, event time watermark from the spec's [stream] section) and scores, streaming/sinks.py writes
OUT/scored/, OUT/alerts/, OUT/quarantine/ exactly once, OUT/metrics.jsonl and a console
line per batch; the checkpoint is OUT/checkpoint/. Restarted with the same OUT, the job
resumes from its checkpoint, scoring with the model version it started with
(OUT/checkpoint/model.json; streaming/restarts.py).

Events are scored once their bucket's newest event time less the watermark delay reaches
them (streaming/logic.py; a bucket's held events wait for its next data); --available-now
drains everything: when its query ends, the devices still holding
events are sent a drain request and one more batch releases and scores all of them.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
from dataclasses import replace
from functools import partial

from py4j.protocol import Py4JError
from pyspark.errors import StreamingQueryException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.streaming import StreamingQuery
from pyspark.sql.streaming.state import GroupStateTimeout

from sensorpipe.core.log import announce
from sensorpipe.core.log import configure as configure_logging
from sensorpipe.core.spec import Spec, SpecError, load_spec
from sensorpipe.model.evaluate import stream_quiet_us
from sensorpipe.model.features import feature_config, unfitted
from sensorpipe.model.history import read_log
from sensorpipe.model.registry import ModelIntegrityError, model_of, read_version
from sensorpipe.spark.models import model_store, ship
from sensorpipe.spark.stoppable import die_with_parent, quiet_when_jvm_ends
from sensorpipe.store.base import Store
from streaming import restarts
from streaming.config import stream_config, with_stream
from streaming.logic import STATE_SCHEMA, Context, process_bucket
from streaming.metrics import ProgressListener, StreamStats, appender, serve
from streaming.sinks import batch_writer, settle
from streaming.source import (
    EVENT_TIME,
    ORDER,
    kafka_input,
    option_pair,
    read_drain,
    read_lines,
    source_options,
    with_validated,
)
from streaming.stopping import await_or_stop, guarded
from streaming.warmup import warm_up

BUCKET = "_bucket"
# How often the query looks for new data. A batch starts at the first trigger after its data
# lands (or right after a batch running longer): at 5,000 events/s a warm batch takes ~0.9 s
# here, so a 1 s trigger made an event wait up to a second more for its batch to start (alert
# p95 2.66-2.77 s against 2.44-2.48 s at 250 ms: bench/RESULTS-stream.md, 12-06). Spark's own
# default (0, a poll every 10 ms) lists a landing directory a hundred times a second when idle.
TRIGGER = "250 milliseconds"
log = logging.getLogger("streaming.score_stream")  # not __name__: spark-submit runs this file as __main__
_LISTENERS: dict = {}  # OUT -> its progress listener (one per output, replaced on a restart)


def make_context(
    spec: Spec, model_dir: str, maintenance: str | None = None, worker_columns=False, store: Store | None = None,
) -> Context:  # fmt: skip
    """Read and verify the current version (through `store`: by default the one its path
    names) and gather what the workers need; its bytes are broadcast when the query starts."""
    version = read_version(model_dir, store)
    model = model_of(version)
    features, stream = model.features, stream_config(spec)
    if unfitted(features) != feature_config(spec):
        raise SpecError(spec.path, "features", "differs from the model card's feature_config")
    if model.card.get("maintenance_log") and not maintenance:
        log.warning(
            "the model was trained with a maintenance log and none was given (--maintenance): `since`"
            " counts from each device's first reading in this stream, not from its last maintenance"
        )
    # a model trained on a cleaning output carries its cleaning parameters; one trained on raw
    # run-to-failure files (C-MAPSS) has none and scores the raw values, as its training did
    return Context(
        features=features,
        cleaning=model.card.get("cleaning", {}),
        threshold=model.threshold,
        quiet_us=quiet_us(stream, model.card),
        repeat_us=spec.alerts.repeat_us,
        top_k=stream.top_sensors,
        order_is_time=spec.column(_name(spec, features.order)).type == "timestamp",
        delay_us=stream.watermark_us,
        model=version,
        maintenance=read_log(maintenance, features) if maintenance else None,
        worker_columns=worker_columns,
    )


def quiet_us(stream, card: dict) -> int:
    """The alert episodes' quiet time: the spec's [stream] quiet when set, else the one the
    model card chose with its threshold (sensorpipe/model/alerting.py), else 30 minutes; the
    one rule `sensorpipe evaluate` judges with too (sensorpipe.model.evaluate)."""
    return stream_quiet_us(stream, card)


def _name(spec: Spec, out: str) -> str:
    return next(c.name for c in spec.columns if c.out == out)


def output_schema(ctx: Context, device_type) -> T.StructType:
    f = ctx.features
    fields = [T.StructField("kind", T.StringType()), T.StructField(f.device, device_type)]
    fields += [T.StructField(ORDER, T.LongType())]
    fields += [T.StructField(n, T.DoubleType()) for n in f.names]
    fields += [T.StructField("probability", T.DoubleType()), T.StructField("alert", T.BooleanType())]
    fields += [T.StructField("episode", T.IntegerType()), T.StructField("top_sensors", T.StringType())]
    fields += [T.StructField("threshold", T.DoubleType()), T.StructField("reason", T.StringType())]
    fields += [T.StructField("raw", T.StringType()), T.StructField("source", T.StringType())]
    fields += [T.StructField("line", T.LongType())]
    if ctx.worker_columns:
        fields += [T.StructField("worker_pid", T.LongType()), T.StructField("model_load", T.StringType())]
    return T.StructType(fields)


def scored_events(
    spark: SparkSession, spec: Spec, ctx: Context, landing: str, out: str, keys: list[int], max_files=None
) -> DataFrame:
    """The state's output stream: scored rows and quarantined lines, one schema (see Context).
    keys: the state's grouping key of each bucket (streaming/restarts.state_keys)."""
    lines = read_lines(spark, landing, max_files).observe("sensorpipe", F.count(F.lit(1)).alias("events"))
    lines = lines.unionByName(read_drain(spark, restarts.drain_dir(out)))
    events = lines.transform(with_validated(spec, ctx.features))
    # a bucket of devices per state key: one Python call does all of its devices (streaming/logic.py)
    bucket = restarts.bucket_key(F.col(ctx.features.device), keys)
    # a partial of a module function ships by reference: workers share the module's model cache,
    # filled from the broadcast bytes once per worker process
    body = partial(process_bucket, replace(ctx, model=ship(spark, ctx.model)))
    return (
        events.withColumn(BUCKET, bucket)
        .withWatermark(EVENT_TIME, stream_config(spec).watermark)
        .groupBy(BUCKET)
        .applyInPandasWithState(
            body,
            output_schema(ctx, events.schema[ctx.features.device].dataType),
            STATE_SCHEMA,
            "append",
            GroupStateTimeout.NoTimeout,  # late events reach the state (and quarantine) only without timeouts
        )
    )


def start(
    spark: SparkSession, spec: Spec, ctx: Context, landing: str, out: str,
    trigger: str | None = TRIGGER, max_files: int | None = None, echo=None, stats: StreamStats | None = None,
    stopping: threading.Event | None = None,
) -> StreamingQuery:  # fmt: skip
    """Start the query; trigger None means available-now (process what is there, then stop).
    Once `stopping` is set, a batch that starts writes nothing and ends the query (streaming/stopping.py)."""
    # the state's partitions: one task per core, each doing whole buckets (a restart keeps the
    # number its checkpoint was started with; Spark restores it from the offset log)
    buckets = restarts.bucket_count(spark, stream_config(spec).buckets)  # main pinned it in the spec
    partitions = min(buckets, spark.sparkContext.defaultParallelism)
    spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    restarts.make_drain_dir(spark, out)  # OUT too, on its file system
    by_batch: dict = {}  # what metrics.jsonl adds of each batch (streaming/sinks.py)
    old = _LISTENERS.pop(out, None)
    if old is not None:  # a restart in the same session: one progress line per batch, not two
        spark.streams.removeListener(old)
    batch_line = echo or log.info
    _LISTENERS[out] = ProgressListener(appender(spark, f"{out}/metrics.jsonl"), by_batch, batch_line, stats)
    spark.streams.addListener(_LISTENERS[out])
    keys = restarts.state_keys(spark, out, buckets)
    writer = (
        scored_events(spark, spec, ctx, landing, out, keys, max_files)
        .writeStream.foreachBatch(
            guarded(batch_writer(out, ctx.features, ctx.order_is_time, by_batch), stopping)
        )
        .option("checkpointLocation", f"{out}/checkpoint")
        .queryName("sensorpipe-stream")
    )
    writer = writer.trigger(availableNow=True) if trigger is None else writer.trigger(processingTime=trigger)
    return writer.start()


def run_available_now(
    spark: SparkSession, spec: Spec, ctx: Context, landing: str, out: str, max_files=None, echo=None, rounds=3,
    stats: StreamStats | None = None, stopping: threading.Event | None = None,
) -> None:  # fmt: skip
    """Process the files there, then drain: repeat while devices hold events (files may keep landing)."""
    for _ in range(rounds):
        query = start(spark, spec, ctx, landing, out, None, max_files, echo, stats, stopping)
        run_until_stopped(query, stopping)
        _flush_listeners(spark)
        if stopping is not None and stopping.is_set():
            return
        held = restarts.held_devices(spark, out)
        if not held:
            return
        restarts.request_drain(spark, out, _name(spec, ctx.features.device), held)


def run_until_stopped(query: StreamingQuery, stopping: threading.Event | None) -> None:
    """Wait for the query to end (an available-now one does); when `stopping` is set, end it at a
    batch boundary, nothing of a batch half-written (streaming/stopping.py); then for the
    sinks' merges still running in the background (streaming/sinks.py)."""
    try:
        await_or_stop(query, stopping)
    except BaseException:
        with contextlib.suppress(Exception):  # the query's own error is the one to report
            settle()
        raise
    settle()


def stop_on_signals(stopping: threading.Event) -> threading.Event:
    """SIGINT and SIGTERM set the event the run loop watches; a second signal ends the driver at
    once. (Called again once the session is up: pyspark's SparkContext sets a SIGINT handler of
    its own, which raises KeyboardInterrupt in whatever py4j call is running.)"""

    def handler(signum, _frame):
        if stopping.is_set():
            os._exit(128 + signum)
        stopping.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
    return stopping


def _flush_listeners(spark: SparkSession) -> None:
    """Wait until every listener (the progress writer among them) has seen every event so far."""
    spark._jsc.sc().listenerBus().waitUntilEmpty()


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    """The job's arguments; --kafka's topic and --kafka-option become the input
    kafka://BOOTSTRAP/TOPIC?OPTIONS (streaming/source.py)."""
    ap = argparse.ArgumentParser(description="Score live sensor events with the current model.")
    ap.add_argument("--spec", required=True)
    ap.add_argument(
        "--model", required=True, help="registry directory (its `current`) or a version directory"
    )
    source = ap.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", help="landing directory of JSON-lines files")
    source.add_argument("--kafka", metavar="BOOTSTRAP", help="read the events from Kafka (with --topic)")
    ap.add_argument("--topic", help="Kafka topic (--kafka)")
    ap.add_argument("--output", required=True, help="OUT: scored/, alerts/, quarantine/, checkpoint/")
    ap.add_argument("--trigger", default=TRIGGER, help='micro-batch interval, e.g. "1 second" or 1s')
    ap.add_argument("--available-now", action="store_true", help="process the files there, then stop")
    ap.add_argument("--max-files-per-trigger", type=int)
    ap.add_argument("--maintenance", help="maintenance log (device, ts): `since` counts from the last one")
    ap.add_argument(
        "--kafka-option", action="append", default=[], metavar="KEY=VALUE",
        help="a Kafka source option (maxOffsetsPerTrigger=N) or client property (security.protocol=SSL)",
    )  # fmt: skip
    ap.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    args = ap.parse_args(argv)
    if args.kafka and not args.topic:
        ap.error("--kafka needs --topic")
    if args.kafka_option and not args.kafka:
        ap.error("--kafka-option needs --kafka")
    if args.kafka:
        try:
            options = dict(map(option_pair, args.kafka_option))
            source_options(options)
        except ValueError as exc:
            ap.error(str(exc))
        args.input = kafka_input(args.kafka, args.topic, options)
    return args


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    configure_logging()  # -v / -q / --log-format of `sensorpipe`, through the environment
    die_with_parent()  # the JVM: a driver without it has nothing left to do
    stopping, stats = stop_on_signals(threading.Event()), StreamStats()
    if args.metrics_port is not None:
        try:
            serve(args.metrics_port, stats)
        except OSError as exc:
            print(f"sensorpipe: run failed: --metrics-port {args.metrics_port}: {exc}", file=sys.stderr)
            return 1
    try:
        spec = load_spec(args.spec)
    except SpecError as exc:
        print(f"sensorpipe: {exc}", file=sys.stderr)
        return 2
    spark = SparkSession.builder.appName("sensorpipe-stream").getOrCreate()
    quiet_when_jvm_ends(spark)
    stop_on_signals(stopping)
    try:
        try:
            pinned = restarts.pinned_version(spark, args.model, args.output)
            ctx = make_context(spec, pinned, args.maintenance, store=model_store(spark, pinned))
            buckets = stream_config(spec).buckets  # None: unset, resolved once here and pinned
            buckets = restarts.pin_model(spark, args.output, ctx.model.where, ctx.model.sha256, buckets)
            spec = with_stream(spec, buckets=buckets)
        except SpecError as exc:
            print(f"sensorpipe: {exc}", file=sys.stderr)
            return 2
        except (ModelIntegrityError, OSError, ValueError) as exc:
            print(f"sensorpipe: run failed: {exc}", file=sys.stderr)
            return 1
        warm_up(spark, spec, ctx, scored_events)  # the first batch's one-off costs, paid before it
        if args.available_now:
            run_available_now(
                spark, spec, ctx, args.input, args.output, args.max_files_per_trigger, stats=stats, stopping=stopping
            )  # fmt: skip
        else:
            trigger, max_files = _trigger(args.trigger), args.max_files_per_trigger
            query = start(
                spark, spec, ctx, args.input, args.output, trigger, max_files, stats=stats, stopping=stopping
            )
            run_until_stopped(query, stopping)
    except StreamingQueryException as exc:
        print(f"sensorpipe: run failed: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return 1
    except Py4JError:
        if not stopping.is_set():
            raise  # the JVM went first: a signal reached spark-submit's own process too
    finally:
        with contextlib.suppress(Py4JError):
            spark.stop()
    if stopping.is_set():
        announce(log, "sensorpipe: stream stopped after %d batches", stats.batches)  # shown even with -q
    return 0


def _trigger(text: str) -> str:
    """ "1s" / "500ms" / "2 seconds" -> Spark's interval text."""
    t = text.strip()
    for suffix, unit in (("ms", "milliseconds"), ("s", "seconds"), ("m", "minutes")):
        if t.endswith(suffix) and t[: -len(suffix)].replace(".", "", 1).isdigit():
            return f"{t[: -len(suffix)]} {unit}"
    return t


if __name__ == "__main__":
    # Run as a script this file is __main__; import the module so functions ship by reference.
    from streaming.score_stream import main as job_main

    sys.exit(job_main())
