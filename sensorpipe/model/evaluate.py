"""`sensorpipe evaluate`: a registered model on test data it never saw.

Run-to-failure series (a [label] rul_max spec, C-MAPSS) are judged at each test device's last
reading against the RUL truth file:

    sensorpipe evaluate --spec conf/cmapss.toml --model models/cmapss \
        --input ../shared/data/cmapss/test_FD001.txt --truth ../shared/data/cmapss/RUL_FD001.txt --output out/eval

A fleet (a [label] horizon_hours spec) is judged on another history's cleaning output and its
failure log: per event with sensorpipe.model.events (the card's threshold; the quiet the stream
would use: [stream] quiet when the spec sets it, else the card's), the baseline beside it, the
per-reading metrics beside them:

    sensorpipe evaluate --spec conf/sensors.toml --model models/sensors --input out/clean-seed7 \
        --failures out/sim-seed7/failures.csv --maintenance out/sim-seed7/maintenance.csv --output out/eval
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from sensorpipe.core.hashing import file_sha256
from sensorpipe.core.output import write_json
from sensorpipe.core.spec import StreamConfig, duration_us, load_spec, stream_config
from sensorpipe.model.classifier import apply_rule, classification_metrics, score
from sensorpipe.model.events import alerts_from_scores, judge_failures, judge_scores, monitored_spans
from sensorpipe.model.features import with_features, without_warming
from sensorpipe.model.history import read_clean, read_log
from sensorpipe.model.labels import rul_max, with_failure_labels
from sensorpipe.model.raw import last_readings, read_raw, read_truth
from sensorpipe.model.registry import load_model
from sensorpipe.model.tables import ANCHORS
from sensorpipe.store.local import LocalStore

log = logging.getLogger(__name__)
QUIET_US = 30 * 60 * 1_000_000  # a card without an alerting choice: [stream] quiet's default


def card_quiet_us(card: dict) -> int:
    """The alert quiet the card chose (sensorpipe/model/alerting.py), else 30 minutes."""
    hours = (card.get("alerting") or {}).get("quiet_hours")
    return round(hours * 3_600_000_000) if hours else QUIET_US


def stream_quiet_us(stream: StreamConfig, card: dict) -> int:
    """The alert episodes' quiet time, as the stream takes it and `evaluate` judges with it:
    the spec's [stream] quiet when set, else the one the model card chose with its threshold
    (sensorpipe/model/alerting.py), else [stream] quiet's default (30 minutes)."""
    chosen = (card.get("alerting") or {}).get("quiet")
    if stream.quiet is not None or not chosen:
        return stream.quiet_us
    return duration_us(chosen)


def run_evaluate(
    spec_path: str, model_dir: str, test: str, truth: str | None, out: str, failures=None, maintenance=None
) -> dict:
    """Evaluate the current model on test data and write OUT (module docstring)."""
    spec = load_spec(spec_path)
    model = load_model(model_dir)
    card = model.card
    if card.get("spec", {}).get("sha256") != spec.sha256:
        log.warning("%s differs from the spec the model was trained with", spec.path)
    if "horizon_hours" in (card.get("label") or {}):
        if not failures:
            raise ValueError(
                f"{spec.path}: a fleet model ([label] horizon_hours) is judged against --failures"
            )
        return run_fleet_evaluate(spec, model, test, failures, maintenance, out)
    if not truth:
        raise ValueError(f"{spec.path}: a [label] rul_max model is judged against --truth (RUL per device)")
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


def run_fleet_evaluate(spec, model, clean: str, failures: str, maintenance, out: str) -> dict:
    """Score every reading of a cleaning output; judge per event and per reading; write OUT:
    metrics.json, alerts.csv (the model's), failures.csv (each failure judged)."""
    card, f = model.card, model.features
    columns = [f.device, f.order, *f.sensors]
    frame, _ = read_clean(clean, spec, columns)
    # warming readings get no probability (as in training and in the stream)
    frame = without_warming(with_features(frame, f, read_log(maintenance, f) if maintenance else None))
    failure_log = read_log(failures, f)
    frame = with_failure_labels(frame, f, failure_log, card["label"]["horizon_hours"])
    y, proba = frame["label"].to_numpy(dtype=int), score(frame, model).to_numpy()
    # the quiet the stream would use: the spec's [stream] quiet overrides the card's choice
    quiet_us = stream_quiet_us(stream_config(spec), card)
    w, lead = spec.alerts.window_hours, spec.alerts.min_lead_hours
    rows = frame[[f.device, f.order]]

    def judge(p, threshold):
        return judge_scores(
            rows.assign(probability=p), failure_log, threshold, quiet_us, w, lead, f.device, f.order,
            repeat_us=spec.alerts.repeat_us,
        )  # fmt: skip

    rule = card.get("baseline")
    base = apply_rule(frame, rule) if rule else None
    doc = {
        **classification_metrics(y, proba, model.threshold),
        "threshold": model.threshold,
        "quiet_hours": quiet_us / 3.6e9,
        "label": f"fails within {card['label']['horizon_hours']:g} h, every reading",
        "events": judge(proba, model.threshold),
        "model": {"version": card.get("version"), "name": card.get("model", {}).get("name")},
        "test_data": {"path": clean, "failures": failures, "failures_sha256": file_sha256(failures)},
        "baseline": (
            {**rule, "test": classification_metrics(y, base, 0.5), "events": judge(base, 0.5)}
            if rule
            else None
        ),
    }
    scored = rows.assign(probability=proba)
    alerts = alerts_from_scores(
        scored, model.threshold, quiet_us, f.device, f.order, repeat_us=spec.alerts.repeat_us
    )
    spans = monitored_spans(scored, f.device, f.order)
    judged = judge_failures(
        failure_log[failure_log[f.device].isin(spans.index)], alerts, spans, w, lead, f.device, f.order
    )
    with LocalStore().staged_output(out) as stage:
        write_json(Path(stage) / "metrics.json", doc)
        alerts.to_csv(Path(stage) / "alerts.csv", index=False)
        judged.to_csv(Path(stage) / "failures.csv", index=False)
    return doc
