"""The model section of `sensorpipe report`: a registry version's card and plots, and
an evaluation's metrics beside the baseline and the published anchors."""

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
        version, card, problem = _card(model_dir)
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


def _card(model_dir: Path) -> tuple[Path | None, dict | None, str]:
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
    facts = table(
        ["", ""],
        [
            ["trained", card.get("created", "?")],
            ["spec", (card.get("spec") or {}).get("path", "?")],
            ["training data", ", ".join(d.get("path", "?") for d in card.get("training_data") or ())],
            [
                "label",
                f"remaining life <= {label.get('rul_max', '?')} ({fmt(label.get('positives'))} positive rows)",
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
    return f'<h3>Trained model</h3><div class="row">{scores}{cv}{facts}</div><div class="row">{"".join(figures)}</div>'


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
