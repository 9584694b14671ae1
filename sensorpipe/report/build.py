"""`sensorpipe report`: one self-contained HTML page from the outputs of earlier runs.

    sensorpipe report --clean OUT [--clean OUT2 ...] --model MODEL_DIR [--evaluation EVAL_DIR] \
        [--stream STREAM_OUT --truth LANDING/_truth] [--history SIM_DIR] [--spec conf/sensors.toml] \
        --output out/report.html

The stream's alerts are judged per event against the live feed's truth (report/live.py), with
the window and minimum lead of the model card's objective, else the --spec's [alerts], else
DESIGN's defaults (72 h, 1 h).

Every input is optional: a section whose run is not given says so. Images are embedded
as PNG data URIs and the CSS is inline, so the file can be mailed or archived alone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from sensorpipe.core.spec import Alerts, Spec, SpecError, load_spec
from sensorpipe.report.data import data_section
from sensorpipe.report.html import esc, page, table
from sensorpipe.report.model import load_card, model_section
from sensorpipe.report.stream import stream_section

# The dataset specs as package data: links to the checkout's conf/*.toml, files in a wheel.
CONF = Path(__file__).resolve().parents[1] / "conf"
log = logging.getLogger(__name__)


def command(args) -> int:
    path = write_report(
        output=Path(args.output),
        clean=[Path(p) for p in args.clean],
        spec=args.spec,
        model=_path(args.model),
        evaluation=_path(args.evaluation),
        stream=_path(args.stream),
        history=_path(args.history),
        sample_rows=args.sample_rows,
        truth=_path(args.truth),
    )
    log.info("report -> %s (%.2f MB)", path, path.stat().st_size / 1e6)
    return 0


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def write_report(
    output: Path,
    clean: list[Path] = (),
    spec: str | None = None,
    model: Path | None = None,
    evaluation: Path | None = None,
    stream: Path | None = None,
    history: Path | None = None,
    sample_rows: int = 200_000,
    truth: Path | None = None,
) -> Path:
    """Build the page and write it atomically; return its path."""
    given = load_spec(spec) if spec else None
    specs = [given or find_spec(out) for out in clean]
    sections = [
        data_section(list(clean), specs, sample_rows),
        model_section(model, evaluation),
        stream_section(stream, truth, objective(model, given)),
    ]
    doc = page("sensorpipe run report", _meta(clean, model, evaluation, stream, history, truth), sections)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    tmp.write_text(doc, encoding="utf-8")
    os.replace(tmp, output)
    return output


def objective(model: Path | None, spec: Spec | None) -> Alerts:
    """W and L to judge the stream by: the model card's alerting objective, else the spec's."""
    if model is not None:
        card = load_card(model)[1] or {}
        o = (card.get("alerting") or {}).get("objective") or {}
        if o:
            return Alerts(o["window_hours"], o["min_lead_hours"], o["max_false_per_device_day"])
    return spec.alerts if spec is not None else Alerts()


def find_spec(out: Path) -> Spec | None:
    """The project's spec (conf/*.toml, shipped in the package) whose SHA-256 the cleaning run's stats.json records, else
    one whose output columns are the run's (the spec changed since: its layout still reads)."""
    try:
        stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    candidates = sorted(CONF.glob("*.toml"))
    for candidate in candidates:
        if hashlib.sha256(candidate.read_bytes()).hexdigest() == stats.get("spec_sha256"):
            return load_spec(candidate)
    for candidate in candidates:
        try:
            spec = load_spec(candidate)
        except SpecError:
            continue
        if {c.out for c in spec.columns if c.name not in spec.drop} == set(stats.get("columns") or ()):
            return spec
    return None


def _meta(clean, model, evaluation, stream, history, truth=None) -> str:
    """When the page was made, then which run outputs it read (paths folded away)."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = [["cleaning", str(out), _finished(out / "_SUCCESS")] for out in clean]
    named = (
        ("model", model, "current"),
        ("evaluation", evaluation, "_SUCCESS"),
        ("stream", stream, "metrics.jsonl"),
    )
    rows += [[what, str(p), _finished(p / mark) if mark else ""] for what, p, mark in named if p]
    rows += [["simulated history", str(history), _finished(history / "failures.csv")]] if history else []
    rows += [["live feed's truth", str(truth), _finished(truth / "failures.csv")]] if truth else []
    kinds = ", ".join(dict.fromkeys(r[0] for r in rows)) or "no run outputs"
    return (
        f"Generated {now} from {len(rows)} run output{'s' if len(rows) != 1 else ''}: {esc(kinds)}."
        f"<details><summary>Run outputs read</summary>{table(['what', 'directory', 'written'], rows)}</details>"
    )


def _finished(path: Path) -> str:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M UTC")
    except OSError:
        return ""
