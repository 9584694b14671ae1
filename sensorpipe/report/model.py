"""The model section of `sensorpipe report`: a registry version's card and plots, and
an evaluation's metrics beside the baseline and the published anchors. A fleet model's
event figures (sensorpipe.model.events: out of fold, where its alerting was chosen, and on
held-out devices) come first, the per-reading metrics beside them."""

from __future__ import annotations

import json
from pathlib import Path

from sensorpipe.report.html import Section, absent, esc, file_uri, fmt, img, table

METRICS = ("precision", "recall", "f1", "accuracy", "roc_auc", "pr_auc")
PLOTS = (
    ("roc.png", "ROC curve, out-of-fold scores"),
    ("pr.png", "Precision-recall curve, out-of-fold scores; the dot is the alert threshold"),
    ("confusion.png", "Confusion matrix at the threshold, out-of-fold"),
    ("importance.png", "Feature importance (permutation)"),
)


def model_section(model_dir: Path | None, evaluation: Path | None) -> Section:
    lines, body = [], []
    card = None
    if model_dir is not None:
        version, card, problem = load_card(model_dir)
        if card is None:
            lines.append(f'<span class="absent">{esc(problem)}</span>')
        else:
            lines.append(_card_line(card))
            body.append(_card_body(version, card))
    if evaluation is not None:
        line, html = _evaluation(evaluation, card)
        lines.append(line)
        body.append(html)
    if not lines:
        lines.append('<span class="absent">no model given</span>')
    return Section("model", "Model", "<br>".join(lines), "".join(body))


def load_card(model_dir: Path) -> tuple[Path | None, dict | None, str]:
    from sensorpipe.model.registry import CARD_FILE, current_version  # noqa: PLC0415 (skops loads on demand)

    try:
        version = current_version(model_dir)
        return version, json.loads((version / CARD_FILE).read_text(encoding="utf-8")), ""
    except (OSError, ValueError, RuntimeError) as exc:
        return None, None, f"{model_dir}: no readable model card ({exc})"


def _card_line(card: dict) -> str:
    oof = (card.get("metrics") or {}).get("out_of_fold") or {}
    base = card.get("baseline") or {}
    name = (card.get("model") or {}).get("name", "?")
    line = (
        f"<b>{esc(name)}</b> version <code>{esc(card.get('version', '?'))}</code>, "
        f"{fmt(card.get('devices'))} devices, {fmt(card.get('rows'))} rows: "
        f"out-of-fold <b>F1 {fmt(oof.get('f1'))}</b>, PR AUC {fmt(oof.get('pr_auc'))}"
    )
    if base.get("oof"):
        line += f"; baseline {esc(_rule(base))}: F1 {fmt(base['oof'].get('f1'))}"
    alerting = card.get("alerting")
    if alerting:
        e = alerting.get("out_of_fold_events") or {}
        levels = alert_levels(card)
        line += (
            f"; per event out of fold{f' (OR {esc(levels)})' if levels else ''}:"
            f" <b>{e.get('caught')} of {e.get('judged')} failures caught</b>,"
            f" {fmt(e.get('false_per_device_day'))} false alerts per device-day (budget"
            f" {fmt(alerting['objective']['max_false_per_device_day'])}; threshold {fmt(alerting.get('threshold'))},"
            f" quiet {esc(alerting.get('quiet'))})"
        )
    held = (card.get("metrics") or {}).get("holdout")
    if held:
        line += f"; held-out devices: F1 {fmt(held.get('f1'))}"
        if base.get("holdout"):
            line += f" (baseline {fmt(base['holdout'].get('f1'))})"
    return line


def _rule(base: dict) -> str:
    sign = ">=" if base.get("direction") == "above" else "<="
    return f"{base.get('sensor')} {sign} {base.get('threshold', float('nan')):g}"


