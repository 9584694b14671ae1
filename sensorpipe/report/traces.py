"""Sensor traces of alerted devices for `sensorpipe report`: each reading of a few
devices from the stream's scored/ sink (sensorpipe.store.sinks: the files its manifest
names; a filtered scan: only their rows are read), with the alerts and the recorded
failures marked."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from sensorpipe.report.html import absent, figure, figure_uri, img
from sensorpipe.store.sinks import dataset, read_table

SENSORS = ("temperature", "vibration", "pressure", "rpm", "load")
TRACED = 3  # devices whose traces are drawn
MAX_TRACE = 20_000  # latest readings drawn per device


def _traced_devices(alerts: pd.DataFrame, failures) -> list:
    """Alerted devices that failed first, then the most confident alerts."""
    failed = set(failures["device_id"]) if failures is not None else set()
    best = (
        alerts.groupby("device_id")["probability"].max()
        if "probability" in alerts
        else alerts.groupby("device_id").size()
    )
    order = sorted(best.index, key=lambda d: (d not in failed, -best[d], d))
    return order[:TRACED]


def traces(scored: Path, alerts: pd.DataFrame, failures) -> str:
    data = dataset(scored)
    if data is None:
        return absent("scored/: absent: no sensor traces")
    devices = _traced_devices(alerts, failures)
    names = set(data.schema.names)
    sensors = [s for s in SENSORS if s in names]
    columns = ["device_id", "ts", *sensors] + (["probability"] if "probability" in names else [])
    figures = []
    for device in devices:
        where = (ds.field("device_id") == device) & _window(data, alerts, failures, device)
        rows = read_table(scored, columns=columns, filter=where).to_pandas()
        rows["ts"] = pd.to_datetime(rows["ts"], utc=True)
        rows = rows.sort_values("ts").tail(MAX_TRACE)
        figures.append(_trace_figure(device, rows, sensors, alerts, failures))
    return "<h3>Alerted devices</h3>" + "".join(figures)


def _window(data: ds.Dataset, alerts: pd.DataFrame, failures, device):
    """Readings from a day before the device's first alert to a day after its last alert
    or failure, so a long stream is not read whole for one device."""
    marks = list(alerts.loc[alerts["device_id"] == device, "ts"])
    if failures is not None:
        marks += list(failures.loc[failures["device_id"] == device, "ts"])
    kind = data.schema.field("ts").type
    if not marks or not pa.types.is_timestamp(kind):
        return ds.scalar(True)
    day = pd.Timedelta(days=1)
    lo, hi = (
        (t if kind.tz else t.tz_convert(None)).to_pydatetime() for t in (min(marks) - day, max(marks) + day)
    )
    return (ds.field("ts") >= pa.scalar(lo, type=kind)) & (ds.field("ts") <= pa.scalar(hi, type=kind))


def _trace_figure(device, rows: pd.DataFrame, sensors: list[str], alerts, failures) -> str:
    series = sensors + (["probability"] if "probability" in rows else [])
    fig = figure((10.5, 0.72 * len(series) + 0.8))
    marks = alerts.loc[alerts["device_id"] == device, "ts"]
    failed = failures.loc[failures["device_id"] == device, "ts"] if failures is not None else []
    first = None
    for i, name in enumerate(series):
        ax = fig.add_subplot(len(series), 1, i + 1, sharex=first)
        first = first or ax
        ax.plot(rows["ts"], rows[name], lw=0.8, c="#2b6cb0" if name != "probability" else "#c05621")
        ax.set_ylabel(name, fontsize=7, rotation=0, ha="right", va="center")
        ax.tick_params(labelsize=6)
        for t in marks:
            ax.axvline(t, c="#e53e3e", lw=1.0)
        for t in failed:
            ax.axvline(t, c="black", lw=1.2, ls="--")
        if i < len(series) - 1:
            ax.tick_params(labelbottom=False)
    fig.suptitle(f"{device}: red lines alerts, dashed black the recorded failure", fontsize=9)
    fig.tight_layout()
    return img(figure_uri(fig), f"sensor traces of {device}", f"{device}: {len(rows):,} scored readings")
