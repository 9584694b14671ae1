"""`sensorpipe train` and `sensorpipe evaluate`: files in, registry and metrics out.

    sensorpipe train --spec conf/cmapss.toml --input ../shared/data/cmapss/train_FD001.txt --model models/cmapss
    sensorpipe evaluate --spec conf/cmapss.toml --model models/cmapss \
        --input ../shared/data/cmapss/test_FD001.txt --truth ../shared/data/cmapss/RUL_FD001.txt --output out/eval

Evaluation judges each test device at its last reading, where the truth file gives the
remaining useful life; the label is RUL <= the [label] section's rul_max.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from sensorpipe.core.hashing import file_sha256
from sensorpipe.core.output import write_json
from sensorpipe.core.spec import Spec, load_spec
from sensorpipe.core.transform import sensor_cleaning
from sensorpipe.model.classifier import (
    apply_rule,
    classification_metrics,
    feature_importance,
    model_config,
    score,
    train,
)
from sensorpipe.model.features import feature_config, with_features
from sensorpipe.model.history import read_clean, read_log, split_devices, stratified_sample
from sensorpipe.model.labels import label_config, rul_max, with_failure_labels, with_labels
from sensorpipe.model.plots import write_plots
from sensorpipe.model.raw import last_readings, read_raw, read_truth
from sensorpipe.model.registry import load_model, save_model
from sensorpipe.store.local import LocalStore

# Published results on C-MAPSS FD001, label "fails within 30 cycles", last test cycle.
ANCHORS = (
    ("LSTM (Azure predictive-maintenance notebook)", 0.96, 0.96, 0.96),
    ("Azure ML template, best model", 0.952, 0.80, 0.87),
)


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
) -> tuple[Path, dict]:
    """Build features and labels, train, and register a new current version.

    Run-to-failure series (a [label] rul_max) come as raw files; a fleet's history (a
    [label] horizon_hours) as one cleaning output with its failure and maintenance logs.

    `threads` caps the native thread pools (OpenMP, BLAS): the trees' OpenMP threads slow
    down badly on a machine whose cores are busy with other work.
    """
    with threadpool_limits(limits=threads):
        return _train(spec_path, inputs, model_dir, failures, maintenance)


def _fleet_frame(spec: Spec, features, label: dict, inputs: list[str], failures, maintenance):
    """Features and labels of a cleaning output, with what the card keeps about it."""
    if len(inputs) != 1 or not failures:
        raise ValueError(f"{spec.path}: [label] horizon_hours trains on one cleaning output and --failures")
    columns = [features.device, features.order, *features.sensors]
    frame, stats = read_clean(inputs[0], spec, columns)
    maint = read_log(maintenance, features) if maintenance else None
    frame = with_features(frame, features, maint)
    frame = with_failure_labels(frame, features, read_log(failures, features), label["horizon_hours"])
    logs = [p for p in (failures, maintenance) if p]
    data = [{"path": str(inputs[0]), "sha256": dir_fingerprint(Path(inputs[0]))}]
    data += [{"path": str(p), "sha256": file_sha256(p)} for p in logs]
    return (
        frame,
        data,
        {
            "cleaning": sensor_cleaning(spec, stats, features.sensors),
            "maintenance_log": bool(maint is not None),
        },
    )


def dir_fingerprint(root: Path) -> str:
    """SHA-256 over the names and SHA-256s of a cleaning output's stats.json and part files."""
    digest = hashlib.sha256()
    for p in [root / "stats.json", *sorted((root / "clean").iterdir())]:
        if p.is_file() and not p.name.startswith((".", "_")):
            digest.update(f"{p.name}\0{file_sha256(p)}\n".encode())
    return digest.hexdigest()


def _train(
    spec_path: str, inputs: list[str], model_dir: str, failures=None, maintenance=None
) -> tuple[Path, dict]:
    spec = load_spec(spec_path)
    features, label, config = feature_config(spec), label_config(spec), model_config(spec)
    held, extra = None, {}
    if "rul_max" in label:
        frame = read_inputs(spec, inputs, features.device)
        frame = with_labels(with_features(frame, features), features, label["rul_max"])
        data = [{"path": str(p), "sha256": file_sha256(p)} for p in inputs]
    else:
        frame, data, extra = _fleet_frame(spec, features, label, inputs, failures, maintenance)
        kept, out = split_devices(frame[features.device], config.holdout, config.seed)
        held, frame = frame[frame[features.device].isin(out)], frame[frame[features.device].isin(kept)]
        extra["holdout_devices"] = out
    rows = len(frame)
    if rows > config.max_rows:
        frame = stratified_sample(frame, config.max_rows, config.seed)
        extra["sample"] = (
            f"trained on a stratified sample of {len(frame):,} of {rows:,} rows (max_rows), class shares kept"
        )
    return fit_and_register(spec, frame, held, rows, data, extra, model_dir)


