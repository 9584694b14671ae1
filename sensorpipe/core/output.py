"""The output layout every engine writes, committed atomically.

A run writes into a hidden staging directory next to OUT; only a run that finished moves
it into place, with `_SUCCESS` written last. A failed run leaves OUT as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from sensorpipe.core.rows import REASONS

OUR_FILES = {"_SUCCESS", "stats.json", "report.json", "clean", "rejects"}


class OutputError(ValueError):
    """OUT exists and is not an earlier sensorpipe output: refuse to replace it."""


def check_replaceable(out: Path) -> None:
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (set(os.listdir(out)) & OUR_FILES))):
        raise OutputError(f"{out}: exists and is not a sensorpipe output; refusing to replace it")


@contextlib.contextmanager
def staged_output(out: str | Path):
    """Yield a staging dir; on success write _SUCCESS and swap it in as OUT."""
    out = Path(out).absolute()
    check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
    try:
        yield stage
        (stage / "_SUCCESS").write_bytes(b"")
        old = None
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            os.rename(out, old)
        os.rename(stage, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


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
    by_reason = {r: int(rejected.get(r, 0)) for r in REASONS}
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
