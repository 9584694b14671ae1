"""The stream's stateful step on pandas, for a bucket of devices at once: dedupe, hold back,
release in event-time order, compute the batch job's features (sensorpipe.model.features), score,
raise alerts.

Spark groups the events by bucket (a hash of the device modulo `[stream] buckets`), not by
device: one Python call per bucket and micro-batch handles all of the bucket's devices with
one features call and one model call, so a batch costs per row, not per device (a call per
device cost ~35 ms, i.e. 35 s a batch for 1,000 devices). The bucket's state holds, per
device, its last max(windows) released readings, the readings held back, and its alert
episode state (BucketState, Arrow IPC bytes in Spark's state store).

An event is held until its bucket's release point reaches its event time, then released with
the others in event-time order, so arrival order within the watermark does not change any
feature. The release point is the newest event time the bucket has accepted (this batch
included) minus the watermark delay, or Spark's watermark if that is later. Spark computes
a batch's watermark from the batches before it, as the newest event time of all buckets
minus the same delay, so no event Spark lets in is older than anything released, and one
as old as a reading its device released is that reading's duplicate: the release point only
saves the batch an event would otherwise wait for its watermark. (With a delay of 0 nothing
waits: each batch releases up to its newest event.)
`step` is pure; `process_bucket` adapts it to applyInPandasWithState.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import pyarrow as pa

from sensorpipe.core.rows import DUPLICATE
from sensorpipe.model.classifier import Model, score
from sensorpipe.model.events import Episodes, episodes  # the one alert rule, batch and stream
from sensorpipe.model.features import WARMING, FeatureConfig, clean_sensors, health_columns, with_features
from sensorpipe.model.health import DRIFT_DROP, HOUR_US, READY, WEAR_LEVEL
from sensorpipe.model.registry import Version, cached_model
from streaming.alerts import top_sensors
from streaming.source import DRAIN, ORDER

# pyspark's applyInPandasWithState pads its Arrow batches with all-NA rows through pd.concat,
# which pandas 2 warns about on every call; the warning is about pyspark's code, not ours
warnings.filterwarnings(
    "ignore", "The behavior of DataFrame concatenation with empty or all-NA entries", FutureWarning
)

LATE = "late"
PENDING = "_pending"  # a reading accepted and held back, not yet released
STATE_SCHEMA = "readings binary, devices binary, held string, newest long, hours binary"
DEVICE_STATE = ["first", "episodes", "open", "below_since", "opened_at"]
_STRING = pd.StringDtype("python")
# BucketState.hours: a device's hourly medians (sensorpipe.model.health.hourly_medians), each
# with its indicators as they stood when its hour completed (ready: computed then)
HOURS = pd.DataFrame(
    {
        "device": [],
        "segment": np.zeros(0, np.int64),
        "hour": np.zeros(0, np.int64),
        "y": np.zeros(0),
        "z": np.zeros(0),
        WEAR_LEVEL: np.zeros(0),
        DRIFT_DROP: np.zeros(0),
        READY: np.zeros(0, bool),
    }
)


@dataclass(frozen=True)
class Context:
    """What every bucket's step needs; shipped to the workers once per query."""

    features: FeatureConfig
    cleaning: dict
    threshold: float
    quiet_us: int
    top_k: int
    order_is_time: bool
    delay_us: int = 0  # the watermark's delay
    model: Version | None = None  # the pinned version; its bytes a broadcast once shipped (score_stream)
    maintenance: pd.DataFrame | None = None
    worker_columns: bool = False
    repeat_us: int | None = None  # [alerts] repeat_hours (sensorpipe.model.events.episodes)

    @property
    def output_columns(self) -> list[str]:
        cols = ["kind", self.features.device, ORDER, *self.features.names, "probability", "alert"]
        cols += ["episode", "top_sensors", "threshold", "reason", "raw", "source", "line"]
        return cols + (["worker_pid", "model_load"] if self.worker_columns else [])

    @property
    def keep(self) -> int:
        """Released readings kept per device: what the longest trailing window needs."""
        return max(self.features.windows, default=0)


