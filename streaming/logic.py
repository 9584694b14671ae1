"""The per-device step of the stream, on pandas: dedupe, hold back, release in event-time
order, compute the batch job's features (sensorpipe.features), score, raise alerts.

An event is held in the device's state until the watermark passes its event time, then
released with the others in event-time order, so arrival order within the watermark does
not change any feature. The state keeps the last max(windows) released readings, which is
all the trailing windows need. `step` is pure; `process_group` adapts it to Spark's
applyInPandasWithState.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from sensorpipe.features import FeatureConfig, clean_sensors, with_features
from sensorpipe.model import Model, score
from sensorpipe.registry import ModelIntegrityError, load_model
from sensorpipe.rows import DUPLICATE
from streaming.alerts import Episodes, episodes, top_sensors
from streaming.source import DRAIN, ORDER

LATE = "late"
STATE_SCHEMA = (
    "hist_order binary, hist_x binary, pend_order binary, pend_x binary, first long, "
    "episodes int, open boolean, below_since long"
)
_MODELS: dict[tuple[str, str], tuple[Model, str]] = {}  # per Python worker process


@dataclass(frozen=True)
class Context:
    """What every device's step needs; shipped to the workers once per query."""

    features: FeatureConfig
    cleaning: dict
    threshold: float
    quiet_us: int
    top_k: int
    order_is_time: bool
    model_dir: str = ""
    model_sha256: str = ""
    maintenance: pd.DataFrame | None = None
    worker_columns: bool = False

    @property
    def output_columns(self) -> list[str]:
        cols = ["kind", self.features.device, ORDER, *self.features.names, "probability", "alert"]
        cols += ["episode", "top_sensors", "threshold", "reason", "raw", "source", "line"]
        return cols + (["worker_pid", "model_load"] if self.worker_columns else [])


@dataclass(frozen=True)
class DeviceState:
    hist_order: np.ndarray  # int64, the last released readings' orders, ascending
    hist_x: np.ndarray  # (rows, sensors) cleaned values
    pend_order: np.ndarray  # accepted, not yet released
    pend_x: np.ndarray
    first: int | None = None  # order of the device's first released reading
    alerts: Episodes = Episodes()

    @staticmethod
    def empty(sensors: int) -> DeviceState:
        none = np.zeros(0, dtype=np.int64)
        return DeviceState(none, np.zeros((0, sensors)), none, np.zeros((0, sensors)))

    def pack(self) -> tuple:
        a = self.alerts
        return (
            self.hist_order.tobytes(), self.hist_x.tobytes(), self.pend_order.tobytes(),
            self.pend_x.tobytes(), self.first, a.count, a.open, a.below_since,
        )  # fmt: skip

    @staticmethod
    def unpack(row: tuple, sensors: int) -> DeviceState:
        def arr(b, dtype):
            return np.frombuffer(bytes(b), dtype=dtype).copy()

        hist_x, pend_x = arr(row[1], float).reshape(-1, sensors), arr(row[3], float).reshape(-1, sensors)
        return DeviceState(
            arr(row[0], np.int64), hist_x, arr(row[2], np.int64), pend_x, row[4], Episodes(*row[5:8])
        )


def cached_model(where: str, sha256: str) -> tuple[Model, str]:
    """(model, id of the load) of version directory `where`: loaded and verified once per process."""
    key = (where, sha256)
    if key not in _MODELS:
        model = load_model(where)
        if model.card.get("model_sha256") != sha256:
            raise ModelIntegrityError(f"{where}: its model is not the one the job started with ({sha256})")
        _MODELS[key] = (model, uuid.uuid4().hex)
    return _MODELS[key]


def event_us(order: np.ndarray, ctx: Context) -> np.ndarray:
    return order if ctx.order_is_time else order * 1_000_000


