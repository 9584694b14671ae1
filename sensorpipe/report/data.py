"""The data-quality section of `sensorpipe report`, from cleaning outputs (any engine).

Counts come from OUT/report.json and OUT/stats.json; the distributions from bounded
samples: the first rows of the raw inputs report.json names, and the first rows of each
clean part file (CSV without header, or Parquet), never the whole output.
"""

from __future__ import annotations

import io
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from sensorpipe.core.spec import Spec
from sensorpipe.core.transform import fit_params
from sensorpipe.report.html import Section, absent, esc, figure, figure_uri, fmt, img, pct, table

MAX_PLOTTED = 12  # numeric columns drawn per output


def data_section(outs: list[Path], specs: list[Spec | None], sample_rows: int) -> Section:
    """One part per cleaning output; `specs[i]` (may be None) reads outs[i]'s raw input."""
    if not outs:
        return Section("data", "Data quality", '<span class="absent">no cleaning run given</span>', "")
    lines, bodies = [], []
    for out, spec in zip(outs, specs):
        line, body = _one_output(out, spec, sample_rows)
        lines.append(f"<code>{esc(out.name)}</code>: {line}" if len(outs) > 1 else line)
        bodies.append(f"<h3>{esc(out)}</h3>{body}")
    return Section("data", "Data quality", "<br>".join(lines), "".join(bodies))