@dataclass(frozen=True)
class BucketState:
    """The devices of one bucket between micro-batches.

    readings: device, _order, _pending, the cleaned sensors; per device its last `keep`
      released readings and the ones held back, sorted by (device, _order).
    devices: device, first (order of its first released reading), episodes, open,
      below_since, opened_at (event times in us, NaN when none; a state written before
      opened_at existed reads as NaN: no reminder until its next episode): per device that
      released a reading.
    newest: the newest event time (us) the bucket accepted, for its release point.
    hours: with [features.health], the hourly medians of each device's completed hours
      (sensorpipe.model.health.hourly_medians) that its indicators still need: those of its
      latest segment and its last baseline_hours, each with its indicators, computed once
      when its hour completed (sensorpipe.model.features.health_columns): a batch computes
      them again only for the devices with a newly completed hour. The readings then keep,
      besides the last `keep`, every released reading of the device's latest hour.
    """

    readings: pd.DataFrame
    devices: pd.DataFrame
    newest: int = np.iinfo(np.int64).min  # the newest event time (us) accepted
    hours: pd.DataFrame = field(default_factory=HOURS.copy)

    @staticmethod
    def empty(ctx: Context) -> BucketState:
        f = ctx.features
        readings = pd.DataFrame({f.device: [], ORDER: np.zeros(0, np.int64), PENDING: np.zeros(0, bool)})
        readings = readings.assign(**{s: np.zeros(0) for s in f.sensors})
        devices = pd.DataFrame(
            {
                f.device: [],
                "first": np.zeros(0, np.int64),
                "episodes": np.zeros(0, np.int32),
                "open": np.zeros(0, bool),
                "below_since": np.zeros(0),
                "opened_at": np.zeros(0),
            }
        )
        return BucketState(readings, devices, hours=HOURS.rename(columns={"device": f.device}))

    def held(self) -> list:
        """Devices holding readings not yet released (what a drain request names)."""
        return self.readings.loc[self.readings[PENDING], self.readings.columns[0]].unique().tolist()

    def pack(self) -> tuple:
        return _ipc(self.readings), _ipc(self.devices), json.dumps(self.held()), self.newest, _ipc(self.hours)

    @staticmethod
    def unpack(row: tuple) -> BucketState:
        return BucketState(_frame(row[0]), _frame(row[1]), row[3], _frame(row[4]))


def _ipc(frame: pd.DataFrame) -> bytes:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _frame(data) -> pd.DataFrame:
    return pa.ipc.open_stream(bytes(data)).read_all().to_pandas()


def event_us(order, ctx: Context) -> np.ndarray:
    order = np.asarray(order, dtype=np.int64)
    return order if ctx.order_is_time else order * 1_000_000


def step(
    ctx: Context, model: Model, rows: pd.DataFrame, st: BucketState, watermark_us: int
) -> tuple[pd.DataFrame, BucketState]:
    """A bucket's new rows (validated: `reason` null when accepted) -> output rows, new state.

    Accepted rows wait in the state until the release point (see the module's doc) reaches
    them; a drain row (the job's own, at the end of an --available-now run) releases all of
    its device's. A row older than Spark's watermark is late, and so is one older than its
    device's last released reading (which only a drain can make newer than the watermark).
    """
    d = ctx.features.device
    drain = rows[DRAIN].fillna(False).to_numpy(dtype=bool) if DRAIN in rows else np.zeros(len(rows), bool)
    drained = rows.loc[drain, d].unique()
    rows = rows[~drain]
    rejected = rows[rows["reason"].notna()]
    ok = rows[rows["reason"].isna()].sort_values(["source", "line"], kind="stable")
    keys = _concat([st.readings[[d, ORDER]], ok[[d, ORDER]]])
    dup = keys.duplicated().to_numpy()[len(st.readings) :]
    released = st.readings[~st.readings[PENDING]]
    last = ok[d].map(released.groupby(d, sort=False)[ORDER].max()).fillna(-np.inf).to_numpy()
    order = ok[ORDER].to_numpy(dtype=np.int64)
    late = ~dup & ((event_us(order, ctx) < watermark_us) | (order < last))
    quarantine = _concat([rejected, ok[dup].assign(reason=DUPLICATE), ok[late].assign(reason=LATE)])
    accepted = ok[~dup & ~late]
    sensors = list(ctx.features.sensors)
    new = clean_sensors(accepted[[d, ORDER, *sensors]], ctx.cleaning).assign(**{PENDING: True})
    readings = _concat([st.readings, new[st.readings.columns]])
    readings = readings.sort_values([d, ORDER], kind="stable", ignore_index=True)
    newest = max(st.newest, int(event_us(new[ORDER], ctx).max(initial=np.iinfo(np.int64).min)))
    point = max(watermark_us, newest - ctx.delay_us)
    due = readings[PENDING].to_numpy(dtype=bool) & (
        (event_us(readings[ORDER], ctx) <= point) | readings[d].isin(drained).to_numpy()
    )
    scored, devices, hours = release(ctx, model, readings, due, st.devices, st.hours)
    readings[PENDING] = readings[PENDING] & ~due
    return _output(ctx, scored, quarantine), BucketState(_trim(ctx, readings), devices, newest, hours)


