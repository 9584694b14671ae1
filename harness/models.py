"""Stream material for the bench and the tests: simulated JSON-lines events and a small
registered model.

The model is a logistic regression fitted in a second on the events' own features (label:
a high 10-reading temperature mean), with the spec's health indicators fitted and its
alarm around it (as `sensorpipe train` deploys it), saved through the registry with a card
that holds hand-written cleaning parameters, so the stream has everything a trained model
gives it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from harness.paths import SPEC
from sensorpipe.core.spec import load_spec
from sensorpipe.model.classifier import Model, ModelConfig, make_estimator
from sensorpipe.model.features import clean_sensors, feature_config, fitted, with_features
from sensorpipe.model.registry import save_model
from sensorpipe.model.rule import with_alarm
from sensorpipe.sim.feed import EventStream
from sensorpipe.sim.text import CLEAN, Rates

# fill, clip bounds, scaling per sensor, as a cleaning run's stats would give them
CLEANING = {
    "temperature": {"fill": 70.0, "bounds": [20.0, 120.0], "center": 70.0, "divisor": 10.0, "as_int": False},
    "vibration": {"fill": 3.0, "bounds": [0.0, 12.0], "center": 3.0, "divisor": 1.5, "as_int": False},
    "pressure": {"fill": 300.0, "bounds": None, "center": 0.0, "divisor": 1000.0, "as_int": False},
    "rpm": {"fill": 1500, "bounds": [500, 3000], "center": None, "divisor": None, "as_int": True},
    "load": {"fill": 60.0, "bounds": None, "center": 60.0, "divisor": 20.0, "as_int": False},
}


def events(devices: int, n: int, seed: int = 3, clean: bool = True) -> bytes:
    spec = load_spec(SPEC)
    return EventStream(spec, devices, seed=seed, rates=CLEAN if clean else Rates()).take(n)


def events_frame(lines: bytes) -> pd.DataFrame:
    """The JSON lines as the batch job would read them: ts as UTC datetimes, nulls NaN."""
    rows = [json.loads(line) for line in lines.decode().splitlines() if line.strip()]
    frame = pd.DataFrame(rows)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True, format="ISO8601")
    return frame


def make_model(model_dir: Path, devices: int = 4, n: int = 2000) -> Path:
    """Fit the small model on `n` clean events of `devices` devices and register it in model_dir."""
    spec = load_spec(SPEC)
    frame = clean_sensors(events_frame(events(devices, n, seed=11)), CLEANING)
    features = fitted(feature_config(spec), frame, CLEANING)
    frame = with_features(frame, features)
    cut = np.quantile(frame["temperature_mean_10"], 0.8)
    y = (frame["temperature_mean_10"] > cut).astype(int).to_numpy()
    estimator = with_alarm(make_estimator("logistic", ModelConfig()), features)
    estimator = estimator.fit(frame[features.names].to_numpy(dtype=float), y)
    model = Model(estimator, features, threshold=0.5)
    return save_model(model, model_dir, {"cleaning": CLEANING})