def _one_output(out: Path, spec: Spec | None, sample_rows: int) -> tuple[str, str]:
    try:
        report = json.loads((out / "report.json").read_text(encoding="utf-8"))
        stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f'<span class="absent">{esc(out)}: not a finished cleaning run ({esc(exc)})</span>', ""
    rows_in, clean, rejected = report.get("rows_in"), report.get("rows_clean"), report.get("rows_rejected")
    reasons = {k: v for k, v in (report.get("rejected_by_reason") or {}).items() if v}
    why = ", ".join(f"{k} {fmt(v)}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1]))
    line = (
        f"{fmt(rows_in)} rows in, <b>{fmt(clean)} clean</b> ({pct(clean or 0, rows_in)}), "
        f"{fmt(rejected)} rejected{': ' + esc(why) if why else ''}"
        f" <span class=meta>({esc(report.get('engine', '?'))} engine, {fmt(report.get('seconds'), 1)} s)</span>"
    )
    counts = table(
        ["rows", "count", "share of rows in"],
        [
            ["in", rows_in, ""],
            ["clean", clean, pct(clean or 0, rows_in)],
            ["rejected", rejected, pct(rejected or 0, rows_in)],
        ]
        + [
            [f"rejected: {k}", v, pct(v, rows_in)]
            for k, v in (report.get("rejected_by_reason") or {}).items()
        ],
        caption="Rows",
    )
    body = f'<div class="row">{counts}{_columns_table(report, stats)}</div>'
    return line, body + _distributions(out, report, stats, spec, sample_rows)


def _columns_table(report: dict, stats: dict) -> str:
    imputed, clipped = report.get("imputed") or {}, report.get("clipped") or {}
    rows = []
    for name, st in (stats.get("columns") or {}).items():
        rows.append(
            [
                name,
                st.get("nulls"),
                imputed.get(name),
                clipped.get(name),
                st.get("mean"),
                st.get("std"),
                st.get("min"),
                st.get("max"),
            ]
        )
    return table(
        ["column", "nulls", "imputed", "clipped", "mean", "std", "min", "max"],
        rows,
        caption="Columns (clean rows, before imputation)",
    )


def numeric_columns(stats: dict) -> list[str]:
    """Columns with moments that are written as one output column (not one-hot)."""
    outputs = set(stats.get("output_columns") or ())
    return [
        n for n, st in (stats.get("columns") or {}).items() if st.get("mean") is not None and n in outputs
    ]


def _distributions(out: Path, report: dict, stats: dict, spec: Spec | None, limit: int) -> str:
    keys = {spec.column(k).out for k in spec.key} if spec else set()
    varying = [n for n in numeric_columns(stats) if n not in keys and stats["columns"][n].get("std")]
    names = varying[:MAX_PLOTTED]
    if not names:
        return ""
    after = clean_sample(out, stats, names, limit)
    before, note = raw_sample(report, spec, names, limit)
    units = _input_units(spec, stats, names)
    fig = _histograms(names, before, after, units)
    shown = f"first {fmt(len(after))} clean rows" + (
        f", first {fmt(len(before))} raw rows" if before is not None else ""
    )
    more = len(varying) - len(names)
    caption = (
        f"Distributions before (raw input) and after cleaning; samples: {shown}."
        + (
            " Clean values mapped back to input units; dashed: clip bounds."
            if units
            else " Clean values as written (scaled)."
        )
        + (f" {more} more numeric columns not drawn." if more > 0 else "")
        + (" Key and constant columns are not drawn." if len(varying) < len(numeric_columns(stats)) else "")
        + _spec_note(spec, stats)
    )
    return img(figure_uri(fig), "distributions before and after cleaning", caption) + (
        absent(note) if note else ""
    )


def _spec_note(spec: Spec | None, stats: dict) -> str:
    if spec is None:
        return " No spec found for this run (give --spec): raw columns matched by name."
    if spec.sha256 != stats.get("spec_sha256"):
        return f" Read with {spec.path}, which changed since this run (same columns)."
    return f" Spec: {spec.path}."


def clean_sample(out: Path, stats: dict, names: list[str], limit: int) -> pd.DataFrame:
    """At most `limit` rows of the named columns, spread over the clean part files."""
    parts = sorted(p for p in (out / "clean").glob("*") if p.is_file() and not p.name.startswith(("_", ".")))
    if not parts:
        return pd.DataFrame(columns=names)
    each = max(1, math.ceil(limit / len(parts)))
    frames = [_read_part(p, stats["output_columns"], names, each) for p in parts]
    return pd.concat(frames, ignore_index=True).apply(pd.to_numeric, errors="coerce")


def _read_part(path: Path, columns: list[str], names: list[str], n: int) -> pd.DataFrame:
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic == b"PAR1":
        batches = pq.ParquetFile(path).iter_batches(batch_size=min(n, 65536), columns=names)
        frames, got = [], 0
        for batch in batches:
            frames.append(batch.to_pandas())
            got += batch.num_rows
            if got >= n:
                break
        return pd.concat(frames, ignore_index=True).head(n) if frames else pd.DataFrame(columns=names)
    if path.stat().st_size == 0:
        return pd.DataFrame(columns=names)
    return pd.read_csv(
        path, header=None, names=columns, usecols=names, nrows=n, dtype=str, keep_default_na=False
    )


def raw_sample(
    report: dict, spec: Spec | None, names: list[str], limit: int
) -> tuple[pd.DataFrame | None, str]:
    """The first `limit` rows of the raw inputs, numeric columns parsed; (None, why) when unreadable."""
    inputs = [Path(p) for p in report.get("inputs") or ()]
    present = [p for p in inputs if p.is_file()]
    if not present:
        return None, "raw input not available: no 'before' distribution" if inputs else ""
    renames = {c.name: c.out for c in spec.columns} if spec else {}
    frames, left = [], limit
    for path in present:
        if left <= 0:
            break
        frame = _read_raw(path, spec, left)
        frame = frame.rename(columns=renames)
        frames.append(frame[[n for n in names if n in frame.columns]])
        left -= len(frame)
    raw = pd.concat(frames, ignore_index=True)
    if raw.empty and not len(raw.columns):
        return None, "raw input columns do not match the clean columns (give --spec)"
    return raw.apply(pd.to_numeric, errors="coerce"), ""


def _read_raw(path: Path, spec: Spec | None, n: int) -> pd.DataFrame:
    """The first n records; a line with an unbalanced quote (malformed: quoting stays
    within a line) is left out so the parser cannot run on into the next lines."""
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        lines = [line for line in itertools.islice(fh, n + 1) if line.count('"') % 2 == 0 and line.strip()]
    if spec is not None:
        sep = r"\s+" if spec.delimiter == "whitespace" else spec.delimiter
        header = 0 if spec.header else None
        names = None if spec.header else [c.name for c in spec.columns]
    else:
        sep, header, names = ("," if lines and "," in lines[0] else r"\s+"), 0, None
    return pd.read_csv(
        io.StringIO("".join(lines)),
        sep=sep,
        header=header,
        names=names,
        dtype=str,
        on_bad_lines="skip",
        skipinitialspace=True,
        index_col=False,
    )


def _input_units(spec: Spec | None, stats: dict, names: list[str]) -> dict:
    """Per column (center, divisor, clip bounds) to map clean values back; {} without a spec."""
    if spec is None:
        return {}
    by_out = {c.out: c for c in spec.columns}
    units = {}
    for name in names:
        if name in by_out:
            p = fit_params(by_out[name], stats["columns"][name])
            units[name] = (p.center, p.divisor, p.bounds)
    return units


def _histograms(names, before: pd.DataFrame | None, after: pd.DataFrame, units: dict):
    """Before (grey) and after (blue) overlaid in input units; two panels where units differ."""
    panels = []
    for name in names:
        b = (
            before[name].dropna().to_numpy(dtype=float)
            if before is not None and name in before
            else np.array([])
        )
        a = after[name].dropna().to_numpy(dtype=float) if name in after else np.array([])
        center, divisor, bounds = units.get(name, (None, None, None))
        if name in units and divisor != 0:
            panels.append((name, b, a * divisor + center if divisor is not None else a, bounds))
        else:
            if len(b):
                panels.append((f"{name}: before", b, np.array([]), None))
            panels.append((f"{name}: after (as written)", np.array([]), a, None))
    cols = 3
    rows = math.ceil(len(panels) / cols)
    fig = figure((10.5, 2.2 * rows + 0.3))
    for i, (title, b, a, bounds) in enumerate(panels):
        _panel(fig.add_subplot(rows, cols, i + 1), title, b, a, bounds)
    fig.tight_layout()
    return fig


def _panel(ax, title: str, before: np.ndarray, after: np.ndarray, bounds) -> None:
    ax.tick_params(labelsize=7)
    both = np.concatenate([before, after])
    if not len(both):
        ax.set_title(f"{title}: no values", fontsize=8)
        return
    if len(after):  # the clean range, widened to where most raw values lie
        lo, hi = after.min(), after.max()
        if len(before):
            lo, hi = min(lo, np.percentile(before, 1)), max(hi, np.percentile(before, 99))
    else:
        lo, hi = np.percentile(before, [0.5, 99.5])
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    bins = np.linspace(lo, hi, 41)
    beyond = int(((before < lo) | (before > hi)).sum())
    if len(before):
        ax.hist(np.clip(before, lo, hi), bins=bins, color="#a0aec0", alpha=0.75, label="before")
    if len(after):
        ax.hist(after, bins=bins, histtype="step", lw=1.4, color="#2b6cb0", label="after")
    for edge in bounds or ():
        if lo <= edge <= hi:
            ax.axvline(edge, ls="--", lw=0.8, c="#c05621")
    note = f" ({beyond} raw beyond the axis, drawn at its ends)" if beyond else ""
    ax.set_title(title + note, fontsize=8)
    ax.legend(fontsize=7, frameon=False)