def release(
    ctx: Context,
    model: Model,
    readings: pd.DataFrame,
    due: np.ndarray,
    devices: pd.DataFrame,
    hours: pd.DataFrame = HOURS,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Features, probability and alerts of the `due` readings, in event-time order per device,
    with each device's kept history before them; the devices table and the kept hourly
    medians after them."""
    if not due.any():
        return pd.DataFrame(), devices, hours
    f = ctx.features
    d = f.device
    active = readings.loc[due, d].unique()
    frame = readings[readings[d].isin(active).to_numpy() & (~readings[PENDING].to_numpy() | due)]
    frame = frame.assign(**{f.order: _order_values(frame[ORDER].to_numpy(), ctx)})
    before = devices.set_index(d).reindex(active)
    first_seen = frame.groupby(d, sort=False)[ORDER].min().reindex(active)
    first = before["first"].fillna(first_seen).astype(np.int64)
    origin = dict(zip(active.tolist(), _order_values(first.to_numpy(), ctx), strict=True))
    maint = ctx.maintenance
    if maint is not None:
        maint = maint[maint[d].isin(active)]
    now = due[frame.index.to_numpy()]
    rows = with_features(frame, replace(f, health=None), maint, first=origin, only=frame.index[now])
    if f.health is not None:
        prior = hours[hours[d].isin(active)].rename(columns={d: "device"})
        values, hourly = health_columns(frame, f, maint, origin, np.flatnonzero(now), prior)
        rows = _with_columns(rows, values)
        kept_hours = _kept_hours(f, hourly, frame[~frame[PENDING].to_numpy() | now])
        hours = _concat([hours[~hours[d].isin(active)], kept_hours.rename(columns={"device": d})])
    p = probability(rows, model)
    alert, number, after = _episodes(ctx, rows, p, before)
    tops = np.full(len(rows), None, dtype=object)
    tops[alert] = top_sensors(model, rows.loc[alert, f.names], ctx.top_k)
    outcome = {"probability": p, "alert": alert, "episode": number, "top_sensors": tops}
    rows = _with_columns(rows, {**outcome, "threshold": np.full(len(rows), ctx.threshold), "kind": "scored"})
    after = after.assign(first=first.to_numpy()).reset_index(names=d)
    kept = devices[~devices[d].isin(active)]
    return rows, _concat([kept, after[[d, *DEVICE_STATE]]]), hours


def _with_columns(frame: pd.DataFrame, columns: dict) -> pd.DataFrame:
    """frame with `columns` added (or replaced) side by side, its own columns not copied: on a
    wide frame each `assign` copies every column (pandas first merges them into one block)."""
    added = pd.DataFrame(columns, index=frame.index)
    return pd.concat(
        [frame.drop(columns=[c for c in added.columns if c in frame.columns]), added], axis=1, copy=False
    )


def _kept_hours(f: FeatureConfig, hourly: pd.DataFrame, released: pd.DataFrame) -> pd.DataFrame:
    """The hourly medians a device's later indicators need: its completed hours (before the
    hour of its newest released reading) of its latest segment or among its last
    baseline_hours. `hourly` is sorted by device, hour, segment."""
    newest = released.groupby(f.device, sort=False)[ORDER].max()
    current = hourly["device"].map(newest // HOUR_US).to_numpy()
    done = hourly[hourly["hour"].to_numpy() < current]
    latest = done["device"].map(done.groupby("device")["segment"].max()).to_numpy()
    recent = done.groupby("device").cumcount(ascending=False).to_numpy() < f.health.baseline_hours
    return done[recent | (done["segment"].to_numpy() == latest)][list(HOURS.columns)]


def probability(rows: pd.DataFrame, model: Model) -> np.ndarray:
    """The model's failure probability per row; NaN for a warming reading (no alert)."""
    warm = rows[WARMING].to_numpy(dtype=bool)
    out = np.full(len(rows), np.nan)
    if not warm.all():  # only the model's columns copied, not the whole row
        out[~warm] = score(rows.loc[~warm, model.features.names], model).to_numpy()
    return out