def _card_body(version: Path, card: dict) -> str:
    metrics, baseline = card.get("metrics") or {}, card.get("baseline") or {}
    name = (card.get("model") or {}).get("name", "model")
    columns = [
        (f"{name}, out of fold", metrics.get("out_of_fold")),
        ("baseline, out of fold", baseline.get("oof")),
    ]
    if metrics.get("holdout"):  # devices kept out of training altogether
        columns += [
            (f"{name}, held-out devices", metrics["holdout"]),
            ("baseline, held-out", baseline.get("holdout")),
        ]
    columns = [(title, values or {}) for title, values in columns]
    rows = [
        [m] + [values.get(m) for _, values in columns] for m in METRICS if any(m in v for _, v in columns)
    ]
    label = card.get("label") or {}
    what = (
        f"fails within {label['horizon_hours']:g} h"
        if "horizon_hours" in label
        else f"remaining life <= {label.get('rul_max', '?')}"
    )
    facts = table(
        ["", ""],
        [
            ["trained", card.get("created", "?")],
            ["spec", (card.get("spec") or {}).get("path", "?")],
            ["training data", ", ".join(d.get("path", "?") for d in card.get("training_data") or ())],
            [
                "label",
                f"{what} ({fmt(label.get('positives'))} positive rows)",
            ],
            ["alert threshold", fmt(card.get("threshold"))],
            ["features", fmt(len(card.get("features") or ()))],
        ],
        caption="Version",
    )
    scores = table(
        ["metric"] + [title for title, _ in columns],
        rows,
        caption=f"Metrics beside the one-sensor baseline ({_rule(baseline)})",
    )
    cv = table(
        ["candidate", "average precision", "std"],
        [[k, v.get("average_precision"), v.get("std")] for k, v in (card.get("cv") or {}).items()],
        caption="Cross-validated candidates",
        row_class=lambda i, r: "ours" if r[0] == (card.get("model") or {}).get("name") else "",
    )
    figures = []
    for name, caption in PLOTS:
        path = version / name
        figures.append(
            img(file_uri(path), caption, caption) if path.is_file() else absent(f"{name}: not in {version}")
        )
    events = _card_events(card, (card.get("model") or {}).get("name", "model"))
    return (
        f'<h3>Trained model</h3>{events}<div class="row">{scores}{cv}{facts}</div>'
        f'<div class="row">{"".join(figures)}</div>'
    )


EVENT_ROWS = (
    ("failures judged", "judged"),
    ("caught", "caught"),
    ("missed", "missed"),
    ("lead median (h)", "lead_median_hours"),
    ("lead p10 (h)", "lead_p10_hours"),
    ("alerts", "alerts"),
    ("false alerts", "false_alerts"),
    ("false alerts per device-day", "false_per_device_day"),
    ("device-days", "device_days"),
    ("failures unjudged (watched too briefly)", "unjudged"),
)


def event_table(columns: list[tuple[str, dict]], caption: str) -> str:
    """Event figures (sensorpipe.model.events.event_metrics) side by side, by-mode rows last."""
    columns = [(t, v) for t, v in columns if v]
    if not columns:
        return ""
    rows = [[label] + [v.get(key) for _, v in columns] for label, key in EVENT_ROWS]
    modes = sorted({m for _, v in columns for m in v.get("by_mode") or {}})
    for m in modes:
        cells = [(v.get("by_mode") or {}).get(m) for _, v in columns]
        rows.append(
            [f"caught: {m}"] + [f"{c['caught']} of {c['caught'] + c['missed']}" if c else "" for c in cells]
        )
    return table(["per event"] + [t for t, _ in columns], rows, caption=caption)


