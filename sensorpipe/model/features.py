"""Per-device rolling-window features on pandas (labels: sensorpipe.model.labels).

These definitions are the contract a Spark implementation must match row for row.
Readings are grouped by the device column and ordered by the order column (for
C-MAPSS: `unit`, `cycle`). Let t be a reading's 0-based position within its device and
N a window size. The window W holds the n = min(N, t + 1) readings at positions
t-n+1 .. t: at the start of a device a window uses the readings there are
(min_periods = 1). Within W, i = 0 .. n-1 is the reading index, oldest first. For each
sensor x and each N in `windows`:

- `<x>_mean_<N>`  = sum(x) / n
- `<x>_std_<N>`   = sqrt(sum((x - mean)^2) / n)          (population std; n = 1 -> 0.0)
- `<x>_min_<N>`, `<x>_max_<N>`
- `<x>_slope_<N>` = sum((i - ibar)(x - mean)) / sum((i - ibar)^2), ibar = (n-1)/2: the
  least-squares slope per reading (not per unit of the order column); n = 1 -> 0.0
- `<x>_delta_<N>` = x_t - x_{t-n+1}, the change since the window's first reading

plus `<x>` itself (the current reading) and `since` = order - origin: time since the
device's last maintenance. The origin is the latest maintenance at or before the reading
(a maintenance log, e.g. the simulator's maintenance.csv), else the device's first
reading; for C-MAPSS, whose units each start in a fresh state, always the first cycle.
A timestamp order column gives `since` in seconds.

`warming` = t < warmup - 1 ([features] warmup, default 1: never): a device's first readings,
whose windows are still filling, are warming. Their features are computed as above but a
model never sees them: training drops them and scoring gives them no probability (so no
alert): a 2-reading slope or a 1-reading std is far outside what full windows give, and
training sees a series start only once per device. warmup <= max(windows), so a stream that
keeps a device's last max(windows) readings knows which of its readings are warming.

Sensors must be non-null (features run on cleaned data, where nulls were imputed).
In Spark: avg, stddev_pop, min, max, coalesce(regr_slope(x, k), 0.0) with k a
row_number() column made first (dependent variable first; one reading gives null) and
first(x), over a window partitioned by device, ordered by order, rowsBetween(-N+1, 0);
warming is row_number() < warmup. Compare engines with a relative and an
absolute tolerance: a slope of zero may be 1e-17 in one and 0.0 in the other.

"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from sensorpipe.core.spec import Spec, SpecError
from sensorpipe.model import health as H

STATS = ("mean", "std", "min", "max", "slope", "delta")
FEATURE_KEYS = {"device", "order", "sensors", "windows", "warmup", "health"}
WARMING = "warming"


@dataclass(frozen=True)
class FeatureConfig:
    device: str
    order: str
    sensors: tuple[str, ...]
    windows: tuple[int, ...]
    warmup: int = 1  # a device's first scored reading is its warmup-th (see the module's doc)
    health: H.HealthConfig | None = None  # [features.health] (sensorpipe.model.health)

    @property
    def names(self) -> list[str]:
        """The model's input columns, in order."""
        rolled = [f"{x}_{s}_{n}" for n in self.windows for x in self.sensors for s in STATS]
        return [*self.sensors, *rolled, "since", *(H.NAMES if self.health else ())]

    def to_dict(self) -> dict:
        out = {
            "device": self.device,
            "order": self.order,
            "sensors": list(self.sensors),
            "windows": list(self.windows),
            "warmup": self.warmup,
        }
        return out | ({"health": self.health.to_dict()} if self.health else {})

    @staticmethod
    def from_dict(raw: dict) -> FeatureConfig:
        """The inverse of to_dict (a model card's feature_config)."""
        plain = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k != "health"}
        health = raw.get("health")
        return FeatureConfig(**plain, health=H.HealthConfig.from_dict(health) if health else None)


