"""Train and score the predictive-maintenance classifier on pandas (scikit-learn).

Candidates (logistic regression on standardized features, gradient-boosted trees, and
their soft-voting average) are compared by cross-validation grouped by device, so a fold
holds out whole run-to-failure series; the best by mean average precision is refitted on
everything. Its decision threshold is the middle of the out-of-fold F1 curve's near-best
plateau (sensorpipe/model/thresholds.py: it moves far less with the folds' split than the
best cut itself), on the out-of-fold predictions of [model] repeats splits pooled; a
one-sensor, one-threshold baseline is scored out of fold beside it. Features look only
backwards, so a reading scored out of fold stands for a series cut at that reading, as
the test series are. No test data is seen here.

Given a failure log and timestamps (`Events`: a fleet's history), the model, threshold and
alert quiet are chosen per event instead, for the operator's objective
(sensorpipe/model/alerting.py), on out-of-fold predictions of every training reading.
With [features.health] alert levels the model, chosen on its own, is wrapped so that it also
alerts where the indicators reach them (sensorpipe/model/rule.py); the card's out-of-fold
figures are the combination's, the model's alone beside them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier, VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sensorpipe.core.spec import Alerts, Spec, SpecError
from sensorpipe.model import rule as alarm
from sensorpipe.model.alerting import choose_alerting
from sensorpipe.model.features import FeatureConfig, with_features
from sensorpipe.model.thresholds import plateau_midpoint

CANDIDATES = ("logistic", "hgb", "ensemble")
MODEL_KEYS = {"candidates", "folds", "repeats", "class_weight", "seed", "max_rows", "holdout"}


@dataclass(frozen=True)
class ModelConfig:
    candidates: tuple[str, ...] = CANDIDATES
    folds: int = 5
    class_weight: str = "none"
    seed: int = 0
    max_rows: int = 500_000  # more training rows than this: a stratified sample (noted in the card)
    holdout: float = 0.25  # share of devices held out for the test metrics (failure-log labels)
    # cross-validation splits of the devices (each `folds` folds): the per-reading threshold and
    # the model's average precision pool them all (a steadier choice at `repeats` times the cost)
    repeats: int = 1


@dataclass
class Model:
    """A fitted estimator with what scoring needs: its features and threshold."""

    estimator: object
    features: FeatureConfig
    threshold: float
    card: dict = field(default_factory=dict)


@dataclass
class TrainResult:
    model: Model
    name: str
    cv: dict
    oof_label: np.ndarray
    oof_proba: np.ndarray
    oof_metrics: dict
    baseline: dict
    alerting: dict | None = None  # the event-level choice (sensorpipe/model/alerting.py)


@dataclass(frozen=True)
class Events:
    """What choosing alerting per event needs: every training reading with its features (the
    fitting frame may be a sample of them), the failure log, the objective."""

    rows: pd.DataFrame
    failures: pd.DataFrame
    objective: Alerts


def model_config(spec: Spec) -> ModelConfig:
    """The optional [model] section, validated."""
    raw = spec.extra.get("model", {})
    for key in raw:
        if key not in MODEL_KEYS:
            raise SpecError(
                spec.path, f"model.{key}", f"unknown key (known: {', '.join(sorted(MODEL_KEYS))})"
            )
    cands = raw.get("candidates", list(CANDIDATES))
    if not isinstance(cands, list) or not cands or any(c not in CANDIDATES for c in cands):
        raise SpecError(spec.path, "model.candidates", f"a non-empty list from {', '.join(CANDIDATES)}")
    folds = raw.get("folds", 5)
    if type(folds) is not int or folds < 2:
        raise SpecError(spec.path, "model.folds", "an integer >= 2")
    weight = raw.get("class_weight", "none")
    if weight not in ("balanced", "none"):
        raise SpecError(spec.path, "model.class_weight", '"balanced" or "none"')
    seed = raw.get("seed", 0)
    if type(seed) is not int:
        raise SpecError(spec.path, "model.seed", "an integer")
    max_rows = raw.get("max_rows", ModelConfig.max_rows)
    if type(max_rows) is not int or max_rows < 100:
        raise SpecError(spec.path, "model.max_rows", "an integer >= 100")
    repeats = raw.get("repeats", 1)
    if type(repeats) is not int or repeats < 1:
        raise SpecError(spec.path, "model.repeats", "an integer >= 1")
    holdout = raw.get("holdout", ModelConfig.holdout)
    if type(holdout) not in (int, float) or not 0 < holdout < 1:
        raise SpecError(spec.path, "model.holdout", "a share of devices between 0 and 1")
    return ModelConfig(tuple(cands), folds, weight, seed, max_rows, float(holdout), repeats)


def make_estimator(name: str, config: ModelConfig):
    weight = None if config.class_weight == "none" else "balanced"
    if name == "logistic":
        return make_pipeline(StandardScaler(), LogisticRegression(C=0.1, class_weight=weight, max_iter=5000))
    if name == "ensemble":
        members = [(m, make_estimator(m, config)) for m in ("logistic", "hgb")]
        return VotingClassifier(members, voting="soft")
    return HistGradientBoostingClassifier(
        learning_rate=0.05,
        max_iter=200,
        max_leaf_nodes=15,
        min_samples_leaf=40,
        l2_regularization=1.0,
        class_weight=weight,
        early_stopping=False,
        random_state=config.seed,
    )


def train(
    frame: pd.DataFrame, features: FeatureConfig, config: ModelConfig, events: Events | None = None
) -> TrainResult:
    """Pick, threshold and refit a model on a frame with features and a `label` column; with
    `events`, pick the model, threshold and quiet per event (module docstring)."""
    x = frame[features.names].to_numpy(dtype=float)
    y = frame["label"].to_numpy(dtype=int)
    groups = frame[features.device].to_numpy()
    folds = _folds(y, groups, config)
    splits = [folds, *(_folds(y, groups, replace(config, seed=s)) for s in repeat_seeds(config))]
    if events is not None and len(splits) > 1:
        raise ValueError(
            "[model] repeats pools per-reading out-of-fold predictions; a fleet with a failure log"
            " chooses its alerting per event on one split of its devices: leave model.repeats out"
        )
    whole = None
    if events is not None:  # every training reading, by device and time, with its fold
        whole = events.rows.sort_values([features.device, features.order], kind="stable")
        whole = whole.reset_index(drop=True)
        fold_of = {g: k for k, (_, v) in enumerate(folds) for g in np.unique(groups[v])}
        whole_fold = whole[features.device].map(fold_of).fillna(-1).to_numpy(dtype=int)
    cv, oof, oof_whole = {}, {}, {}  # oof[name]: out-of-fold probabilities, one array per split
    for name in sorted(config.candidates, key=lambda n: n == "ensemble"):
        if name == "ensemble" and {"logistic", "hgb"} <= oof.keys():
            # soft voting averages the members' probabilities: same folds, same average
            oof[name] = [(a + b) / 2 for a, b in zip(oof["logistic"], oof["hgb"], strict=True)]
            if whole is not None:
                oof_whole[name] = (oof_whole["logistic"] + oof_whole["hgb"]) / 2
            scores = [
                average_precision_score(y[v], p[v])
                for p, split in zip(oof[name], splits, strict=True)
                for _, v in split
            ]
        else:
            more = (whole[features.names].to_numpy(dtype=float), whole_fold) if whole is not None else None
            scores, oof[name] = [], []
            for r, split in enumerate(splits):
                got, p, w = _cross_validate(
                    make_estimator(name, config), x, y, split, more if r == 0 else None
                )
                scores += got
                oof[name].append(p)
                if r == 0:  # the choice per event sees the first split only
                    oof_whole[name] = w
        cv[name] = {"average_precision": float(np.mean(scores)), "std": float(np.std(scores))}
    best = max(config.candidates, key=lambda n: cv[n]["average_precision"])
    # every split's out-of-fold predictions pooled: each reading counted once per split
    y_oof, p_oof = np.tile(y, len(splits)), np.concatenate(oof[best])
    threshold, alerting = plateau_midpoint(y_oof, p_oof), None
    baseline, rule_whole = fit_baseline(
        frame, features, folds, (whole, whole_fold) if whole is not None else None
    )
    alarmed = alarm.levels(features) is not None  # [features.health] alert levels
    if whole is not None:
        ordered = {n: oof_whole[n] for n in config.candidates}
        hit = alarm.fired(features, whole[features.names].to_numpy(dtype=float)) if alarmed else None
        alerting = choose_alerting(whole, ordered, rule_whole, events, features.device, features.order, hit)
        best, threshold = alerting["model"], alerting["threshold"]
        p_oof = oof[best][0]
    estimator = alarm.with_alarm(make_estimator(best, config), features).fit(x, y)
    model = Model(estimator, features, threshold)
    if alarmed:  # out of fold as deployed: the model OR the alarm
        p_oof = np.where(np.tile(alarm.fired(features, x), len(splits)), 1.0, p_oof)
    metrics = classification_metrics(y_oof, p_oof, threshold)
    return TrainResult(model, best, cv, y_oof, p_oof, metrics, baseline, alerting)


def repeat_seeds(config: ModelConfig) -> list[int]:
    """The fold seeds of [model] repeats' further splits (the first split is [model] seed's),
    drawn from that seed: two seeds share none."""
    return [int(s) for s in np.random.SeedSequence(config.seed % 2**32).generate_state(config.repeats - 1)]


def _folds(y, groups, config: ModelConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    """Device-grouped folds; each fold's training part must hold both labels (else a raw
    scikit-learn error deep in the fit): a clear error naming what to change."""
    splitter = GroupKFold(n_splits=config.folds, shuffle=True, random_state=config.seed)
    folds = list(splitter.split(np.zeros(len(y)), y, groups))
    for k, (fit_idx, _) in enumerate(folds):
        if len(np.unique(y[fit_idx])) < 2:
            failing = len(np.unique(groups[np.asarray(y) == 1]))
            raise ValueError(
                f"cross-validation fold {k + 1} of {config.folds} has no positive label among its training"
                f" devices (only {failing} device(s) have label 1): simulate more devices or a longer"
                " history, or lower [model] folds"
            )
    return folds


def _cross_validate(estimator, x, y, folds, whole=None) -> tuple[list[float], np.ndarray, np.ndarray | None]:
    """Per-fold average precision and out-of-fold probabilities; with whole = (x, fold per
    row), the out-of-fold probabilities of those rows too (each by the model of its fold)."""
    oof = np.zeros(len(y))
    oof_whole = np.zeros(len(whole[1])) if whole is not None else None
    scores = []
    for k, (fit_idx, val_idx) in enumerate(folds):
        fitted = clone(estimator).fit(x[fit_idx], y[fit_idx])
        oof[val_idx] = fitted.predict_proba(x[val_idx])[:, 1]
        scores.append(average_precision_score(y[val_idx], oof[val_idx]))
        if whole is not None and (mine := whole[1] == k).any():
            oof_whole[mine] = fitted.predict_proba(whole[0][mine])[:, 1]
    return scores, oof, oof_whole


def best_cut(x: np.ndarray, y: np.ndarray) -> tuple[float, float, str]:
    """(F1, threshold, direction) of the best rule `x >= t` ("above") or `x <= t` ("below")."""
    best = (-1.0, float("nan"), "above")
    positives = y.sum()
    for direction, sign in (("above", 1.0), ("below", -1.0)):
        v = sign * x
        order = np.argsort(-v, kind="stable")
        vs, ys = v[order], y[order]
        f1 = 2 * np.cumsum(ys) / (np.arange(1, len(vs) + 1) + positives)
        f1[:-1][vs[1:] == vs[:-1]] = -1.0  # cut only after the last copy of a value
        i = int(np.argmax(f1))
        if f1[i] > best[0]:
            best = (float(f1[i]), float(sign * vs[i]), direction)
    return best


def _fit_rule(frame: pd.DataFrame, sensors, y) -> dict:
    rules = [(*best_cut(frame[s].to_numpy(dtype=float), y), s) for s in sensors]
    f1, threshold, direction, sensor = max(rules, key=lambda r: r[0])
    return {"sensor": sensor, "direction": direction, "threshold": threshold, "train_f1": f1}


def apply_rule(frame: pd.DataFrame, rule: dict) -> np.ndarray:
    x = frame[rule["sensor"]].to_numpy(dtype=float)
    hit = x >= rule["threshold"] if rule["direction"] == "above" else x <= rule["threshold"]
    return hit.astype(int)


def fit_baseline(
    frame: pd.DataFrame, features: FeatureConfig, folds, whole=None
) -> tuple[dict, np.ndarray | None]:
    """The best one-sensor rule, refitted on all rows, with its out-of-fold scores; with
    whole = (rows, fold per row), each fold's rule's predictions of those rows too."""
    y = frame["label"].to_numpy(dtype=int)
    pred = np.zeros(len(y), dtype=int)
    pred_whole = np.zeros(len(whole[1]), dtype=int) if whole is not None else None
    for k, (fit_idx, val_idx) in enumerate(folds):
        rule = _fit_rule(frame.iloc[fit_idx], features.sensors, y[fit_idx])
        pred[val_idx] = apply_rule(frame.iloc[val_idx], rule)
        if whole is not None and (mine := whole[1] == k).any():
            pred_whole[mine] = apply_rule(whole[0][mine], rule)
    rule = _fit_rule(frame, features.sensors, y)
    rule["oof"] = classification_metrics(y, pred, 0.5)
    return rule, pred_whole


def classification_metrics(y: np.ndarray, proba: np.ndarray, threshold: float) -> dict:
    """Scores of `proba >= threshold` against y; the AUCs use proba itself."""
    y = np.asarray(y, dtype=int)
    pred = (np.asarray(proba) >= threshold).astype(int)
    both = len(np.unique(y)) == 2
    return {
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "f1": float(f1_score(y, pred, zero_division=0)),
        "accuracy": float(accuracy_score(y, pred)),
        "roc_auc": float(roc_auc_score(y, proba)) if both else None,
        "pr_auc": float(average_precision_score(y, proba)) if both else None,
        "n": len(y),
    }


def score(frame: pd.DataFrame, model: Model) -> pd.Series:
    """Failure probabilities aligned with frame's index.

    A frame that already holds the model's feature columns is scored as it is; one that
    holds raw readings (device, order, sensors) gets its features computed first.
    """
    names = model.features.names
    rows = frame
    if not set(names) <= set(frame.columns):
        # features sort by (device, order); the positional index puts rows back in place
        rows = with_features(frame.reset_index(drop=True), model.features).sort_index()
    proba = model.estimator.predict_proba(rows[names].to_numpy(dtype=float))[:, 1]
    return pd.Series(proba, index=frame.index, name="probability")


def feature_importance(model: Model, frame: pd.DataFrame, seed: int = 0, rows: int = 1000) -> pd.Series:
    """Logistic: |standardized coefficient|; trees: permutation importance on a subsample."""
    names = model.features.names
    est = model.estimator
    if hasattr(est, "steps"):
        return pd.Series(np.abs(est.steps[-1][1].coef_[0]), index=names).sort_values(ascending=False)
    from sklearn.inspection import permutation_importance

    sample = frame.sample(n=min(rows, len(frame)), random_state=seed)
    result = permutation_importance(
        est,
        sample[names].to_numpy(dtype=float),
        sample["label"].to_numpy(dtype=int),
        scoring="average_precision",
        n_repeats=2,
        random_state=seed,
    )
    return pd.Series(result.importances_mean, index=names).sort_values(ascending=False)
