"""The text tables `sensorpipe train` and `sensorpipe evaluate` print: per reading (model,
baseline, published anchors) and per event (sensorpipe.model.events figures)."""

from __future__ import annotations

# Published results on C-MAPSS FD001, label "fails within 30 cycles", last test cycle.
ANCHORS = (
    ("LSTM (Azure predictive-maintenance notebook)", 0.96, 0.96, 0.96),
    ("Azure ML template, best model", 0.952, 0.80, 0.87),
)
EVENT_HEAD = "caught  lead p50 h  lead p10 h  alerts  false  false/device-day  by mode"


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
    rows += list(ANCHORS) if doc.get("anchors") else []
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


def event_rows(rows: list[tuple[str, dict]], title: str) -> list[str]:
    """A header and one line per (name, event figures) row."""
    width = max(len(title), *(len(name) for name, _ in rows))
    head = f"{title:<{width}}  {EVENT_HEAD}"
    lines = [head, "-" * len(head)]
    for name, e in rows:
        modes = ", ".join(f"{k} {v['caught']}/{v['caught'] + v['missed']}" for k, v in e["by_mode"].items())
        lines.append(
            f"{name:<{width}}  {e['caught']:>3}/{e['judged']:<2}  {_num(e['lead_median_hours'], 1):>10}"
            f"  {_num(e['lead_p10_hours'], 1):>10}  {e['alerts']:>6}  {e['false_alerts']:>5}"
            f"  {_num(e['false_per_device_day']):>16}  {modes}"
        )
    return lines


def judged_line(e: dict, where: str) -> str:
    return (
        f"{where}: caught = an alert {e['window_hours']:g} h to {e['min_lead_hours']:g} h before a failure;"
        f" {e['unjudged']} of {e['failures']} failures unjudged (watched too briefly); {e['device_days']:.1f} device-days"
    )


def events_table(card: dict) -> str:
    """The alerting choice, then model and baseline per event: out of fold (training devices,
    where the choice was made) and on the held-out devices (sensorpipe.model.events)."""
    name, base = card["model"]["name"], f"baseline: {card['baseline']['sensor']}"
    lines = []
    alerting = card.get("alerting")
    if alerting:
        o = alerting["objective"]
        lines.append(
            f"alerting: threshold {alerting['threshold']:.3f}, quiet {alerting['quiet']}, chosen for the most"
            f" failures caught within {o['max_false_per_device_day']:g} false alerts per device-day, on"
            f" {alerting['failures_behind']} judged out-of-fold failures"
        )
        if alerting.get("note"):
            lines.append(f"note: {alerting['note']}")
        oof = alerting["out_of_fold_events"]
        lines.append(judged_line(oof, "out of fold (training devices)"))
        lines += event_rows([(name, oof), (base, alerting["baseline_out_of_fold_events"])], "out of fold")
    held = card["metrics"].get("holdout_events")
    if held:
        lines.append(judged_line(held, "held-out devices per event"))
        lines += event_rows([(name, held), (base, card["baseline"]["holdout_events"])], "held-out devices")
    return "\n".join(lines)


def _num(v, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"