def feature_config(spec: Spec) -> FeatureConfig:
    """The [features] section, validated; device and order default to the spec's key."""
    raw = spec.extra.get("features")
    if not isinstance(raw, dict):
        raise SpecError(spec.path, "features", "a [features] table is required")
    for key in raw:
        if key not in FEATURE_KEYS:
            raise SpecError(
                spec.path, f"features.{key}", f"unknown key (known: {', '.join(sorted(FEATURE_KEYS))})"
            )
    names = {c.out for c in spec.columns}
    key = list(spec.key) + ["", ""]
    device = raw.get("device", key[0])
    order = raw.get("order", key[1])
    for k, v in (("device", device), ("order", order)):
        if not isinstance(v, str) or v not in names:
            raise SpecError(spec.path, f"features.{k}", f"{v!r} is not a column")
    sensors = raw.get("sensors")
    if not isinstance(sensors, list) or not sensors or not all(isinstance(s, str) for s in sensors):
        raise SpecError(spec.path, "features.sensors", "must be a non-empty list of column names")
    for i, s in enumerate(sensors):
        if s not in names or not spec.column(s).numeric:
            raise SpecError(spec.path, f"features.sensors[{i}]", f"{s!r} is not a numeric column")
    windows = raw.get("windows")
    if not isinstance(windows, list) or not windows or not all(type(n) is int and n >= 1 for n in windows):
        raise SpecError(spec.path, "features.windows", "must be a non-empty list of integers >= 1")
    warmup = raw.get("warmup", 1)
    if type(warmup) is not int or not 1 <= warmup <= max(windows):
        raise SpecError(
            spec.path, "features.warmup", f"must be an integer from 1 to max(windows), got {warmup!r}"
        )
    health = raw.get("health")
    if health is not None:
        health = H.health_config(health, spec, order)
    return FeatureConfig(device, order, tuple(sensors), tuple(sorted(set(windows))), warmup, health)


def unfitted(config: FeatureConfig) -> FeatureConfig:
    """The config as its spec gives it: without what `fitted` adds (a card's against a spec's)."""
    if config.health is None:
        return config
    return replace(config, health=replace(config.health, k=None, scale=()))


def fitted(
    config: FeatureConfig, frame: pd.DataFrame, cleaning: dict | None, maintenance=None
) -> FeatureConfig:
    """The config with its health indicators' fleet parameters fitted on a training frame
    (cleaned readings): the load coefficient k and the raw scale of their sensors. A config
    without [features.health] comes back as it is."""
    if config.health is None:
        return config
    df = frame.sort_values([config.device, config.order], kind="stable")
    health = replace(config.health, scale=H.scales(cleaning, config.health))
    k = H.fit_k(df, health, *_health_keys(df, config, maintenance))
    return replace(config, health=replace(health, k=k))


def with_features(
    frame: pd.DataFrame,
    config: FeatureConfig,
    maintenance: pd.DataFrame | None = None,
    first: dict | None = None,
    only: pd.Index | None = None,
) -> pd.DataFrame:
    """Sort by (device, order) and add the feature columns and `warming`; the index is kept.

    `maintenance` (columns device and order, one row per maintenance) moves `since`'s origin.
    `first` ({device: order of its first reading}) stands in for the frame's earliest
    readings, for a frame that holds only a device's latest ones (the stream's state).
    `only` (index labels): return just these rows, with the others as their history (the
    stream's new readings after its kept ones); their values are the same either way.
    """
    missing = [c for c in (config.device, config.order, *config.sensors) if c not in frame.columns]
    if missing:
        raise ValueError(f"columns missing for features: {missing}")
    df = frame.sort_values([config.device, config.order], kind="stable")
    if df[list(config.sensors)].isna().any().any():
        raise ValueError("sensor values must be non-null (clean the data first)")
    pos = df.groupby(config.device, sort=False).cumcount().to_numpy()
    at = np.arange(len(df)) if only is None else np.flatnonzero(df.index.isin(only))
    since = _since(df, config, maintenance, first)
    new = {"since": since[at]}
    for n in config.windows:
        for x in config.sensors:
            new.update(window_stats(df[x].to_numpy(dtype=float), pos, n, x, at))
    if config.health is not None:
        new.update(health_columns(df, config, at=at, since=since)[0])
    new[WARMING] = pos[at] < config.warmup - 1
    df = df.iloc[at]
    out = pd.DataFrame(new, index=df.index)
    return pd.concat([df, out[[c for c in [*config.names, WARMING] if c in out.columns]]], axis=1)