def _episodes(ctx: Context, rows: pd.DataFrame, p: np.ndarray, before: pd.DataFrame):
    """Alert, episode number per row (rows sorted by device, then event time; p their
    probabilities) and each device's episode state after them (before: indexed by device, NaN
    for a new device)."""
    d = ctx.features.device
    devs = rows[d].to_numpy()
    starts = np.flatnonzero(np.r_[True, devs[1:] != devs[:-1]])
    bounds = np.r_[starts, len(rows)]
    t = event_us(rows[ORDER], ctx)
    alert, number = np.zeros(len(rows), bool), np.zeros(len(rows), np.int32)
    at = {dev: i for i, dev in enumerate(before.index.tolist())}
    before = before.reindex(columns=DEVICE_STATE)  # opened_at: NaN in a state from before it
    count, is_open, below, opened = (before[c].to_numpy(dtype=float) for c in DEVICE_STATE[1:])
    states = []

    def us(v: float) -> int | None:
        return None if np.isnan(v) else int(v)

    for dev, lo, hi in zip(devs[starts], bounds[:-1], bounds[1:], strict=True):
        i = at[dev]
        start = (
            Episodes()
            if np.isnan(count[i])
            else Episodes(int(count[i]), bool(is_open[i]), us(below[i]), us(opened[i]))
        )
        alert[lo:hi], number[lo:hi], state = episodes(
            t[lo:hi], p[lo:hi], ctx.threshold, ctx.quiet_us, start, ctx.repeat_us
        )
        states.append(
            (
                state.count,
                state.open,
                *(np.nan if v is None else v for v in (state.below_since, state.opened_at)),
            )
        )
    after = pd.DataFrame(states, index=pd.Index(devs[starts], name=d), columns=DEVICE_STATE[1:])
    return (
        alert,
        number,
        after.astype({"episodes": np.int32, "open": bool, "below_since": float, "opened_at": float}),
    )


def _trim(ctx: Context, readings: pd.DataFrame) -> pd.DataFrame:
    """Keep each device's last `keep` released readings and all its held ones (with
    [features.health], also every released reading of its latest hour)."""
    d = ctx.features.device
    pending = readings[PENDING].to_numpy(dtype=bool)
    released = readings[~pending]
    last = released.groupby(d, sort=False).cumcount(ascending=False).to_numpy() < ctx.keep
    if ctx.features.health is not None and ctx.order_is_time:
        hour = released[ORDER].to_numpy(dtype=np.int64) // HOUR_US
        last |= hour == released[d].map(released.groupby(d, sort=False)[ORDER].max() // HOUR_US).to_numpy()
    out = _concat([released[last], readings[pending]])
    return out.sort_values([ctx.features.device, ORDER], kind="stable", ignore_index=True)


def _order_values(order: np.ndarray, ctx: Context):
    return pd.to_datetime(order, unit="us", utc=True) if ctx.order_is_time else order


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Row-wise concat skipping empty parts (pandas deprecates their say in the dtypes)."""
    kept = [p for p in parts if len(p)] or parts[:1]
    return pd.concat(kept, ignore_index=True)


def _output(ctx: Context, scored: pd.DataFrame, quarantine: pd.DataFrame) -> pd.DataFrame:
    if not len(scored) and not len(quarantine):
        return pd.DataFrame(columns=ctx.output_columns)
    if len(quarantine):
        out = _concat([scored, quarantine.assign(kind="quarantine")]).reindex(columns=ctx.output_columns)
    else:  # (most batches) one copy of the scored rows: the reindex
        out = scored.reindex(columns=ctx.output_columns)
        out.index = pd.RangeIndex(len(out))
    # columns absent from one part are all-NaN floats there: give them types with nulls, pandas'
    # string and nullable types rather than Python objects: pyspark concatenates the buckets'
    # frames, and pandas checks an object column of nulls value by value in Python
    for c in ("kind", "top_sensors", "reason", "raw", "source"):
        out[c] = out[c].astype(_STRING)
    values = out[ctx.features.device].to_numpy(dtype=object, copy=True)  # a string or an int
    values[pd.isna(values)] = None
    out[ctx.features.device] = values
    out["alert"], out["episode"] = out["alert"].astype("boolean"), out["episode"].astype("Int32")
    return out


def process_bucket(ctx: Context, key: tuple, frames, state):
    """applyInPandasWithState body: one bucket's rows of this micro-batch."""
    model, load = cached_model(ctx.model)
    rows = pd.concat(list(frames), ignore_index=True)
    if key[0] is None:  # lines without a device are all rejected before the state
        out = _output(ctx, pd.DataFrame(), rows)
    else:
        st = BucketState.unpack(state.get) if state.exists else BucketState.empty(ctx)
        out, st = step(ctx, model, rows, st, state.getCurrentWatermarkMs() * 1000)
        if state.exists or len(st.readings):
            state.update(st.pack())
    if ctx.worker_columns:
        out = out.assign(worker_pid=os.getpid(), model_load=load)
    if len(out):
        yield out