def fit_and_register(
    spec: Spec, frame: pd.DataFrame, held, rows: int, data: list, extra: dict, model_dir: str
) -> tuple[Path, dict]:
    """Train on frame (features and `label`), score the held-out rows if any, and register
    the model with its card; `rows` counts the training rows before any sampling."""
    features, label, config = feature_config(spec), label_config(spec), model_config(spec)
    result = train(frame, features, config)
    importance = feature_importance(result.model, frame, seed=config.seed)
    metrics = {"out_of_fold": result.oof_metrics}
    baseline = result.baseline
    if held is not None and len(held):
        y = held["label"].to_numpy(dtype=int)
        metrics["holdout"] = classification_metrics(
            y, score(held, result.model).to_numpy(), result.model.threshold
        )
        baseline = {**baseline, "holdout": classification_metrics(y, apply_rule(held, baseline), 0.5)}
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
            "class_weight": config.class_weight,
            "seed": config.seed,
        },
        "cv": result.cv,
        "metrics": metrics,
        "baseline": baseline,
        "importance": {k: float(v) for k, v in importance.head(20).items()},
    }
    title = f"{spec.name} {result.name}"

    def plots(where: Path) -> list[str]:
        return write_plots(
            where, result.oof_label, result.oof_proba, result.model.threshold, importance, title
        )

    version = save_model(result.model, model_dir, card, plots)
    return version, json.loads((version / "card.json").read_text(encoding="utf-8"))


def _plain(params: dict) -> dict:
    """Estimator parameters that JSON can hold (nested estimators become their repr)."""
    return {
        k: v if isinstance(v, (int, float, str, bool, type(None))) else repr(v) for k, v in params.items()
    }


def run_evaluate(spec_path: str, model_dir: str, test: str, truth: str, out: str) -> dict:
    """Score each test device at its last reading against the truth file; write OUT."""
    spec = load_spec(spec_path)
    model = load_model(model_dir)
    card = model.card
    if card.get("spec", {}).get("sha256") != spec.sha256:
        print(
            f"sensorpipe: note: {spec.path} differs from the spec the model was trained with", file=sys.stderr
        )
    horizon = int(card.get("label", {}).get("rul_max", rul_max(spec)))
    raw = read_raw(spec, test)
    last = last_readings(with_features(raw, model.features), model.features)
    rul = read_truth(truth)
    if len(rul) != len(last) or not np.array_equal(rul.index.to_numpy(), last.index.to_numpy()):
        raise ValueError(
            f"{truth}: {len(rul)} lines for {len(last)} devices numbered {last.index.min()}..{last.index.max()}"
        )
    label = (rul.to_numpy() <= horizon).astype(int)
    proba = score(last, model).to_numpy()
    metrics = classification_metrics(label, proba, model.threshold)
    rule = card.get("baseline")
    baseline = classification_metrics(label, apply_rule(last, rule), 0.5) if rule else None
    doc = {
        **metrics,
        "threshold": model.threshold,
        "label": f"RUL <= {horizon} at the last reading of each device",
        "model": {"version": card.get("version"), "name": card.get("model", {}).get("name")},
        "test_data": {
            "path": test,
            "sha256": file_sha256(test),
            "truth": truth,
            "truth_sha256": file_sha256(truth),
        },
        "baseline": {**rule, "test": baseline} if rule else None,
        "anchors": [dict(zip(("name", "precision", "recall", "f1"), a)) for a in ANCHORS],
    }
    predictions = pd.DataFrame(
        {
            "device": last.index,
            "rul": rul.to_numpy(),
            "label": label,
            "probability": proba,
            "predicted": (proba >= model.threshold).astype(int),
        }
    )
    with LocalStore().staged_output(out) as stage:
        write_json(Path(stage) / "metrics.json", doc)
        predictions.to_csv(Path(stage) / "predictions.csv", index=False)
    return doc


def comparison_table(doc: dict) -> str:
    """This run and the baseline beside the published anchors."""
    rows = [
        (
            f"sensorpipe {doc['model']['name']} (threshold {doc['threshold']:.3f})",
            doc["precision"],
            doc["recall"],
            doc["f1"],
        )
    ]
    base = doc.get("baseline")
    if base and base.get("test"):
        sign = ">=" if base["direction"] == "above" else "<="
        rows.append(
            (
                f"baseline: {base['sensor']} {sign} {base['threshold']:g}",
                base["test"]["precision"],
                base["test"]["recall"],
                base["test"]["f1"],
            )
        )
    rows += list(ANCHORS)
    width = max(len(r[0]) for r in rows)
    lines = [f"{'model':<{width}}  precision  recall     f1", "-" * (width + 28)]
    lines += [f"{n:<{width}}  {p:>9.3f}  {r:>6.3f}  {f:>5.3f}" for n, p, r, f in rows]
    return "\n".join(lines)


def holdout_table(card: dict) -> str:
    """Model and baseline on the held-out devices, every metric."""
    keys = ("precision", "recall", "f1", "accuracy", "roc_auc", "pr_auc", "n")
    base = card["baseline"]
    sign = ">=" if base["direction"] == "above" else "<="
    rows = [
        (f"{card['model']['name']} (threshold {card['threshold']:.3f})", card["metrics"]["holdout"]),
        (f"baseline: {base['sensor']} {sign} {base['threshold']:g}", base["holdout"]),
    ]
    width = max(len(r[0]) for r in rows)
    head = f"{'held-out devices':<{width}}" + "".join(f"  {k:>9}" for k in keys)
    lines = [head, "-" * len(head)]
    for name, m in rows:
        cells = "".join(f"  {m[k]:>9}" if k == "n" else f"  {_num(m[k]):>9}" for k in keys)
        lines.append(f"{name:<{width}}{cells}")
    return "\n".join(lines)


def _num(v) -> str:
    return "-" if v is None else f"{v:.3f}"
