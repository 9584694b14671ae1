"""The stream section of `sensorpipe report`, from a Structured Streaming scoring run.

    STREAM_OUT/metrics.jsonl   one StreamingQueryProgress JSON per line, as streaming/sinks.py
                               ProgressListener appends them: Spark's progress (timestamp,
                               batchId, numInputRows: files and drain requests, not events,
                               durationMs.triggerExecution, observedMetrics.sensorpipe.events:
                               the event lines read) and a "sensorpipe" object {"alerts",
                               "scored", "quarantined", "latency_p50_s", "latency_p95_s": event
                               time to commit of the batch's scored rows, when the order is a time}
    STREAM_OUT/scored/         Parquet sink: device_id, ts, sensor columns, probability
    STREAM_OUT/alerts/         Parquet sink: device_id, ts, probability, top_sensors
    TRUTH/failures.csv         device_id, ts, mode: the feed's truth, as `simulate --stream`
                               appends it (default LANDING/_truth; report/live.py judges the
                               alerts against it per event)

The sinks are read with sensorpipe.store.sinks (the files their manifest names: whole
batches only). Any missing file or field is reported as absent; a batch reported twice
(replayed after a restart) counts once. The traces of alerted devices: report/traces.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from sensorpipe.core.spec import Alerts
from sensorpipe.report.html import Section, absent, figure, figure_uri, fmt, img, table
from sensorpipe.report.live import NO_ALERTS, judge_live, live_part, read_spans, summary, truth_failures
from sensorpipe.report.traces import traces
from sensorpipe.store.sinks import read_table

MAX_ALERTS = 100_000
SHOWN_ALERTS = 15


def stream_section(stream: Path | None, truth: Path | None, objective: Alerts | None = None) -> Section:
    """truth: the feed's truth directory (report/live.py); objective: W and L to judge by
    (default: DESIGN's 72 h and 1 h)."""
    if stream is None:
        return Section("stream", "Stream", '<span class="absent">no stream run given</span>', "")
    progress = read_progress(stream / "metrics.jsonl")
    alerts = read_alerts(stream / "alerts")
    failures = truth_failures(truth) if truth else None
    parts, judged = [_progress_part(progress)], None
    spans = read_spans(stream / "scored")
    if failures is not None and spans is not None:  # no alerts at all: every judged failure missed
        judged = judge_live(NO_ALERTS if alerts is None else alerts, failures, spans, objective or Alerts())
    if alerts is not None or judged is not None:
        parts.append(live_part(judged, objective or Alerts(), failures is None, spans is None))
    parts.append(_alerts_part(alerts, failures))
    if alerts is not None and len(alerts):
        parts.append(traces(stream / "scored", alerts, failures))
    return Section("stream", "Stream", _summary(progress, alerts, judged and judged[0]), "".join(parts))


def read_progress(path: Path) -> pd.DataFrame | None:
    """One row per progress line that parses; missing fields are NaN."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    rows = []
    for line in lines:
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if not isinstance(doc, dict):
            continue
        ours = _dict(doc, "sensorpipe")
        duration = _dict(doc, "durationMs")
        trigger = duration["triggerExecution"] / 1000 if _number(duration.get("triggerExecution")) else None
        # The job's own event count, where it observes one, is the number of readings;
        # Spark's numInputRows counts source records (whole files, drain requests).
        events = _dict(_dict(doc, "observedMetrics"), "sensorpipe").get("events")
        counted = _number(events)
        spark_rows, spark_rps = doc.get("numInputRows"), doc.get("inputRowsPerSecond")
        input_rps = spark_rps
        if counted:  # Spark's rate: records over the time since the previous trigger; per event
            if not (_number(spark_rows) and _number(spark_rps)):
                input_rps = None
            elif spark_rows > 0:  # 0 records/s for records read: the first batch, no previous trigger
                input_rps = events * spark_rps / spark_rows if spark_rps > 0 else None
            else:
                input_rps = 0.0
        rows.append(
            {
                "time": doc.get("timestamp"),
                "batch": doc.get("batchId"),
                "rows": events if counted else spark_rows,
                "input_rps": input_rps,
                "processed_rps": events / trigger
                if counted and trigger
                else doc.get("processedRowsPerSecond"),
                "trigger_s": trigger,
                "alerts": ours.get("alerts"),
                "scored": ours.get("scored"),
                "quarantined": ours.get("quarantined"),
                "p50": ours.get("latency_p50_s"),
                "p95": ours.get("latency_p95_s"),
            }
        )
    columns = ["time", "batch", "rows", "input_rps", "processed_rps", "trigger_s", "alerts"]
    frame = pd.DataFrame(rows, columns=[*columns, "scored", "quarantined", "p50", "p95"])
    frame["time"] = pd.to_datetime(frame["time"], utc=True, errors="coerce")
    for col in frame.columns[1:]:
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    frame = frame.dropna(subset=["time"]).sort_values("time", kind="stable")
    # A batch replayed after a restart is reported again: its last report counts.
    replayed = frame["batch"].notna() & frame.duplicated(subset=["batch"], keep="last")
    return frame[~replayed].reset_index(drop=True)


def _dict(doc: dict, key: str) -> dict:
    value = doc.get(key)
    return value if isinstance(value, dict) else {}


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_alerts(path: Path) -> pd.DataFrame | None:
    """The alerts/ sink's rows (the files its manifest names); None when it holds none."""
    try:
        table_ = read_table(path)
    except (OSError, ValueError):
        return None
    if table_ is None:
        return None
    frame = table_.slice(0, MAX_ALERTS).to_pandas()
    if not {"device_id", "ts"} <= set(frame.columns):
        return None
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    if "top_sensors" in frame:
        frame["top_sensors"] = frame["top_sensors"].map(_sensors_text)
    return frame.sort_values(["ts", "device_id"], kind="stable").reset_index(drop=True)


def _sensors_text(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, str):
        return value
    return ", ".join(str(v) for v in value)


def _summary(progress, alerts, judged: dict | None) -> str:
    bits = []
    if progress is None or progress.empty:
        bits.append('<span class="absent">no progress metrics</span>')
    else:
        span = progress["time"].iloc[-1] - progress["time"].iloc[0]
        bits.append(
            f"{fmt(len(progress))} micro-batches over {_duration(span)}, {fmt(int(progress['rows'].sum()))} rows, "
            f"median <b>{fmt(_median(progress['processed_rps']), 1)} rows/s</b> processed"
        )
        if progress["scored"].notna().any():
            scored, quarantined = (int(progress[c].sum()) for c in ("scored", "quarantined"))
            bits.append(f"{fmt(scored)} scored, {fmt(quarantined)} quarantined")
        if progress["trigger_s"].notna().any():
            bits.append(
                f"batch duration median {fmt(_median(progress['trigger_s']), 2)} s, "
                f"p95 {fmt(float(progress['trigger_s'].quantile(0.95)), 2)} s"
            )
        if progress["p95"].notna().any():
            bits.append(
                f"latency p95 median <b>{fmt(_median(progress['p95']), 2)} s</b> (event time to commit)"
            )
    if alerts is None:
        bits.append('<span class="absent">no alerts output</span>')
    else:
        bits.append(f"<b>{fmt(len(alerts))} alerts</b> on {fmt(alerts['device_id'].nunique())} devices")
    if judged is not None:
        bits.append(summary(judged))
    return "; ".join(bits)


def _median(series: pd.Series):
    values = series.dropna()
    return float(values.median()) if len(values) else None


def _duration(span: pd.Timedelta) -> str:
    seconds = span.total_seconds()
    return (
        f"{seconds:.0f} s"
        if seconds < 600
        else f"{seconds / 60:.1f} min"
        if seconds < 36_000
        else f"{seconds / 3600:.1f} h"
    )


def _progress_part(progress) -> str:
    if progress is None or progress.empty:
        return absent("metrics.jsonl: absent or empty: no throughput or latency to show")
    fig = figure((10.5, 2.9))
    ax = fig.add_subplot(1, 2, 1)
    for col, label in (("input_rps", "input rows/s"), ("processed_rps", "processed rows/s")):
        if progress[col].notna().any():
            ax.plot(progress["time"], progress[col], lw=1.2, label=label)
    ax.set(title="Throughput per micro-batch", ylabel="rows / s")
    ax.legend(fontsize=7, frameon=False)
    ax2 = fig.add_subplot(1, 2, 2)
    for col, label in (
        ("p50", "event latency p50"),
        ("p95", "event latency p95"),
        ("trigger_s", "batch duration"),
    ):
        if progress[col].notna().any():
            ax2.plot(progress["time"], progress[col], lw=1.2, label=label)
    ax2.set(title="Latency", ylabel="seconds")
    ax2.legend(fontsize=7, frameon=False)
    for a in (ax, ax2):
        a.tick_params(labelsize=7)
        a.tick_params(axis="x", rotation=25)
    fig.tight_layout()
    return "<h3>Throughput and latency</h3>" + img(
        figure_uri(fig), "throughput and latency over time", "Per micro-batch, from metrics.jsonl."
    )


def _alerts_part(alerts, failures) -> str:
    if alerts is None:
        return absent("alerts/: absent: no alert timeline")
    if alerts.empty:
        return "<h3>Alerts</h3><p>No alert was raised.</p>"
    listing = _listing(alerts, failures)
    if failures is not None:  # report/live.py draws the judged timeline
        return "<h3>Alerts</h3>" + listing
    devices = sorted(
        set(alerts["device_id"]) | (set(failures["device_id"]) if failures is not None else set())
    )
    pos = {d: i for i, d in enumerate(devices)}
    fig = figure((10.5, min(0.22 * len(devices), 7.0) + 1.3))
    ax = fig.add_subplot()
    color = alerts["probability"] if "probability" in alerts else "#c53030"
    points = ax.scatter(
        alerts["ts"],
        alerts["device_id"].map(pos),
        c=color,
        cmap="autumn_r",
        vmin=0.5,
        vmax=1.0,
        s=22,
        label="alert",
    )
    if failures is not None and len(failures):
        ax.scatter(
            failures["ts"], failures["device_id"].map(pos), marker="x", c="black", s=40, label="failure"
        )
    if "probability" in alerts:
        fig.colorbar(points, ax=ax, pad=0.01, label="probability")
    ax.set_yticks(range(len(devices)), devices if len(devices) <= 40 else [""] * len(devices), fontsize=7)
    ax.tick_params(axis="x", labelsize=7)
    ax.legend(fontsize=7, loc="upper left", frameon=False)
    ax.set(title="Alert timeline (event time)")
    fig.tight_layout()
    return (
        "<h3>Alerts</h3>"
        + img(figure_uri(fig), "alert timeline", "Each dot an alert, colored by probability; no truth given.")
        + listing
    )


def _listing(alerts, failures) -> str:
    shown = alerts.head(SHOWN_ALERTS)
    rows = [
        [
            r.device_id,
            r.ts.strftime("%Y-%m-%d %H:%M:%S"),
            getattr(r, "probability", None),
            getattr(r, "top_sensors", ""),
            _next_failure(r, failures),
        ]
        for r in shown.itertuples()
    ]
    return table(
        ["device", "alert at (event time)", "probability", "top sensors", "next failure (truth)"],
        rows,
        caption=f"First {len(shown)} of {fmt(len(alerts))} alerts",
    )


def _next_failure(alert, failures) -> str:
    if failures is None:
        return "unknown"
    later = failures[(failures["device_id"] == alert.device_id) & (failures["ts"] >= alert.ts)]
    if later.empty:
        return "none recorded"
    first = later.sort_values("ts").iloc[0]
    hours = (first["ts"] - alert.ts).total_seconds() / 3600
    return f"{first.get('mode', '')} {hours:.1f} h later".strip()
