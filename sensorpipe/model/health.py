"""Per-device health indicators over each device's own history ([features.health]).

The rolling features (sensorpipe.model.features) see at most max(windows) readings; they
cannot tell a machine that runs rough from birth from one about to fail. These two
indicators compare a device with its own past, from hourly medians since its origin
(bench/health_study.py and bench/RESULTS-events.md show why and how far they go):

- `wear_level`: y = wear / speed (the operating regime cancels). Over the hourly medians
  of y since the device's origin (its first reading or last maintenance: a new segment),
  a degradation curve y = c (1 + 4 (a + r tau)^4) is fitted by least squares in log space
  (tau in hours since the segment's first hour; a and r from a fixed grid, log c the mean
  residual clipped to [m - log 2.3, m + log 1.05] with m the lowest log y so far). Fits
  within TIE (relative) of the best are equal, and the one of least a, then least r, wins:
  a flat segment fits every a equally at r = 0, and is read as unworn (a = 0). The
  indicator is the median of the segment's last `recent_hours` hourly medians over c: how
  far the device is above its own fitted healthy level. Defined once the segment has
  `fit_hours` hourly medians.
- `drift_drop`: z = drift - k load, k (drift per unit of load) fitted once per fleet by a
  within-device regression of hourly medians and kept in the model card. The indicator is
  the median of the device's last `baseline_hours` hourly medians of z (any segment) minus
  the latest one: how far it fell below its own recent level. Defined once the device has
  `baseline_min` hourly medians.

Contract, for the engines to match (batch and stream): values are on the raw scale (a
cleaned column's scaling undone with the card's center and divisor). A reading counts when
speed > min_speed (stopped machines are left out). An hour is the UTC hour of the order
column; the hourly median is over the counted readings of one (device, segment, hour).
A reading in hour H gets the indicators as they stood after the device's last hour before
H that has a median (for `wear_level`, of the reading's own segment): known when H begins,
so a stream computes them once a later hour's reading arrives. Where one is not defined yet
(a young segment, a new device) it takes its healthy value: 1.0 and 0.0.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from sensorpipe.core.spec import Spec, SpecError

WEAR_LEVEL, DRIFT_DROP = "wear_level", "drift_drop"
NAMES = (WEAR_LEVEL, DRIFT_DROP)
READY = "ready"  # an hourly row's indicators computed once its hour was complete (the stream's state)
HEALTH_KEYS = {
    "wear", "speed", "min_speed", "drift", "load", "fit_hours", "recent_hours", "baseline_hours", "baseline_min",
    "alert_wear", "alert_drop",
}  # fmt: skip
HOUR_US = 3_600_000_000
# the fit's grid: initial wear a (share of a life) and wear rate r (per hour; 1/120: a life in 5 days)
GRID_A = np.linspace(0.0, 0.75, 16)
GRID_R = np.linspace(0.0, 1.0 / 120.0, 16)
LOG_BELOW, LOG_ABOVE = np.log(2.3), np.log(1.05)
TIE = 1e-9  # sums of squares this close (relative, or 1e-12 absolute) are equal fits


@dataclass(frozen=True)
class HealthConfig:
    wear: str
    speed: str
    drift: str
    load: str
    min_speed: float = 0.0
    fit_hours: int = 48
    recent_hours: int = 3
    baseline_hours: int = 96
    baseline_min: int = 24
    # alert levels: a reading whose wear_level or drift_drop reaches one alerts whatever the
    # model says (sensorpipe/model/rule.py); None: the indicators are model inputs only
    alert_wear: float | None = None
    alert_drop: float | None = None
    # fitted on the training data (sensorpipe.model.features.fitted), kept in the model card:
    k: float | None = None  # drift per unit of load
    scale: tuple = ()  # (sensor, center, divisor) of each scaled sensor: undone to the raw scale

    @property
    def sensors(self) -> tuple[str, ...]:
        return (self.wear, self.speed, self.drift, self.load)

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        return out | {"scale": [list(s) for s in self.scale]}

    @staticmethod
    def from_dict(raw: dict) -> HealthConfig:
        return HealthConfig(**{**raw, "scale": tuple(tuple(s) for s in raw.get("scale", ()))})


def health_config(raw, spec: Spec, order: str) -> HealthConfig:
    """[features.health], validated: four numeric columns, a timestamp order, whole hours."""
    where = "features.health"
    if not isinstance(raw, dict):
        raise SpecError(spec.path, where, "must be a table")
    for key in raw:
        if key not in HEALTH_KEYS:
            raise SpecError(
                spec.path, f"{where}.{key}", f"unknown key (known: {', '.join(sorted(HEALTH_KEYS))})"
            )
    if spec.column(order).type != "timestamp":
        raise SpecError(spec.path, where, f"needs a timestamp order column ({order!r} is not)")
    names = {c.out for c in spec.columns}
    for key in ("wear", "speed", "drift", "load"):
        v = raw.get(key)
        if not isinstance(v, str) or v not in names or not spec.column(v).numeric:
            raise SpecError(spec.path, f"{where}.{key}", f"{v!r} is not a numeric column")
    sensors = spec.extra.get("features", {}).get("sensors", [])
    for key in ("wear", "speed", "drift", "load"):
        if raw[key] not in sensors:
            raise SpecError(spec.path, f"{where}.{key}", f"{raw[key]!r} is not one of [features] sensors")
    ints = {k: raw.get(k, f.default) for k, f in HealthConfig.__dataclass_fields__.items() if f.type == "int"}
    for key, v in ints.items():
        if type(v) is not int or v < 1:
            raise SpecError(spec.path, f"{where}.{key}", f"must be an integer >= 1, got {v!r}")
    speed = raw.get("min_speed", 0.0)
    if isinstance(speed, bool) or not isinstance(speed, (int, float)):
        raise SpecError(spec.path, f"{where}.min_speed", f"must be a number, got {speed!r}")
    levels = {}
    for key in ("alert_wear", "alert_drop"):
        v = raw.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0):
            raise SpecError(spec.path, f"{where}.{key}", f"must be a number > 0, got {v!r}")
        levels[key] = None if v is None else float(v)
    return HealthConfig(**{**raw, **ints, **levels, "min_speed": float(speed)})


def scales(cleaning: dict | None, config: HealthConfig) -> tuple:
    """(sensor, center, divisor) of the config's sensors a cleaning run scaled (its card's
    `cleaning` section)."""
    out = []
    for name in dict.fromkeys(config.sensors):
        p = (cleaning or {}).get(name) or {}
        if p.get("divisor"):
            out.append((name, float(p["center"]), float(p["divisor"])))
    return tuple(out)


def raw_values(frame: pd.DataFrame, config: HealthConfig) -> dict[str, np.ndarray]:
    """The config's sensors on their raw scale (cleaning's scaling undone)."""
    out = {s: frame[s].to_numpy(dtype=float) for s in config.sensors}
    for name, center, divisor in config.scale:
        out[name] = out[name] * divisor + center
    return out


def load_coefficient(hourly: pd.DataFrame) -> float:
    """k of drift - k load: the within-device regression slope of hourly medians
    (columns device, drift, load), each device's means removed."""
    d = hourly[["drift", "load"]] - hourly.groupby("device")[["drift", "load"]].transform("mean")
    den = float((d["load"] ** 2).sum())
    return float((d["drift"] * d["load"]).sum() / den) if den > 0 else 0.0


