"""What the stream says of itself, per micro-batch: a line of OUT/metrics.jsonl, a console line,
and, with `--metrics-port`, the same figures for Prometheus, served from the driver.

A metrics.jsonl line is Spark's StreamingQueryProgress plus a "sensorpipe" object counting
events, not files (Spark's numInputRows counts the landing files a batch read):

    {"events": 800, "scored": 790, "quarantined": 10,
     "quarantined_by_reason": {"malformed_row": 4, "late": 6}, "alerts": 2,
     "batch_seconds": 1.2, "watermark": "2026-11-01T00:08:00.000Z",
     "state_rows": 2, "state_bytes": 81234,
     "latency_p50_s": 1.9, "latency_p95_s": 2.6, "latency_mean_s": 2.0}

events: the lines the batch read; state_rows / state_bytes: the state store's (one row per
bucket of devices, each packing its devices' readings); latency: seconds from a scored row's
event time to its commit (only when the order column is a time).
"""

from __future__ import annotations

import json
import sys
import threading
from collections import Counter
from datetime import UTC, datetime

from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQueryListener

from sensorpipe.core.rows import REASONS
from sensorpipe.spark.hfs import HadoopFS
from streaming.logic import LATE

QUARANTINE_REASONS = (*REASONS, LATE)


def batch_figures(observed, alerts: int, committed: float) -> dict:
    """What batch_writer (streaming/sinks.py) observed of a batch's output, committed at `committed`."""
    by_reason = {r: observed[r] for r in QUARANTINE_REASONS if observed[r]}
    doc = {"scored": observed["scored"], "quarantined": observed["quarantine"]}
    doc.update(quarantined_by_reason=by_reason, alerts=alerts, committed_at=_iso(committed))
    quantiles, mean = observed.get("event_us"), observed.get("event_us_mean")
    if quantiles:  # null when the batch scored no row
        p05, p50 = quantiles
        doc["latency_p50_s"] = round(committed - p50 / 1e6, 3)
        doc["latency_p95_s"] = round(committed - p05 / 1e6, 3)  # the oldest rows waited longest
        doc["latency_mean_s"] = round(committed - mean / 1e6, 3)
    return doc


def _iso(epoch_s: float) -> str:
    """Epoch seconds -> ISO 8601 UTC to the millisecond, as Spark's progress writes times."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def batch_line(progress: dict, figures: dict | None) -> dict:
    """The "sensorpipe" object of a metrics.jsonl line: Spark's progress and batch_figures."""
    state = (progress.get("stateOperators") or [{}])[0]
    observed = progress.get("observedMetrics", {}).get("sensorpipe", {})
    return {
        "events": observed.get("events", 0),
        **(figures or {"scored": None, "quarantined": None, "alerts": None}),
        "batch_seconds": progress.get("durationMs", {}).get("triggerExecution", 0) / 1000,
        "watermark": progress.get("eventTime", {}).get("watermark"),
        "state_rows": state.get("numRowsTotal"),
        "state_bytes": state.get("memoryUsedBytes"),
    }


