"""Training labels, on pandas (jobs/features.py has the Spark twins).

Labels, from the [label] section: with `rul_max = R` (run-to-failure series, C-MAPSS),
label = 1 when the remaining useful life, the device's last order in the training file
minus the reading's order, is <= R; with `horizon_hours = H` (a failure log, e.g. the
simulator's failures.csv), label = 1 when the device's next failure at or after the
reading comes within H hours.
"""

from __future__ import annotations

import pandas as pd

from sensorpipe.core.spec import Spec, SpecError
from sensorpipe.model.features import FeatureConfig, asof

LABEL_KEYS = {"rul_max", "horizon_hours"}


def label_config(spec: Spec) -> dict:
    """The [label] section: {"rul_max": R} or {"horizon_hours": H}, exactly one of them."""
    raw = spec.extra.get("label")
    if not isinstance(raw, dict) or len(set(raw) & LABEL_KEYS) != 1:
        raise SpecError(
            spec.path, "label", "a [label] table with either rul_max or horizon_hours is required"
        )
    for key in raw:
        if key not in LABEL_KEYS:
            raise SpecError(
                spec.path, f"label.{key}", f"unknown key (known: {', '.join(sorted(LABEL_KEYS))})"
            )
    if "rul_max" in raw:
        value = raw["rul_max"]
        if type(value) is not int or value < 0:
            raise SpecError(spec.path, "label.rul_max", f"must be an integer >= 0, got {value!r}")
        return {"rul_max": value}
    value = raw["horizon_hours"]
    if type(value) not in (int, float) or not value > 0:
        raise SpecError(spec.path, "label.horizon_hours", f"must be a number > 0, got {value!r}")
    return {"horizon_hours": float(value)}


def rul_max(spec: Spec) -> int:
    """The [label] section's `rul_max`: a reading is positive when RUL <= rul_max."""
    label = label_config(spec)
    if "rul_max" not in label:
        raise SpecError(spec.path, "label.rul_max", "this spec labels by horizon_hours (a failure log)")
    return label["rul_max"]


def with_labels(frame: pd.DataFrame, config: FeatureConfig, rul_max: int) -> pd.DataFrame:
    """Add `rul` (last order of the device minus order) and `label` (rul <= rul_max)."""
    last = frame.groupby(config.device)[config.order].transform("max")
    rul = last - frame[config.order]
    return frame.assign(rul=rul, label=(rul <= rul_max).astype(int))


def with_failure_labels(
    frame: pd.DataFrame, config: FeatureConfig, failures: pd.DataFrame, horizon_hours: float
) -> pd.DataFrame:
    """Add `ttf` (seconds to the device's next failure at or after the reading; NaN when
    none is recorded) and `label` (ttf <= horizon). failures: columns device and order."""
    nxt = pd.to_datetime(asof(frame, failures, config, "forward"), utc=True)  # all NaN: no failure
    ttf = (nxt - frame[config.order]).dt.total_seconds()
    return frame.assign(ttf=ttf, label=(ttf <= horizon_hours * 3600.0).astype(int))
