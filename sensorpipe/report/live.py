"""The live proof in `sensorpipe report`'s stream section: the stream's alerts (OUT/alerts/)
judged against the feed's truth (`--truth DIR`: the failures.csv that `simulate --stream`
appends as it goes, by default in LANDING/_truth; DIR may be the landing directory itself),
per event with sensorpipe.model.events over each device's monitored time (its first to last
row in OUT/scored/). A timeline per device marks failures and alerts; tables list each
failure (caught / missed / unjudged, lead) and the false alerts.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sensorpipe.core.spec import Alerts
from sensorpipe.model.events import event_metrics, judge_alerts, judge_failures
from sensorpipe.report.html import absent, esc, figure, figure_uri, fmt, img, table
from sensorpipe.store.sinks import read_table

SHOWN_FALSE = 15
NO_ALERTS = pd.DataFrame({"device_id": pd.Series(dtype=str), "ts": pd.Series(dtype="datetime64[ns, UTC]")})
MAX_DEVICES = 40  # rows of the timeline figure


def truth_failures(truth: Path) -> pd.DataFrame | None:
    """DIR/failures.csv, or DIR/_truth/failures.csv when DIR is a landing directory."""
    for path in (truth / "failures.csv", truth / "_truth" / "failures.csv"):
        try:
            frame = pd.read_csv(path, dtype=str)
        except (OSError, ValueError):
            continue
        if {"device_id", "ts"} <= set(frame.columns):
            frame["ts"] = pd.to_datetime(frame["ts"], utc=True, errors="coerce")
            frame["mode"] = frame["mode"] if "mode" in frame else ""
            return frame.dropna(subset=["ts"]).reset_index(drop=True)
    return None


def read_spans(scored: Path) -> pd.DataFrame | None:
    """Per device (the index), its first and last scored reading; None without scored rows."""
    try:
        rows = read_table(scored, columns=["device_id", "ts"])
    except (OSError, ValueError, KeyError):
        return None
    if rows is None or not rows.num_rows:
        return None
    frame = rows.to_pandas()
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    frame["device_id"] = frame["device_id"].astype(str)
    return frame.groupby("device_id")["ts"].agg(first="min", last="max")


def judge_live(alerts: pd.DataFrame, failures: pd.DataFrame, spans: pd.DataFrame, objective: Alerts):
    """(event figures, failures judged, alerts judged, spans) of the streamed devices."""
    failures = failures[failures["device_id"].isin(spans.index)].reset_index(drop=True)
    alerts = alerts.assign(device_id=alerts["device_id"].astype(str))
    w, lead = objective.window_hours, objective.min_lead_hours
    figures = event_metrics(alerts, failures, spans, w, lead)
    judged_f = judge_failures(failures, alerts, spans, w, lead)
    return figures, judged_f, judge_alerts(alerts, failures, spans, w), spans


def summary(m: dict) -> str:
    """One line: caught of judged failures, leads, false alerts per device-day."""
    modes = ", ".join(f"{k} {v['caught']}/{v['caught'] + v['missed']}" for k, v in m["by_mode"].items())
    lead = (
        f", lead median {fmt(m['lead_median_hours'], 1)} h, p10 {fmt(m['lead_p10_hours'], 1)} h"
        if m["lead_median_hours"] is not None
        else ""
    )
    unjudged = f", {m['unjudged']} unjudged" if m["unjudged"] else ""
    return (
        f"against the feed's truth: <b>{m['caught']} of {m['judged']} failures caught</b>"
        f"{' (' + esc(modes) + ')' if modes else ''}{lead}"
        f"{unjudged}; <b>{m['false_alerts']} false alerts</b>"
        f" ({fmt(m['false_per_device_day'])} per device-day over {fmt(m['device_days'], 1)} device-days)"
    )


def live_part(judged, objective: Alerts, no_truth: bool, no_spans: bool) -> str:
    """The judged timeline and tables (judged: judge_live's result); what is missing is said."""
    if no_truth:
        return absent("no truth given (--truth DIR with failures.csv): the alerts are not judged")
    if no_spans:
        return absent("scored/: absent or empty: no monitored time to judge the alerts over")
    m, judged_f, judged_a, spans = judged
    rule = (
        f"A failure is caught by an alert of its device {objective.window_hours:g} h to"
        f" {objective.min_lead_hours:g} h before it; an alert is false when no failure of its device follows"
        f" within {objective.window_hours:g} h; a failure is judged when its device was scored over its whole"
        " window (DESIGN.md, Judging predictions)."
    )
    return (
        "<h3>Alerts judged per event</h3>"
        + f"<p>{summary(m)}. {esc(rule)}</p>"
        + img(figure_uri(_timeline(judged_a, judged_f, spans)), "alerts and failures per device", _CAPTION)
        + _failures_table(judged_f)
        + _false_table(judged_a)
    )


_CAPTION = (
    "Per device (event time): grey its scored span; crosses failures (green caught, red missed, grey"
    " unjudged); dots alerts (blue a warning before a failure, red false, orange false so far: its window"
    " runs past the stream's end)."
)


def _timeline(alerts: pd.DataFrame, failures: pd.DataFrame, spans: pd.DataFrame):
    devices = sorted(
        set(spans.index) & (set(alerts["device_id"]) | set(failures["device_id"])) or spans.index
    )
    devices = devices[:MAX_DEVICES]
    pos = {d: i for i, d in enumerate(devices)}
    fig = figure((10.5, 0.24 * len(devices) + 1.3))
    ax = fig.add_subplot()
    for d in devices:
        ax.plot([spans.at[d, "first"], spans.at[d, "last"]], [pos[d]] * 2, c="#cbd5e0", lw=3, zorder=1)
    f = failures[failures["device_id"].isin(pos)]
    status = [("caught", "#2f855a"), ("missed", "#c53030"), ("unjudged", "#a0aec0")]
    masks = [f["caught"], f["judged"] & ~f["caught"], ~f["judged"]]
    for (label, color), mask in zip(status, masks):
        part = f[mask.to_numpy(dtype=bool)]
        ax.scatter(
            part["ts"],
            part["device_id"].map(pos),
            marker="X",
            s=70,
            c=color,
            label=f"failure {label}",
            zorder=3,
        )
    a = alerts[alerts["device_id"].isin(pos)]
    kinds = [("warning", "#2b6cb0", ~a["false"]), ("false", "#e53e3e", a["false"] & ~a["open"])]
    kinds.append(("false so far", "#dd6b20", a["false"] & a["open"]))
    for label, color, mask in kinds:
        part = a[mask.to_numpy(dtype=bool)]
        ax.scatter(part["ts"], part["device_id"].map(pos), s=22, c=color, label=f"alert: {label}", zorder=2)
    ax.set_yticks(range(len(devices)), devices, fontsize=7)
    ax.tick_params(axis="x", labelsize=7)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.set(title="Alerts and failures per device (event time)")
    fig.tight_layout()
    return fig


def _failures_table(f: pd.DataFrame) -> str:
    def state(r) -> str:
        return "caught" if r.caught else "missed" if r.judged else "unjudged (watched too briefly)"

    rows = [
        [
            r.device_id,
            r.mode,
            r.ts.strftime("%Y-%m-%d %H:%M"),
            state(r),
            r.first_alert.strftime("%Y-%m-%d %H:%M") if r.caught else "",
            r.lead_hours if r.caught else None,
        ]
        for r in f.sort_values("ts", kind="stable").itertuples()
    ]
    headers = ["device", "mode", "failure at", "judged", "first alert in the window", "lead h"]
    return table(headers, rows, caption=f"The feed's {len(f)} failures on streamed devices")


def _false_table(a: pd.DataFrame) -> str:
    false = a[a["false"]].sort_values("ts", kind="stable")
    if false.empty:
        return "<p>No false alert.</p>"
    shown = false.head(SHOWN_FALSE)
    rows = [
        [
            r.device_id,
            r.ts.strftime("%Y-%m-%d %H:%M"),
            getattr(r, "probability", None),
            "yes" if r.open else "",
        ]
        for r in shown.itertuples()
    ]
    return table(
        ["device", "false alert at", "probability", "window runs past the stream's end"],
        rows,
        caption=f"First {len(shown)} of {len(false)} false alerts",
    )