class StreamStats:
    """Totals over this process's batches and the last batch's gauges (what Prometheus reads)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.batches = self.events = self.scored = self.alerts = 0
        self.quarantined: Counter = Counter()
        self.latency_count, self.latency_sum = 0, 0.0
        self.last: dict = {}

    def add(self, line: dict) -> None:
        with self.lock:
            self.batches += 1
            self.events += line["events"]
            self.scored += line.get("scored") or 0
            self.alerts += line.get("alerts") or 0
            self.quarantined.update(line.get("quarantined_by_reason") or {})
            if "latency_mean_s" in line:
                self.latency_count += line["scored"]
                self.latency_sum += line["latency_mean_s"] * line["scored"]
            self.last = line


def appender(spark: SparkSession, path: str):
    """A function appending text to a file: a local one, or one on HDFS (Hadoop's append).
    A path without a scheme is on the default file system (HDFS with HADOOP_CONF_DIR set), as
    the sinks beside it are."""
    if "://" not in path and not path.startswith("file:"):
        path = HadoopFS(spark).qualify(path)
    if path.startswith("file:"):
        local = path.removeprefix("file://").removeprefix("file:")

        def append_local(text: str) -> None:
            with open(local, "a", encoding="utf-8") as fh:
                fh.write(text)

        return append_local
    fs = HadoopFS(spark)
    return lambda text: fs.append(path, text.encode())


class ProgressListener(StreamingQueryListener):
    """Per micro-batch: a console line, a metrics.jsonl line (Spark's progress with batch_line
    added; a replayed batch is appended again) and the batch added to `stats`."""

    def __init__(self, append, by_batch: dict, echo=None, stats: StreamStats | None = None):
        self.append, self.by_batch, self.stats = append, by_batch, stats or StreamStats()
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
        ours = doc["sensorpipe"] = batch_line(doc, self.by_batch.pop(p.batchId, None))
        self.append(json.dumps(doc) + "\n")
        self.stats.add(ours)
        seconds = ours["batch_seconds"]
        rate = ours["events"] / seconds if seconds else 0.0
        self.echo(
            f"batch {p.batchId}: {ours['events']:,} events in {seconds:.1f} s ({rate:,.0f} events/s),"
            f" {ours['quarantined'] or 0} quarantined, {ours['alerts'] or 0} alerts"
        )


def serve(port: int, stats: StreamStats, addr: str = "0.0.0.0") -> None:
    """Serve `stats` at http://ADDR:PORT/metrics from a daemon thread (prometheus-client)."""
    from prometheus_client import start_http_server  # noqa: PLC0415 (only with --metrics-port)
    from prometheus_client.registry import CollectorRegistry  # noqa: PLC0415

    registry = CollectorRegistry(auto_describe=True)
    registry.register(_Collector(stats))
    start_http_server(port, addr, registry)


class _Collector:
    """StreamStats as Prometheus metric families, read at each scrape."""

    def __init__(self, stats: StreamStats):
        self.stats = stats

    def collect(self):
        from prometheus_client.core import (  # noqa: PLC0415
            CounterMetricFamily,
            GaugeMetricFamily,
            SummaryMetricFamily,
        )

        s = self.stats
        with s.lock:
            yield CounterMetricFamily("sensorpipe_stream_batches", "micro-batches completed", s.batches)
            yield CounterMetricFamily("sensorpipe_stream_events", "event lines read", s.events)
            yield CounterMetricFamily("sensorpipe_stream_scored", "events scored", s.scored)
            quarantined = CounterMetricFamily(
                "sensorpipe_stream_quarantined", "events quarantined, by reason", labels=["reason"]
            )
            for reason in QUARANTINE_REASONS:
                quarantined.add_metric([reason], s.quarantined[reason])
            yield quarantined
            yield CounterMetricFamily("sensorpipe_stream_alerts", "alerts raised", s.alerts)
            yield SummaryMetricFamily(
                "sensorpipe_stream_event_commit_latency_seconds",
                "seconds from a scored event's time to its commit",
                count_value=s.latency_count,
                sum_value=s.latency_sum,
            )
            last = s.last
            gauges = {
                "last_batch_duration_seconds": ("the last batch's duration", last.get("batch_seconds")),
                "watermark_seconds": (
                    "the event-time watermark, epoch seconds",
                    _epoch(last.get("watermark")),
                ),
                "state_rows": ("rows of the devices' state (one per bucket)", last.get("state_rows")),
                "state_bytes": ("bytes of the devices' state in memory", last.get("state_bytes")),
            }
            for name, (doc, value) in gauges.items():
                if value is not None:
                    yield GaugeMetricFamily(f"sensorpipe_stream_{name}", doc, value)
            latency = GaugeMetricFamily(
                "sensorpipe_stream_last_batch_latency_seconds",
                "the last batch's event-to-commit latency quantiles",
                labels=["quantile"],
            )
            for q, key in (("0.5", "latency_p50_s"), ("0.95", "latency_p95_s")):
                if key in last:
                    latency.add_metric([q], last[key])
            yield latency


def _epoch(iso: str | None) -> float | None:
    return None if not iso else datetime.fromisoformat(iso).timestamp()
