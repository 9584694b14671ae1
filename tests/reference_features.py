"""The stream's expected features, written again from their definitions, for the stream's
tests to compare against: an engine independent of sensorpipe.model.features (whose
with_features and clean_sensors the stream itself calls).

Plain Python, one reading and one window at a time, straight from the definitions in the
docstring of sensorpipe/model/features.py (mean, population std, min, max, least-squares
slope per reading, delta since the window's first reading; `since` from the device's first
reading; warming) and the cleaning a model card keeps (impute -> clip -> scale), and the health
indicators from the contract in sensorpipe/model/health.py's docstring (hourly medians, the
degradation curve fitted on its grid by trying every cell on every prefix, the rolling
baseline). Slow: for the few thousand readings of a test. tests/test_stream_logic.py and
tests/test_health.py check it on values worked out by hand.
"""

from __future__ import annotations

import math
import statistics

import pandas as pd

from sensorpipe.model.features import FeatureConfig
from sensorpipe.model.health import GRID_A, GRID_R, HealthConfig

HOUR_S = 3600


def cleaned(value, p: dict) -> float:
    """One raw sensor value as a cleaning run writes it: fill a null, clip (an int column
    that is not scaled rounds a clipped value half to even), then (x - center) / divisor."""
    x = float(p["fill"]) if pd.isna(value) and p.get("fill") is not None else float(value)
    if p.get("bounds") is not None:
        lo, hi = p["bounds"]
        y = min(max(x, lo), hi)
        x = float(round(y)) if p.get("as_int") and y != x else y
    if p.get("divisor") is not None:
        x = (x - p["center"]) / p["divisor"] if p["divisor"] != 0 else 0.0
    return x


def window(w: list[float]) -> dict[str, float]:
    """The six statistics of one window, oldest reading first."""
    n = len(w)
    mean = sum(w) / n
    ibar = (n - 1) / 2
    sxx = sum((i - ibar) ** 2 for i in range(n))
    return {
        "mean": mean,
        "std": math.sqrt(sum((v - mean) ** 2 for v in w) / n),
        "min": min(w),
        "max": max(w),
        "slope": sum((i - ibar) * (v - mean) for i, v in enumerate(w)) / sxx if n > 1 else 0.0,
        "delta": w[-1] - w[0],
    }


def healthy_level(taus: list[float], ys: list[float]) -> float:
    """log c of the curve log y = log c + log(1 + 4 (a + r tau)^4) that fits (taus, log ys) best
    in the least-squares sense, trying each (a, r) of the grid in turn (a outer, r inner),
    log c the mean residual clipped to [m - log 2.3, m + log 1.05], m the lowest log y. Of
    fits equal within 1e-9 (relative; 1e-12 absolute) the first tried wins."""
    ly = [math.log(y) for y in ys]
    low = min(ly)
    fits = []
    for a in GRID_A:
        for r in GRID_R:
            g = [math.log(1.0 + 4.0 * (a + r * tau) ** 4) for tau in taus]
            e = [v - gi for v, gi in zip(ly, g)]
            lc = min(max(sum(e) / len(e), low - math.log(2.3)), low + math.log(1.05))
            fits.append((sum((ei - lc) ** 2 for ei in e), lc))
    least = min(sse for sse, _ in fits)
    return next(lc for sse, lc in fits if sse <= least + 1e-9 * least + 1e-12)


