"""Judging predictions per event, as DESIGN.md ("Judging predictions") defines it: alerts
(one per device per episode, at the reading that opened it) against a failure log, over the
time each device was monitored. One definition for train, evaluate, report and the demo.

With W = [alerts] window_hours and L = min_lead_hours, for a failure at f and an alert at a
(both of the same device; times are tz-aware timestamps):
- a failure is judged when its device was monitored over the whole catching window:
  first scored reading <= f - W and last scored reading >= f - L (a feed that stopped, or a
  stream still behind, before the window closed cannot be blamed); others are unjudged;
- a judged failure is caught when an alert opened in [f - W, f - L], both ends included;
  its lead is f minus the earliest such alert, in hours;
- an alert is false when no failure follows within W: none in (a, a + W]. So an alert at
  exactly f - W catches f and is not false; one in (f - L, f) is too late to catch f but
  is not false either (a failure follows); one at f itself or after it is false unless a
  next failure follows. An alert whose W runs past its device's last scored reading is
  still judged (DESIGN's words); `false_open` counts the false ones among them.
- one alert may catch several failures (each whose window holds it);
- monitored time is each device's last minus first scored reading, summed: device-days.

`episodes` / `alerts_from_scores` turn per-reading probabilities into alerts the stream's way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

HOUR = pd.Timedelta(hours=1)
DAY = pd.Timedelta(days=1)
NONE = pd.DatetimeIndex([], tz="UTC")


def _times(frame: pd.DataFrame, device: str, ts: str) -> dict:
    """Per device, the times of its rows (a DatetimeIndex)."""
    return {d: pd.DatetimeIndex(g[ts]) for d, g in frame.groupby(device)}


@dataclass(frozen=True)
class Episodes:
    """A device's alert state between batches of its readings."""

    count: int = 0  # episodes opened so far
    open: bool = False
    below_since: int | None = None  # event time (us) of the first reading below, while open
    opened_at: int | None = None  # event time (us) of the open episode's alert


def episodes(
    event_us: np.ndarray, proba: np.ndarray, threshold: float, quiet_us: int, state: Episodes,
    repeat_us: int | None = None,
) -> tuple[np.ndarray, np.ndarray, Episodes]:  # fmt: skip
    """(alert per reading, episode number per reading, the state after) for one device's
    readings in event-time order. An episode opens when the probability reaches the threshold
    (that reading is the alert) and ends once it has stayed below for `quiet`, counted from
    the first reading below. With `repeat_us` ([alerts] repeat_hours) a reading at or above
    the threshold `repeat_us` or more after the open episode's alert ends it and opens the
    next: a standing alarm is raised again. The stream's rule too (streaming/logic.py)."""
    alert = np.zeros(len(proba), dtype=bool)
    number = np.zeros(len(proba), dtype=np.int32)
    count, is_open, below, opened = state.count, state.open, state.below_since, state.opened_at
    for i, (t, p) in enumerate(zip(event_us.tolist(), proba.tolist())):
        if p >= threshold:
            below = None
            again = is_open and repeat_us is not None and opened is not None and t - opened >= repeat_us
            if not is_open or again:
                count, is_open, alert[i], opened = count + 1, True, True, t
        elif is_open:
            below = t if below is None else below
            if t - below >= quiet_us:
                is_open, below, opened = False, None, None
        number[i] = count
    return alert, number, Episodes(count, is_open, below, opened)


def alerts_from_scores(
    scored: pd.DataFrame, threshold: float, quiet_us: int, device="device_id", ts="ts", proba="probability",
    repeat_us: int | None = None,
) -> pd.DataFrame:  # fmt: skip
    """Alerts (device, ts) of scored readings, per device in time order, the stream's way."""
    rows = scored.sort_values([device, ts], kind="stable")
    t = rows[ts].to_numpy(dtype="datetime64[us]").astype(np.int64)
    p = rows[proba].to_numpy(dtype=float)
    flags = np.zeros(len(rows), dtype=bool)
    for idx in rows.groupby(device, sort=False).indices.values():
        flags[idx] = episodes(t[idx], p[idx], threshold, quiet_us, Episodes(), repeat_us)[0]
    return rows.loc[flags, [device, ts]].reset_index(drop=True)


def monitored_spans(scored: pd.DataFrame, device="device_id", ts="ts") -> pd.DataFrame:
    """Per device, its first and last scored reading (columns first, last; indexed by device)."""
    return scored.groupby(device)[ts].agg(first="min", last="max")


