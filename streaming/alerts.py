"""Alert episodes and the sensors behind an alert, on plain numpy / pandas (no Spark).

An episode opens when a device's failure probability reaches the model's threshold: that
reading is the alert. It stays open, raising nothing more, until the probability has
stayed below the threshold for `quiet` (event time, counted from the first reading below);
the next reading at or above the threshold then opens the device's next episode. The rule
itself is sensorpipe.model.events.episodes, which the batch judging uses too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sensorpipe.model.classifier import Model
from sensorpipe.model.features import STATS


def sensor_of_feature(features) -> dict[str, str]:
    """Feature column -> the sensor it is computed from (`since` belongs to none)."""
    out = {x: x for x in features.sensors}
    for n in features.windows:
        for x in features.sensors:
            out.update({f"{x}_{s}_{n}": x for s in STATS})
    return out


def contributions(model: Model, rows: pd.DataFrame) -> pd.DataFrame:
    """Per row and sensor, how much the sensor's features raise the failure probability.

    A standardized linear model (scaler + logistic regression): the sum of coefficient x
    standardized value over the sensor's features (log-odds). Any other model: the drop in
    probability when the sensor's features are set to 0 (a cleaned, centred reading).
    """
    names = model.features.names
    owner = sensor_of_feature(model.features)
    x = rows[names].to_numpy(dtype=float)
    est = model.estimator
    steps = dict(getattr(est, "steps", []))
    scaler = next((s for s in steps.values() if hasattr(s, "mean_") and hasattr(s, "scale_")), None)
    last = est.steps[-1][1] if steps else None
    out = {}
    if scaler is not None and hasattr(last, "coef_"):
        parts = (x - scaler.mean_) / scaler.scale_ * last.coef_[0]
        for x_name in model.features.sensors:
            cols = [j for j, n in enumerate(names) if owner.get(n) == x_name]
            out[x_name] = parts[:, cols].sum(axis=1)
    else:
        base = est.predict_proba(x)[:, 1]
        for x_name in model.features.sensors:
            cols = [j for j, n in enumerate(names) if owner.get(n) == x_name]
            masked = x.copy()
            masked[:, cols] = 0.0
            out[x_name] = base - est.predict_proba(masked)[:, 1]
    return pd.DataFrame(out, index=rows.index)


def top_sensors(model: Model, rows: pd.DataFrame, k: int) -> list[str]:
    """Per row, the k sensors that raised its probability most, comma-separated, largest first."""
    if not len(rows):
        return []
    parts = contributions(model, rows)
    names = np.array(parts.columns)
    order = np.argsort(-parts.to_numpy(), axis=1, kind="stable")[:, :k]
    return [",".join(names[row]) for row in order]
