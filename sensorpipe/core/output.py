"""The output layout every engine writes: its file names, report.json, and the error for an
OUT that is something else. The staged commit (`_SUCCESS` last, nothing half-written on
failure) is sensorpipe.store.base's, which the mapper scripts do not need.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sensorpipe.core.rows import REASONS

# a directory holding one of these is an earlier output (sensorpipe.store.base.check_replaceable)
OUR_FILES = {"_SUCCESS", "stats.json", "report.json", "clean", "rejects"}
# the row accounting of report.json, each a count that some pass really made (none derived)
ACCOUNTING = ("rows_in", "rows_clean", *REASONS)


class OutputError(ValueError):
    """OUT exists and is not an earlier sensorpipe output: refuse to replace it."""


def write_json(path: Path, doc: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def report_document(
    engine: str,
    rows_in: int,
    rows_clean: int,
    rejected: dict,
    imputed: dict,
    clipped: dict,
    seconds: float,
    **extra,
) -> dict:
    """report.json. Every count is required: a count that is missing or not a number fails
    the run (a default of 0 would make a run that counted nothing look balanced), and so
    does a row accounting where rows_in != rows_clean + rows_rejected."""
    missing = [r for r in REASONS if r not in rejected]
    figures = {
        "rows_in": rows_in,
        "rows_clean": rows_clean,
        **{r: rejected[r] for r in REASONS if r in rejected},
    }
    bad = [f"{k}={v!r}" for k, v in figures.items() if isinstance(v, bool) or not isinstance(v, int) or v < 0]
    if missing or bad:
        raise RuntimeError(f"row accounting incomplete: missing {missing}, not counts {bad}")
    by_reason = {r: rejected[r] for r in REASONS}
    doc = {
        "engine": engine,
        "rows_in": rows_in,
        "rows_clean": rows_clean,
        "rows_rejected": sum(by_reason.values()),
        "rejected_by_reason": by_reason,
        "imputed": imputed,
        "clipped": clipped,
        "seconds": round(seconds, 3),
    }
    doc.update(extra)
    if doc["rows_in"] != doc["rows_clean"] + doc["rows_rejected"]:
        raise RuntimeError(f"row accounting broken: {doc}")
    return doc