def hourly_medians(
    device: np.ndarray, segment: np.ndarray, order_us: np.ndarray, columns: dict[str, np.ndarray]
) -> pd.DataFrame:
    """One row per (device, segment, hour) with the median of each column over its readings,
    sorted by device, hour, segment. order_us: event time in microseconds since the epoch."""
    frame = pd.DataFrame({"device": device, "segment": segment, "hour": order_us // HOUR_US, **columns})
    keys = ["device", "hour", "segment"]
    out = frame.groupby(keys, sort=True).median().reset_index()
    return out[out[list(columns)].notna().any(axis=1)].reset_index(drop=True)


def fitted_levels(tau: np.ndarray, ly: np.ndarray) -> np.ndarray:
    """For each prefix 0..j of one segment's hourly log y (at hours tau since its start):
    log c of the least-squares curve log y = log c + log(1 + 4 (a + r tau)^4), over the grid
    of (a, r); of equal fits (within TIE) the first in the grid's order (a, then r) wins.
    Every prefix at once from running sums (a cumulative sum is sequential, so a prefix's
    value does not depend on what follows it)."""
    a, r = np.meshgrid(GRID_A, GRID_R, indexing="ij")
    g = np.log1p(4.0 * (a.reshape(-1, 1) + r.reshape(-1, 1) * tau.reshape(1, -1)) ** 4)
    cnt = np.arange(1, len(ly) + 1, dtype=float)
    sy, syy = np.cumsum(ly), np.cumsum(ly * ly)
    sg, sgg, sgy = np.cumsum(g, axis=1), np.cumsum(g * g, axis=1), np.cumsum(g * ly, axis=1)
    se = sy - sg  # sum of the residuals e = ly - g
    low = np.minimum.accumulate(ly)
    lc = np.clip(se / cnt, low - LOG_BELOW, low + LOG_ABOVE)
    sse = (syy - 2.0 * sgy + sgg) - 2.0 * lc * se + cnt * lc * lc
    least = sse.min(axis=0)
    best = np.argmax(sse <= least + TIE * np.abs(least) + 1e-12, axis=0)  # the first equal fit
    return lc[best, np.arange(len(ly))]


def hourly_indicators(hourly: pd.DataFrame, config: HealthConfig) -> pd.DataFrame:
    """hourly_medians' rows (with y and z; sorted by device, hour, segment) plus both
    indicators, each as it stands once that row's hour is complete. Every device at once:
    the rolling medians are grouped ones, and only segments old enough to fit loop (on
    numpy), so a stream's bucket of many young devices costs per row, not per device."""
    n = len(hourly)
    if n == 0:
        return hourly.assign(**{WEAR_LEVEL: np.zeros(0), DRIFT_DROP: np.zeros(0)})
    wear = np.full(n, np.nan)
    y = hourly["y"].to_numpy(dtype=float)
    ok = np.flatnonzero(y > 0)  # log y: positive medians only
    keys = hourly[["device", "segment"]].iloc[ok]
    segments = keys.groupby(["device", "segment"], sort=False).indices.values()
    fit = [ok[at] for at in segments if len(at) >= config.fit_hours]  # rows of each, by hour
    if fit:
        rows = np.concatenate(fit)
        label = np.repeat(np.arange(len(fit)), [len(r) for r in fit])
        recent = pd.Series(y[rows]).groupby(label).rolling(config.recent_hours, min_periods=1).median()
        recent = recent.to_numpy()  # labels ascend with the rows: the same order
        hour = hourly["hour"].to_numpy()
        start = 0
        for idx in fit:
            lc = fitted_levels((hour[idx] - hour[idx[0]]).astype(float), np.log(y[idx]))
            level = recent[start : start + len(idx)] / np.exp(lc)
            level[: config.fit_hours - 1] = np.nan
            wear[idx] = level
            start += len(idx)
    z = pd.Series(hourly["z"].to_numpy(dtype=float))
    by_device = z.groupby(hourly["device"].to_numpy(), sort=False)
    base = by_device.rolling(config.baseline_hours, min_periods=config.baseline_min).median()
    base = base.droplevel(0).sort_index().to_numpy()
    return hourly.assign(**{WEAR_LEVEL: wear, DRIFT_DROP: base - z.to_numpy()})


def reading_inputs(frame: pd.DataFrame, config: HealthConfig) -> dict[str, np.ndarray]:
    """y = wear / speed and z = drift - k load per reading, on the raw scale; NaN where the
    machine is not running (the hourly medians leave NaN out)."""
    col = raw_values(frame, config)
    running = col[config.speed] > config.min_speed
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.where(running, col[config.wear] / col[config.speed], np.nan)
    z = np.where(running, col[config.drift] - (config.k or 0.0) * col[config.load], np.nan)
    return {"y": y, "z": z}


def fit_k(frame: pd.DataFrame, config: HealthConfig, device, segment, order_us) -> float:
    """k from a training frame's running readings (config's scale set, k unused)."""
    col = raw_values(frame, config)
    running = col[config.speed] > config.min_speed
    parts = {
        c: np.where(running, col[s], np.nan) for c, s in (("drift", config.drift), ("load", config.load))
    }
    return load_coefficient(hourly_medians(device, segment, order_us, parts).dropna())


def at_readings(
    hourly: pd.DataFrame, device: np.ndarray, segment: np.ndarray, order_us: np.ndarray
) -> dict[str, np.ndarray]:
    """Each reading's indicators: the device's last hourly row before the reading's hour
    (for wear_level, of the reading's segment)."""
    hour = order_us // HOUR_US
    left = pd.DataFrame(
        {"device": device, "segment": segment, "hour": hour - 1, "_row": np.arange(len(hour))}
    )
    left = left.sort_values("hour", kind="stable")
    right = hourly.sort_values(["hour", "segment"], kind="stable")
    drift = pd.merge_asof(left, right[["device", "hour", DRIFT_DROP]], on="hour", by="device")
    wear = pd.merge_asof(
        left, right[["device", "segment", "hour", WEAR_LEVEL]], on="hour", by=["device", "segment"]
    )
    wear_level = wear.sort_values("_row")[WEAR_LEVEL].to_numpy(dtype=float)
    drift_drop = drift.sort_values("_row")[DRIFT_DROP].to_numpy(dtype=float)
    return {WEAR_LEVEL: np.nan_to_num(wear_level, nan=1.0), DRIFT_DROP: np.nan_to_num(drift_drop, nan=0.0)}
