"""The stream's expected features, written again from their definitions, for the stream's
tests to compare against: an engine independent of sensorpipe.model.features (whose
with_features and clean_sensors the stream itself calls).

Plain Python, one reading and one window at a time, straight from the definitions in the
docstring of sensorpipe/model/features.py (mean, population std, min, max, least-squares
slope per reading, delta since the window's first reading; `since` from the device's first
reading; warming) and the cleaning a model card keeps (impute -> clip -> scale). Slow: for the few
thousand readings of a test. tests/test_stream_logic.py checks it on values worked out by hand.
"""

from __future__ import annotations

import math

import pandas as pd

from sensorpipe.model.features import FeatureConfig


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


def features_by_definition(frame: pd.DataFrame, cleaning: dict, f: FeatureConfig) -> pd.DataFrame:
    """One row per reading of `frame` (raw readings), sorted by device and order: the device,
    the order, the cleaned sensors, every feature of f.names (`since` in seconds for a
    timestamp order) and `warming` (the reading's number within its device is below f.warmup)."""
    rows = []
    for device, group in frame.groupby(f.device, sort=True):
        readings = group.sort_values(f.order, kind="stable")
        times = readings[f.order].tolist()
        values = {
            s: [cleaned(v, cleaning[s]) if s in cleaning else float(v) for v in readings[s]]
            for s in f.sensors
        }
        for t, when in enumerate(times):
            since = when - times[0]
            since = since.total_seconds() if isinstance(since, pd.Timedelta) else float(since)
            row = {f.device: device, f.order: when, "since": since, "warming": t + 1 < f.warmup}
            row.update({s: values[s][t] for s in f.sensors})
            for n in f.windows:
                for s in f.sensors:
                    stats = window(values[s][max(0, t - n + 1) : t + 1])
                    row.update({f"{s}_{k}_{n}": v for k, v in stats.items()})
            rows.append(row)
    return pd.DataFrame(rows)