def health_by_definition(times: list, origins: list, values: dict, h: HealthConfig) -> list[tuple]:
    """(wear_level, drift_drop) of each reading of one device, readings in order; times and
    origins in seconds since the epoch, values the cleaned sensors (scaling undone here)."""
    raw = {s: list(v) for s, v in values.items()}
    for name, center, divisor in h.scale:
        raw[name] = [x * divisor + center for x in raw[name]]
    # the hourly medians of y = wear / speed and z = drift - k load over running readings,
    # one per (segment, hour), in the order of hour then segment
    groups: dict[tuple, list[int]] = {}
    for i, (when, origin) in enumerate(zip(times, origins)):
        if raw[h.speed][i] > h.min_speed:
            groups.setdefault((math.floor(when / HOUR_S), origin), []).append(i)
    hours = []
    for (hour, origin), idx in sorted(groups.items()):
        y = statistics.median(raw[h.wear][i] / raw[h.speed][i] for i in idx)
        z = statistics.median(raw[h.drift][i] - h.k * raw[h.load][i] for i in idx)
        hours.append({"hour": hour, "origin": origin, "y": y, "z": z})
    # drift_drop after each hourly row: the median of the last baseline_hours rows' z minus this z
    for j, row in enumerate(hours):
        zs = [r["z"] for r in hours[max(0, j - h.baseline_hours + 1) : j + 1]]
        row["drift_drop"] = statistics.median(zs) - row["z"] if len(zs) >= h.baseline_min else None
    # wear_level after each hourly row of a segment with fit_hours of them: its last
    # recent_hours medians' median over the curve's healthy level fitted to the segment so far
    for origin in dict.fromkeys(r["origin"] for r in hours):
        seg = [r for r in hours if r["origin"] == origin and r["y"] > 0]
        for j in range(h.fit_hours - 1, len(seg)):
            taus = [float(r["hour"] - seg[0]["hour"]) for r in seg[: j + 1]]
            ys = [r["y"] for r in seg[: j + 1]]
            recent = statistics.median(ys[max(0, j - h.recent_hours + 1) :])
            seg[j]["wear_level"] = recent / math.exp(healthy_level(taus, ys))
    # each reading: the last hourly row before its hour (wear_level: of its own segment)
    out = []
    for when, origin in zip(times, origins):
        before = [r for r in hours if r["hour"] < math.floor(when / HOUR_S)]
        own = [r for r in before if r["origin"] == origin]
        wear = own[-1].get("wear_level") if own else None
        drop = before[-1]["drift_drop"] if before else None
        out.append((1.0 if wear is None else wear, 0.0 if drop is None else drop))
    return out


def seconds(when) -> float:
    return when.timestamp() if isinstance(when, pd.Timestamp) else float(when)


def features_by_definition(
    frame: pd.DataFrame, cleaning: dict, f: FeatureConfig, maintenance: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per reading of `frame` (raw readings), sorted by device and order: the device,
    the order, the cleaned sensors, every feature of f.names (`since` in seconds for a
    timestamp order) and `warming` (the reading's number within its device is below f.warmup).
    `maintenance` (columns f.device and f.order): a device's latest maintenance at or before a
    reading, if later than its first reading, is the reading's origin."""
    rows = []
    for device, group in frame.groupby(f.device, sort=True):
        readings = group.sort_values(f.order, kind="stable")
        times = readings[f.order].tolist()
        done = (
            [] if maintenance is None else maintenance.loc[maintenance[f.device] == device, f.order].tolist()
        )
        origins = [max([times[0], *(m for m in done if m <= when)]) for when in times]
        used = dict.fromkeys([*f.sensors, *(f.health.sensors if f.health is not None else ())])
        values = {
            s: [cleaned(v, cleaning[s]) if s in cleaning else float(v) for v in readings[s]] for s in used
        }
        health = (
            health_by_definition([seconds(t) for t in times], [seconds(o) for o in origins], values, f.health)
            if f.health is not None
            else None
        )
        for t, when in enumerate(times):
            since = when - origins[t]
            since = since.total_seconds() if isinstance(since, pd.Timedelta) else float(since)
            row = {f.device: device, f.order: when, "since": since, "warming": t + 1 < f.warmup}
            row.update({s: values[s][t] for s in f.sensors})
            if health is not None:
                row.update({"wear_level": health[t][0], "drift_drop": health[t][1]})
            for n in f.windows:
                for s in f.sensors:
                    stats = window(values[s][max(0, t - n + 1) : t + 1])
                    row.update({f"{s}_{k}_{n}": v for k, v in stats.items()})
            rows.append(row)
    return pd.DataFrame(rows)
