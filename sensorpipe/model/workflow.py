"""`sensorpipe train` and `sensorpipe evaluate`: files in, registry and metrics out.

    sensorpipe train --spec conf/cmapss.toml --input ../shared/data/cmapss/train_FD001.txt --model models/cmapss
    sensorpipe evaluate --spec conf/cmapss.toml --model models/cmapss \
        --input ../shared/data/cmapss/test_FD001.txt --truth ../shared/data/cmapss/RUL_FD001.txt --output out/eval

Training a fleet (a [label] horizon_hours spec with a failure log) also chooses the alerting
(sensorpipe/model/alerting.py). Evaluation lives in sensorpipe/model/evaluate.py, the printed
tables in sensorpipe/model/tables.py (both re-exported here).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pandas as pd
from threadpoolctl import threadpool_limits

from sensorpipe.core.hashing import file_sha256
from sensorpipe.core.spec import Spec, SpecError, load_spec
from sensorpipe.core.transform import sensor_cleaning
from sensorpipe.model.classifier import (
    Events,
    apply_rule,
    classification_metrics,
    feature_importance,
    model_config,
    score,
    train,
)
from sensorpipe.model.evaluate import card_quiet_us, run_evaluate
from sensorpipe.model.events import judge_scores
from sensorpipe.model.features import FeatureConfig, feature_config, fitted, with_features, without_warming
from sensorpipe.model.history import read_clean, read_log, split_devices, stratified_sample
from sensorpipe.model.labels import label_config, with_failure_labels, with_labels
from sensorpipe.model.plots import write_plots
from sensorpipe.model.raw import read_raw
from sensorpipe.model.registry import read_card, save_model
from sensorpipe.model.tables import comparison_table, events_table, holdout_table
from sensorpipe.store.base import Store

log = logging.getLogger(__name__)

__all__ = ["comparison_table", "events_table", "holdout_table", "run_evaluate", "run_train"]


def read_inputs(spec: Spec, inputs: list[str], device: str) -> pd.DataFrame:
    """Concatenate raw files; a device id may not appear in two of them."""
    frames = [read_raw(spec, p) for p in inputs]
    seen: set = set()
    for path, frame in zip(inputs, frames):
        ids = set(frame[device].unique())
        if seen & ids:
            raise ValueError(f"{path}: device ids also present in an earlier input: {sorted(seen & ids)[:5]}")
        seen |= ids
    return pd.concat(frames, ignore_index=True)


def run_train(
    spec_path: str,
    inputs: list[str],
    model_dir: str,
    threads: int | None = None,
    failures: str | None = None,
    maintenance: str | None = None,
    store: Store | None = None,
) -> tuple[Path | str, dict]:
    """Build features and labels, train, and register a new current version (in `store`: by
    default the one model_dir's path names, sensorpipe.store.uri).

    Run-to-failure series (a [label] rul_max) come as raw files; a fleet's history (a
    [label] horizon_hours) as one cleaning output with its failure and maintenance logs.

    `threads` caps the native thread pools (OpenMP, BLAS): the trees' OpenMP threads slow
    down badly on a machine whose cores are busy with other work.
    """
    with threadpool_limits(limits=threads):
        return _train(spec_path, inputs, model_dir, failures, maintenance, store)


def _fleet_frame(spec: Spec, features, label: dict, inputs: list[str], failures, maintenance):
    """Features and labels of a cleaning output, with what the card keeps about it."""
    if len(inputs) != 1 or not failures:
        raise ValueError(f"{spec.path}: [label] horizon_hours trains on one cleaning output and --failures")
    columns = [features.device, features.order, *features.sensors]
    frame, stats = read_clean(inputs[0], spec, columns)
    maint = read_log(maintenance, features) if maintenance else None
    cleaning = sensor_cleaning(spec, stats, features.sensors)
    features = fitted(features, frame, cleaning, maint)  # [features.health]'s fleet parameters
    frame = without_warming(with_features(frame, features, maint))
    frame = with_failure_labels(frame, features, read_log(failures, features), label["horizon_hours"])
    logs = [p for p in (failures, maintenance) if p]
    data = [{"path": str(inputs[0]), "sha256": dir_fingerprint(Path(inputs[0]))}]
    data += [{"path": str(p), "sha256": file_sha256(p)} for p in logs]
    return (
        frame,
        data,
        {"cleaning": cleaning, "maintenance_log": bool(maint is not None)},
        features,
    )


def dir_fingerprint(root: Path) -> str:
    """SHA-256 over the names and SHA-256s of a cleaning output's stats.json and part files."""
    digest = hashlib.sha256()
    for p in [root / "stats.json", *sorted((root / "clean").iterdir())]:
        if p.is_file() and not p.name.startswith((".", "_")):
            digest.update(f"{p.name}\0{file_sha256(p)}\n".encode())
    return digest.hexdigest()