def _card_events(card: dict, name: str) -> str:
    """The alerting choice and the event figures, out of fold and on held-out devices."""
    alerting, metrics, base = card.get("alerting"), card.get("metrics") or {}, card.get("baseline") or {}
    if not alerting and not metrics.get("holdout_events"):
        return ""
    alone = (alerting or {}).get("model_alone_out_of_fold_events")
    levels = alert_levels(card)
    deployed = f"{name} OR {levels}" if levels else name
    columns = [
        (f"{deployed}, out of fold", (alerting or {}).get("out_of_fold_events")),
        (f"{name} alone, out of fold", alone),
        ("baseline, out of fold", (alerting or {}).get("baseline_out_of_fold_events")),
        (f"{deployed}, held-out devices", metrics.get("holdout_events")),
        ("baseline, held-out", base.get("holdout_events")),
    ]
    e = next(v for _, v in columns if v)
    caption = (
        f"Per event: a failure is caught by an alert {e['window_hours']:g} h to {e['min_lead_hours']:g} h before"
        " it; an alert is false with no failure within the window after it"
    )
    html = event_table(columns, caption)
    if alerting:
        o = alerting["objective"]
        choice = table(
            ["", ""],
            [
                ["objective", f"most failures caught within {o['max_false_per_device_day']:g} false alerts per"
                 f" device-day (window {o['window_hours']:g} h, min lead {o['min_lead_hours']:g} h"
                 + (f"; a standing alarm raised again after {o['repeat_hours']:g} h" if o.get("repeat_hours") else "")
                 + ")"],
                ["chosen", f"{alerting['model']}, threshold {alerting['threshold']:.3f}, quiet {alerting['quiet']}"],
                ["rule", alerting.get("rule", "")],
                ["alert levels", f"{levels}, whatever the model says" if levels else "none"],
                ["failures behind the choice", alerting.get("failures_behind")],
                ["note", alerting.get("note") or "none"],
            ]
            + [
                [f"candidate {n}", f"threshold {c['threshold']:.3f}, quiet {c['quiet']}: {c['caught']} caught,"
                 f" {c['false_per_device_day']:.4f} false per device-day"]
                for n, c in (alerting.get("candidates") or {}).items()
            ],
            caption="Alerting chosen for the operator's objective (out-of-fold, device-grouped folds)",
        )  # fmt: skip
        html = choice + html
    return f'<div class="row">{html}</div>'


def alert_levels(card: dict) -> str:
    """The [features.health] alert levels a card's model alerts at besides its own
    probability (sensorpipe.model.rule), as text; "" without any."""
    health = (card.get("feature_config") or {}).get("health") or {}
    parts = [
        f"{what} >= {health[key]:g}"
        for key, what in (("alert_wear", "wear_level"), ("alert_drop", "drift_drop"))
        if health.get(key) is not None
    ]
    return " or ".join(parts)


def _evaluation(evaluation: Path, card: dict | None) -> tuple[str, str]:
    try:
        doc = json.loads((evaluation / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f'<span class="absent">{esc(evaluation)}: no readable metrics.json ({esc(exc)})</span>', ""
    model = doc.get("model") or {}
    rows = [
        [f"sensorpipe {model.get('name', '?')} (threshold {fmt(doc.get('threshold'))})"]
        + [doc.get(m) for m in ("precision", "recall", "f1")]
    ]
    base = doc.get("baseline") or {}
    if base.get("test"):
        rows.append(
            [f"baseline: {_rule(base)}"] + [base["test"].get(m) for m in ("precision", "recall", "f1")]
        )
    for anchor in doc.get("anchors") or ():
        rows.append(
            [f"published: {anchor.get('name')}"] + [anchor.get(m) for m in ("precision", "recall", "f1")]
        )
    line = (
        f"test set ({esc(doc.get('label', '?'))}, n = {fmt(doc.get('n'))}): <b>F1 {fmt(doc.get('f1'))}</b>, "
        f"precision {fmt(doc.get('precision'))}, recall {fmt(doc.get('recall'))}, ROC AUC {fmt(doc.get('roc_auc'))}"
    )
    note = ""
    if card and model.get("version") and model.get("version") != card.get("version"):
        note = absent(
            f"evaluated version {model.get('version')} is not the model shown above ({card.get('version')})"
        )
    test = (doc.get("test_data") or {}).get("path", "?")
    if doc.get("events"):
        name = model.get("name", "model")
        events = event_table(
            [(name, doc["events"]), ("baseline", base.get("events"))],
            f"Per event on the test fleet (threshold {fmt(doc.get('threshold'))}, quiet {fmt(doc.get('quiet_hours'), 1)} h)",
        )
        e = doc["events"]
        line = (
            f"test fleet per event: <b>{e['caught']} of {e['judged']} failures caught</b>,"
            f" {fmt(e['false_per_device_day'])} false alerts per device-day; per reading: " + line
        )
        note = events + note
    html = f"<h3>Test set: {esc(test)}</h3>{note}" + table(
        ["model", "precision", "recall", "f1"],
        rows,
        caption="This run beside the baseline"
        + (
            " and the published results (C-MAPSS FD001, fails within 30 cycles)" if doc.get("anchors") else ""
        ),
        row_class=lambda i, r: "ours" if i == 0 else "",
    )
    return line, html