def step(
    ctx: Context, model: Model, device: str, rows: pd.DataFrame, st: DeviceState, watermark_us: int
) -> tuple[pd.DataFrame, DeviceState]:
    """One device's new rows (validated: `reason` null when accepted) -> output rows, new state.

    Accepted rows wait in the state until the watermark passes them; a drain row (the job's
    own, at the end of an --available-now run) releases all of them. A row older than the
    device's last released reading is late even inside the watermark (after a drain).
    """
    drain = (
        rows[DRAIN].fillna(False).to_numpy(dtype=bool) if DRAIN in rows else np.zeros(len(rows), dtype=bool)
    )
    rows = rows[~drain]
    rejected = rows[rows["reason"].notna()]
    ok = rows[rows["reason"].isna()].sort_values(["source", "line"], kind="stable")
    order = ok[ORDER].to_numpy(dtype=np.int64)
    dup = (
        np.isin(order, np.concatenate([st.hist_order, st.pend_order]))
        | pd.Series(order).duplicated().to_numpy()
    )
    last = st.hist_order[-1] if len(st.hist_order) else np.iinfo(np.int64).min
    late = ~dup & ((event_us(order, ctx) < watermark_us) | (order < last))
    quarantine = _concat([rejected, ok[dup].assign(reason=DUPLICATE), ok[late].assign(reason=LATE)])
    accepted = ok[~dup & ~late]
    sensors = list(ctx.features.sensors)
    x = clean_sensors(accepted[sensors], ctx.cleaning)[sensors].to_numpy(dtype=float)
    pend_order = np.concatenate([st.pend_order, order[~dup & ~late]])
    pend_x = np.vstack([st.pend_x, x])
    by_time = np.argsort(pend_order, kind="stable")
    pend_order, pend_x = pend_order[by_time], pend_x[by_time]
    n = len(pend_order) if drain.any() else int(np.searchsorted(event_us(pend_order, ctx), watermark_us))
    st = replace(st, pend_order=pend_order[n:], pend_x=pend_x[n:])
    scored, st = release(ctx, model, device, pend_order[:n], pend_x[:n], st)
    return _output(ctx, scored, quarantine), st


def release(
    ctx: Context, model: Model, device: str, order: np.ndarray, x: np.ndarray, st: DeviceState
) -> tuple[pd.DataFrame, DeviceState]:
    """Features, probability and alerts of readings released in event-time order."""
    if not len(order):
        return pd.DataFrame(), st
    f = ctx.features
    all_order = np.concatenate([st.hist_order, order])
    all_x = np.vstack([st.hist_x, x])
    first = int(all_order[0]) if st.first is None else st.first
    frame = pd.DataFrame(all_x, columns=list(f.sensors)).assign(**{f.device: device})
    frame[f.order] = _order_values(all_order, ctx)
    maint = ctx.maintenance
    if maint is not None:
        maint = maint[maint[f.device] == device]
    origin = {device: _order_values(np.array([first]), ctx)[0]}
    rows = with_features(frame, f, maint, first=origin).iloc[len(st.hist_order) :]
    rows = rows.assign(**{ORDER: order, "probability": score(rows, model).to_numpy()})
    alert, number, state = episodes(
        event_us(order, ctx), rows["probability"].to_numpy(), ctx.threshold, ctx.quiet_us, st.alerts
    )
    tops = pd.Series(None, index=rows.index, dtype=object)
    tops[alert] = top_sensors(model, rows[alert], ctx.top_k)
    rows = rows.assign(alert=alert, episode=number, top_sensors=tops, threshold=ctx.threshold)
    keep = len(ctx.features.windows) and max(ctx.features.windows)
    st = replace(st, hist_order=all_order[-keep:], hist_x=all_x[-keep:], first=first, alerts=state)
    return rows.assign(kind="scored"), st


def _order_values(order: np.ndarray, ctx: Context):
    return pd.to_datetime(order, unit="us", utc=True) if ctx.order_is_time else order


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Row-wise concat skipping empty parts (pandas deprecates their say in the dtypes)."""
    kept = [p for p in parts if len(p)] or parts[:1]
    return pd.concat(kept, ignore_index=True)


def _output(ctx: Context, scored: pd.DataFrame, quarantine: pd.DataFrame) -> pd.DataFrame:
    if not len(scored) and not len(quarantine):
        return pd.DataFrame(columns=ctx.output_columns)
    out = _concat([scored, quarantine.assign(kind="quarantine")]).reindex(columns=ctx.output_columns)
    # columns absent from one part are all-NaN floats there: give Arrow Python objects instead
    for c in ("kind", ctx.features.device, "alert", "episode", "top_sensors", "reason", "raw", "source"):
        out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out


def process_group(ctx: Context, key: tuple, frames, state):
    """applyInPandasWithState body: one device's rows of this micro-batch."""
    model, load = cached_model(ctx.model_dir, ctx.model_sha256)
    rows = pd.concat(list(frames), ignore_index=True)
    sensors = len(ctx.features.sensors)
    st = DeviceState.unpack(state.get, sensors) if state.exists else DeviceState.empty(sensors)
    device = key[0]
    if device is None:  # lines without a device are all rejected before the state
        out = _output(ctx, pd.DataFrame(), rows)
    else:
        out, st = step(ctx, model, device, rows, st, state.getCurrentWatermarkMs() * 1000)
        if state.exists or len(st.hist_order) or len(st.pend_order):
            state.update(st.pack())
    if ctx.worker_columns:
        out = out.assign(worker_pid=os.getpid(), model_load=load)
    if len(out):
        yield out
