"""The model OR the health indicators past their alert levels ([features.health] alert_wear,
alert_drop).

A classifier learns the failure modes its training devices hold; with ~20 failures per
fleet one mode can be nearly absent from the training split (seed 2 of bench/events.py: 4
bearing failures to learn from, none of the 4 held-out ones caught). The indicators compare
each device with its own past and need no example of a mode. So the deployed estimator is

    p = 1.0 where wear_level >= alert_wear or drift_drop >= alert_drop, else the model's p

and every engine that thresholds p (the alerting choice, `score`, `evaluate`, the stream,
Spark) alerts where either fires. The levels are the spec's: fixed, not fitted per training
run (chosen per run on ~20 failures they were unstable: bench/RESULTS-events.md).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from sensorpipe.model.health import DRIFT_DROP, WEAR_LEVEL


def levels(features) -> tuple[float, float] | None:
    """(wear, drop) alert levels of a feature config (inf where one is unset); None: no rule."""
    h = features.health
    if h is None or (h.alert_wear is None and h.alert_drop is None):
        return None
    inf = float("inf")
    return (inf if h.alert_wear is None else h.alert_wear, inf if h.alert_drop is None else h.alert_drop)


def fired(features, x: np.ndarray) -> np.ndarray:
    """Per row of x (the model's inputs, features.names): an indicator is at its alert level."""
    rule = with_alarm(None, features)
    return rule.fired(x) if rule is not None else np.zeros(len(x), dtype=bool)


class IndicatorAlarm(ClassifierMixin, BaseEstimator):
    """`model` (a fitted or unfitted classifier) OR x[:, wear] >= levels[0] OR x[:, drop] >= levels[1]."""

    def __init__(self, model=None, columns: tuple = (0, 1), levels: tuple = (np.inf, np.inf)):
        self.model = model
        self.columns = columns
        self.levels = levels

    def fit(self, x, y):
        self.model.fit(x, y)
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = np.asarray(x).shape[1]  # the registry checks it against the card
        return self

    def fired(self, x) -> np.ndarray:
        """Per row: an indicator is at its alert level."""
        x = np.asarray(x, dtype=float)
        return (x[:, self.columns[0]] >= self.levels[0]) | (x[:, self.columns[1]] >= self.levels[1])

    def predict_proba(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        p = np.where(self.fired(x), 1.0, self.model.predict_proba(x)[:, 1])
        return np.column_stack([1.0 - p, p])

    def predict(self, x) -> np.ndarray:
        return (self.predict_proba(x)[:, 1] >= 0.5).astype(int)


def with_alarm(estimator, features):
    """The estimator, wrapped in IndicatorAlarm when the features set alert levels (with
    estimator None: None without levels)."""
    at = levels(features)
    if at is None:
        return estimator
    names = features.names
    return IndicatorAlarm(estimator, (names.index(WEAR_LEVEL), names.index(DRIFT_DROP)), at)