def without_warming(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows a model sees (trains on, is judged on): those not warming."""
    return frame[~frame[WARMING].to_numpy(dtype=bool)]


def window_stats(
    x: np.ndarray, pos: np.ndarray, n: int, name: str, at: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """The six statistics of the trailing window of size n, for rows sorted by device (at
    the positions `at`; all rows by default).

    Rows are laid out as a (rows, n) matrix of the window's readings, oldest first (the last
    column is the current reading); moments are then two-pass, so a constant window gives a
    std and slope of exactly 0.0. Rows with n readings behind them (most, once a device has a
    history) take the plain matrix, rows of a sliding view copied; the first n-1 readings of
    a device a mask of the columns at or after its first reading. Both add the same numbers
    in the same order.
    """
    at = np.arange(len(x)) if at is None else at
    full = pos[at] >= n - 1
    if full.all():
        return _full_windows(x, n, name, at)
    out = {f"{name}_{s}_{n}": np.empty(len(at)) for s in STATS}
    for rows, stats in (
        (full, _full_windows(x, n, name, at[full])),
        (~full, _partial_windows(x, pos, n, name, at[~full])),
    ):
        for key, values in stats.items():
            out[key][rows] = values
    return out


def _full_windows(x: np.ndarray, n: int, name: str, at: np.ndarray) -> dict[str, np.ndarray]:
    if not len(at):  # (x may be shorter than a window then)
        return {f"{name}_{s}_{n}": np.empty(0) for s in STATS}
    win = sliding_window_view(x, n)[at - (n - 1)]  # a copy: row i is x[at[i]-n+1 .. at[i]]
    mean = win.sum(axis=1) / n
    low, high, first = win.min(axis=1), win.max(axis=1), win[:, 0].copy()
    dev = np.subtract(win, mean[:, None], out=win)
    std = np.sqrt(np.einsum("ij,ij->i", dev, dev) / n)
    # column j is reading j of the window, j - jbar = j - (n-1)/2
    sxx = n * (n * n - 1) / 12.0
    centred = np.broadcast_to(np.arange(n) - (n - 1) / 2.0, dev.shape)
    slope = np.einsum("ij,ij->i", centred, dev) / sxx if sxx > 0 else np.zeros(len(at))
    return {
        f"{name}_mean_{n}": mean,
        f"{name}_std_{n}": std,
        f"{name}_min_{n}": low,
        f"{name}_max_{n}": high,
        f"{name}_slope_{n}": slope,
        f"{name}_delta_{n}": x[at] - first,
    }


def _partial_windows(
    x: np.ndarray, pos: np.ndarray, n: int, name: str, at: np.ndarray
) -> dict[str, np.ndarray]:
    lags = np.arange(n)[::-1]  # column j holds lag n-1-j: oldest first, as in _full_windows
    valid = pos[at][:, None] >= lags[None, :]
    win = x[np.maximum(at[:, None] - lags[None, :], 0)]
    # sums over the valid cells, zeros elsewhere: what nansum over a NaN-padded window adds
    count = valid.sum(axis=1)
    mean = np.where(valid, win, 0.0).sum(axis=1) / count
    dev = np.where(valid, win - mean[:, None], 0.0)
    std = np.sqrt(np.einsum("ij,ij->i", dev, dev) / count)
    # reading index i = count-1-lag, so i - ibar = (count-1)/2 - lag
    centred = np.where(valid, (count[:, None] - 1) / 2.0 - lags[None, :], 0.0)
    sxx = count * (count * count - 1) / 12.0
    sxy = np.einsum("ij,ij->i", centred, dev)
    slope = np.divide(sxy, sxx, out=np.zeros_like(sxy), where=sxx > 0)
    first = win[np.arange(len(at)), n - count]
    return {
        f"{name}_mean_{n}": mean,
        f"{name}_std_{n}": std,
        f"{name}_min_{n}": np.where(valid, win, np.inf).min(axis=1),
        f"{name}_max_{n}": np.where(valid, win, -np.inf).max(axis=1),
        f"{name}_slope_{n}": slope,
        f"{name}_delta_{n}": x[at] - first,
    }


def _health_keys(df: pd.DataFrame, config: FeatureConfig, maintenance=None, first=None, since=None):
    """(device, segment, order) arrays for sensorpipe.model.health: the segment is the
    reading's origin (as `since` has it, or `since` given: seconds per row of df), both in
    microseconds since the epoch."""
    order_us = _micros(df[config.order])
    since = _since(df, config, maintenance, first) if since is None else since
    since_us = np.round(since * 1e6).astype(np.int64)
    return df[config.device].to_numpy(), order_us - since_us, order_us


def _micros(order: pd.Series) -> np.ndarray:
    return (
        order.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]").astype(np.int64).to_numpy()
    )


def health_columns(
    df: pd.DataFrame,
    config: FeatureConfig,
    maintenance=None,
    first: dict | None = None,
    at: np.ndarray | None = None,
    prior: pd.DataFrame | None = None,
    since: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """The health indicators of the rows `at` of df (sorted by device, order; all rows by
    default) and the hourly rows behind them: hourly_medians' rows with both indicators as
    each stood once its hour was complete, and `ready` (sensorpipe.model.health).

    `prior`: hourly rows kept from earlier readings (the stream's state). A device's
    readings in its hours up to its last prior hour are left out (their medians are in
    `prior`), so df may hold the tail of those hours for the rolling windows' sake. A row's
    indicators depend only on its device's rows up to it, so those of prior rows marked
    `ready` are taken as they are, and only a device with a newly completed hour (before the
    hour of its newest reading in `at`) has its rows computed again.
    `since` (seconds, per row of df): `since` already computed, in place of the origins.
    """
    health = config.health
    if health is None or health.k is None:
        raise ValueError(
            "[features.health] has no fitted load coefficient (sensorpipe.model.features.fitted)"
        )
    at = np.arange(len(df)) if at is None else at
    device, segment, order_us = _health_keys(df, config, maintenance, first, since)
    inputs = H.reading_inputs(df, health)
    if prior is None or not len(prior):
        hourly = H.hourly_indicators(H.hourly_medians(device, segment, order_us, inputs), health)
        hourly[H.READY] = True
        return H.at_readings(hourly, device[at], segment[at], order_us[at]), hourly
    done = pd.Series(device).map(prior.groupby("device")["hour"].max()).to_numpy(dtype=float)
    new = ~(order_us // H.HOUR_US <= done)  # readings of hours prior has no median of
    medians = H.hourly_medians(
        device[new], segment[new], order_us[new], {k: v[new] for k, v in inputs.items()}
    )
    newest = pd.Series(order_us[at] // H.HOUR_US).groupby(device[at]).max()
    completed = medians["hour"].to_numpy() < medians["device"].map(newest).to_numpy(dtype=float)
    hourly = pd.concat([prior, medians], ignore_index=True)  # the new rows: no indicators yet
    ready = hourly[H.READY].eq(True).to_numpy() if H.READY in hourly else np.zeros(len(hourly), bool)
    hourly[H.READY] = ready  # a state written before `ready` existed: every row computed again
    again = set(medians.loc[completed, "device"]) | set(prior["device"].to_numpy()[~ready[: len(prior)]])
    hourly = hourly.sort_values(["device", "hour", "segment"], kind="stable", ignore_index=True)
    computed = hourly["device"].isin(again).to_numpy()
    fresh = H.hourly_indicators(hourly[computed], health).assign(**{H.READY: True})
    hourly = pd.concat([fresh, hourly[~computed]], ignore_index=True)
    hourly = hourly.sort_values(["device", "hour", "segment"], kind="stable", ignore_index=True)
    return H.at_readings(hourly, device[at], segment[at], order_us[at]), hourly


def _since(
    df: pd.DataFrame,
    config: FeatureConfig,
    maintenance: pd.DataFrame | None = None,
    first: dict | None = None,
) -> np.ndarray:
    order = df[config.order]
    origin = df.groupby(config.device, sort=False)[config.order].transform("min")
    if first:
        origin = (
            df[config.device].map(first).astype(origin.dtype).where(df[config.device].isin(first), origin)
        )
    if maintenance is not None and len(maintenance):
        last = asof(df, maintenance, config, "backward")
        origin = origin.where(last.isna() | (last < origin), last)
    since = order - origin
    if pd.api.types.is_timedelta64_dtype(since):
        return since.dt.total_seconds().to_numpy()
    return since.to_numpy(dtype=float)


def asof(df: pd.DataFrame, events: pd.DataFrame, config: FeatureConfig, direction: str) -> pd.Series:
    """Per row of df, the order of the device's event at or before ("backward") or at or
    after ("forward") the row's order; NaN/NaT where there is none. Aligned with df."""
    d, o = config.device, config.order
    left = pd.DataFrame({d: df[d].to_numpy(), o: df[o].to_numpy(), "_row": np.arange(len(df))})
    right = pd.DataFrame({d: events[d].to_numpy(), o: events[o].to_numpy()})
    right = right.astype({o: left[o].dtype}).assign(_event=lambda r: r[o])
    merged = pd.merge_asof(
        left.sort_values(o, kind="stable"),
        right.sort_values(o, kind="stable"),
        on=o,
        by=d,
        direction=direction,
    )
    out = pd.Series(merged.sort_values("_row")["_event"].to_numpy(), index=df.index)
    if out.isna().all() and pd.api.types.is_datetime64_any_dtype(df[o]):  # came back tz-naive
        return pd.Series(pd.NaT, index=df.index, dtype=df[o].dtype)
    return out


def clean_sensors(frame: pd.DataFrame, cleaning: dict) -> pd.DataFrame:
    """Raw sensor values -> the values a cleaning run writes: impute -> clip -> scale, with
    the parameters a model card keeps (sensorpipe.core.transform.sensor_cleaning), vectorized.
    Nulls are NaN; an int column that is not scaled is rounded half to even when clipped."""
    new = {}
    for name, p in cleaning.items():
        col = frame[name]
        if pd.api.types.is_float_dtype(col.dtype):
            x = col.to_numpy(dtype=float, copy=True)
        else:
            x = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        if p.get("fill") is not None:
            x[np.isnan(x)] = float(p["fill"])
        if p.get("bounds") is not None:
            lo, hi = p["bounds"]
            clipped = np.clip(x, lo, hi)
            if p.get("as_int"):
                clipped = np.where(clipped == x, clipped, np.round(clipped))
            x = clipped
        if p.get("divisor") is not None:
            x = (x - p["center"]) / p["divisor"] if p["divisor"] != 0 else x * 0.0
        new[name] = x
    return frame.assign(**new)