def judge_failures(
    failures: pd.DataFrame, alerts: pd.DataFrame, spans: pd.DataFrame, window_hours=72.0, min_lead_hours=1.0,
    device="device_id", ts="ts",
) -> pd.DataFrame:  # fmt: skip
    """The failure log with judged, caught (both bool), first_alert and lead_hours (NaN/NaT
    when not caught), in the log's order."""
    w, lead = window_hours * HOUR, min_lead_hours * HOUR
    first = failures[device].map(spans["first"])
    last = failures[device].map(spans["last"])
    judged = (first <= failures[ts] - w) & (last >= failures[ts] - lead)
    earliest, by_device = [], _times(alerts, device, ts)
    for dev, f in zip(failures[device], failures[ts]):
        times = by_device.get(dev, NONE)
        inside = times[(times >= f - w) & (times <= f - lead)]
        earliest.append(inside.min() if len(inside) else pd.NaT)
    out = failures.assign(first_alert=pd.to_datetime(pd.Series(earliest, index=failures.index), utc=True))
    out["judged"] = judged.to_numpy(dtype=bool)
    out["caught"] = out["judged"] & out["first_alert"].notna()
    out["first_alert"] = out["first_alert"].where(out["caught"])
    out["lead_hours"] = (out[ts] - out["first_alert"]) / HOUR
    return out


def judge_alerts(
    alerts: pd.DataFrame, failures: pd.DataFrame, spans: pd.DataFrame, window_hours=72.0,
    device="device_id", ts="ts",
) -> pd.DataFrame:  # fmt: skip
    """The alerts with false (no failure of the device in (ts, ts + W]) and open (ts + W
    after the device's last scored reading), both bool."""
    w = window_hours * HOUR
    false, by_device = [], _times(failures, device, ts)
    for dev, a in zip(alerts[device], alerts[ts]):
        times = by_device.get(dev, NONE)
        false.append(not ((times > a) & (times <= a + w)).any())
    end = alerts[device].map(spans["last"])
    return alerts.assign(false=np.array(false, dtype=bool), open=(alerts[ts] + w > end).to_numpy(dtype=bool))


def event_metrics(
    alerts: pd.DataFrame, failures: pd.DataFrame, spans: pd.DataFrame, window_hours=72.0, min_lead_hours=1.0,
    device="device_id", ts="ts", mode="mode",
) -> dict:  # fmt: skip
    """The event figures: failures judged / unjudged, caught / missed (in all and per mode),
    lead hours (median, p10: a tenth of the catches came later than it), alerts and false
    alerts, monitored device-days and false alerts per device-day (None without any)."""
    f = judge_failures(failures, alerts, spans, window_hours, min_lead_hours, device, ts)
    a = judge_alerts(alerts, failures, spans, window_hours, device, ts)
    judged = f[f["judged"]]
    leads = judged["lead_hours"].dropna().to_numpy(dtype=float)
    days = float((spans["last"] - spans["first"]).sum() / DAY) if len(spans) else 0.0
    false = int(a["false"].sum())
    by_mode = {
        str(m): {"caught": int(g["caught"].sum()), "missed": int((~g["caught"]).sum())}
        for m, g in judged.groupby(mode, sort=True)
    }
    return {
        "window_hours": float(window_hours),
        "min_lead_hours": float(min_lead_hours),
        "failures": len(f),
        "judged": len(judged),
        "unjudged": len(f) - len(judged),
        "caught": int(judged["caught"].sum()),
        "missed": int((~judged["caught"]).sum()),
        "by_mode": by_mode,
        "lead_median_hours": float(np.median(leads)) if len(leads) else None,
        "lead_p10_hours": float(np.percentile(leads, 10)) if len(leads) else None,
        "alerts": len(a),
        "false_alerts": false,
        "false_open": int((a["false"] & a["open"]).sum()),
        "device_days": days,
        "false_per_device_day": false / days if days > 0 else None,
    }


def judge_scores(
    scored: pd.DataFrame, failures: pd.DataFrame, threshold: float, quiet_us: int, window_hours=72.0,
    min_lead_hours=1.0, device="device_id", ts="ts", proba="probability", repeat_us: int | None = None,
) -> dict:  # fmt: skip
    """event_metrics of the alerts scored readings raise (alerts_from_scores), over the spans of
    their devices; failures of other devices are left out. Adds the threshold and quiet hours."""
    alerts = alerts_from_scores(scored, threshold, quiet_us, device, ts, proba, repeat_us)
    spans = monitored_spans(scored, device, ts)
    failures = failures[failures[device].isin(spans.index)]
    figures = event_metrics(alerts, failures, spans, window_hours, min_lead_hours, device, ts)
    return figures | {"threshold": float(threshold), "quiet_hours": quiet_us / 3.6e9}