def _train(
    spec_path: str, inputs: list[str], model_dir: str, failures=None, maintenance=None, store=None
) -> tuple[Path | str, dict]:
    spec = load_spec(spec_path)
    features, label, config = feature_config(spec), label_config(spec), model_config(spec)
    held, extra = None, {}
    if "rul_max" in label:
        frame = read_inputs(spec, inputs, features.device)
        frame = with_labels(without_warming(with_features(frame, features)), features, label["rul_max"])
        data = [{"path": str(p), "sha256": file_sha256(p)} for p in inputs]
    else:
        frame, data, extra, features = _fleet_frame(spec, features, label, inputs, failures, maintenance)
        kept, out = split_devices(frame[features.device], config.holdout, config.seed)
        held, frame = frame[frame[features.device].isin(out)], frame[frame[features.device].isin(kept)]
        extra["holdout_devices"] = out
        failure_log = read_log(failures, features)
        if not frame["label"].any():  # an empty failure log (a short history), or no failure in time
            raise ValueError(
                f"{failures}: none of the {len(kept)} training devices fails within [label] horizon_hours"
                f" ({label['horizon_hours']:g} h) of a reading: a failure model needs failures to learn"
                " from; simulate a longer history (e.g. --hours 720)"
            )
    rows, whole = len(frame), frame
    if rows > config.max_rows:
        frame = stratified_sample(frame, config.max_rows, config.seed)
        extra["sample"] = (
            f"trained on a stratified sample of {len(frame):,} of {rows:,} rows (max_rows), class shares kept"
        )
    log_kept = failure_log if held is not None else None
    return fit_and_register(spec, frame, held, rows, data, extra, model_dir, store, log_kept, whole, features)


def fit_and_register(
    spec: Spec, frame: pd.DataFrame, held, rows: int, data: list, extra: dict, model_dir: str,
    store: Store | None = None, failure_log: pd.DataFrame | None = None, whole: pd.DataFrame | None = None,
    features: FeatureConfig | None = None,
) -> tuple[Path | str, dict]:  # fmt: skip
    """Train on frame (features and `label`), score the held-out rows if any, and register
    the model with its card; `rows` counts the training rows before any sampling. With the
    failure log and timestamps, the model, threshold and quiet are chosen per event on every
    training reading (`whole`, default frame; sensorpipe/model/alerting.py) and the held-out
    devices are judged per event too (sensorpipe.model.events). `features`: the spec's, fitted
    (sensorpipe.model.features.fitted); by default the spec's as they are."""
    features = features or feature_config(spec)
    label, config = label_config(spec), model_config(spec)
    log.info(
        "train: %s on %s rows, %d folds%s",
        ", ".join(config.candidates),
        f"{len(frame):,}",
        config.folds,
        f", {config.repeats} splits" if config.repeats > 1 else "",
    )
    events = None
    if failure_log is not None and pd.api.types.is_datetime64_any_dtype(frame[features.order]):
        events = Events(frame if whole is None else whole, failure_log, spec.alerts)
        if config.repeats > 1:  # DESIGN: an invalid spec exits 2, naming the key
            raise SpecError(
                spec.path, "model.repeats", "a fleet with a failure log chooses its alerting per event on one"
                " split of its devices: leave it out"
            )  # fmt: skip
    result = train(frame, features, config, events)
    alerting = result.alerting or {}
    log.info("train: %s chosen; importance, plots, registry", result.name)
    importance = feature_importance(result.model, frame, seed=config.seed)
    metrics = {"out_of_fold": result.oof_metrics}
    baseline = result.baseline
    if alerting:
        metrics["out_of_fold_events"] = alerting["out_of_fold_events"]
        baseline = {**baseline, "oof_events": alerting["baseline_out_of_fold_events"]}
    if held is not None and len(held):
        y, proba, rule = (
            held["label"].to_numpy(dtype=int),
            score(held, result.model).to_numpy(),
            apply_rule(held, baseline),
        )
        metrics["holdout"] = classification_metrics(y, proba, result.model.threshold)
        baseline = {**baseline, "holdout": classification_metrics(y, rule, 0.5)}
        if failure_log is not None:
            rows_at = held[[features.device, features.order]]
            w, lead = spec.alerts.window_hours, spec.alerts.min_lead_hours
            quiet_us = card_quiet_us({"alerting": alerting})

            def judge(p, threshold):
                scored = rows_at.assign(probability=p)
                return judge_scores(
                    scored, failure_log, threshold, quiet_us, w, lead, features.device, features.order
                )

            metrics["holdout_events"] = judge(proba, result.model.threshold)
            baseline["holdout_events"] = judge(rule, 0.5)
    card = {
        "spec": {"path": spec.path, "sha256": spec.sha256, "name": spec.name},
        "training_data": data,
        "rows": rows,
        "devices": int(frame[features.device].nunique()),
        "label": {**label, "positives": int(frame["label"].sum())},
        **extra,
        "model": {"name": result.name, "params": _plain(result.model.estimator.get_params())},
        "config": {
            "candidates": list(config.candidates),
            "folds": config.folds,
            "repeats": config.repeats,
            "class_weight": config.class_weight,
            "seed": config.seed,
        },
        "cv": result.cv,
        **({"alerting": alerting} if alerting else {}),
        "metrics": metrics,
        "baseline": baseline,
        "importance": {k: float(v) for k, v in importance.head(20).items()},
    }
    title = f"{spec.name} {result.name}"

    def plots(where: Path) -> list[str]:
        return write_plots(
            where, result.oof_label, result.oof_proba, result.model.threshold, importance, title
        )

    version = save_model(result.model, model_dir, card, plots, store)
    return version, read_card(version, store)


def _plain(params: dict) -> dict:
    """Estimator parameters that JSON can hold (nested estimators become their repr)."""
    return {
        k: v if isinstance(v, (int, float, str, bool, type(None))) else repr(v) for k, v in params.items()
    }
