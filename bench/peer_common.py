"""What the peers of bench/clean.py share (bench/peers.py, peer_duckdb.py, peer_frames.py): the
value grammar as regexes, the quartiles, and the cleaning parameters derived from fitted stats as
DESIGN.md says. Each peer imports this module and no other peer.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

from sensorpipe.core.spec import Column, Spec

WS = " \t\r\n\f\v"  # stripped around every value
FLOAT_RE = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
INT_RE = r"[+-]?[0-9]+"
EPOCH_RE = r"-?[0-9]+(?:\.[0-9]{1,6})?"
ISO_RE = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?)?"
    r"(?:Z|[+-][0-9]{2}:?[0-9]{2})?"
)
QUANTILES = {"q1": 0.25, "median": 0.5, "q3": 0.75}


@dataclass(frozen=True)
class Params:
    """One column's cleaning parameters, derived from its fitted stats as DESIGN.md says."""

    col: Column
    fill: object
    bounds: tuple | None  # clip when below / above
    clip_to: tuple | None  # what a clipped value becomes (rounded for an int kept int)
    center: float | None
    divisor: float | None
    vocab: tuple

    @property
    def names(self) -> list[str]:
        if self.col.encode == "onehot":
            return [f"{self.col.out}__{v}" for v in self.vocab]
        return [self.col.out]


def derive(col: Column, st: dict) -> Params:
    as_int = col.type == "int" and col.scale == "none"
    fill = None
    if col.impute == "constant":
        fill = col.fill
    elif col.impute in ("mean", "median") and st.get(col.impute) is not None:
        fill = round(st[col.impute]) if as_int else float(st[col.impute])
    elif col.impute == "mode" and st.get("vocab"):
        fill = st["vocab"][0][0]
    bounds = None
    if col.clip == "iqr" and st.get("q1") is not None:
        iqr = st["q3"] - st["q1"]
        bounds = (st["q1"] - 1.5 * iqr, st["q3"] + 1.5 * iqr)
    elif col.clip == "zscore" and st.get("mean") is not None:
        bounds = (st["mean"] - 3 * st["std"], st["mean"] + 3 * st["std"])
    clip_to = bounds and (tuple(round(b) for b in bounds) if as_int else bounds)
    center = divisor = None
    if col.scale == "zscore" and st.get("mean") is not None:
        center, divisor = st["mean"], st["std"]
    elif col.scale == "minmax" and st.get("min") is not None:
        lo, hi = float(st["min"]), float(st["max"])
        if bounds:
            lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
        center, divisor = lo, hi - lo
    elif col.scale == "robust" and st.get("median") is not None:
        center, divisor = st["median"], st["q3"] - st["q1"]
    vocab = tuple(v for v, _ in st.get("vocab") or ()) if col.type == "category" else ()
    return Params(col, fill, bounds, clip_to, center, divisor, vocab)


def sort_vocab(counts) -> list:
    """[[value, n], ...] by descending count, then value."""
    return [[v, int(n)] for v, n in sorted(counts, key=lambda kv: (-kv[1], kv[0]))]


def read_header(spec: Spec, path: str) -> list[str]:
    """The header (the first line), checked to name exactly the spec's columns."""
    if not spec.header or spec.delimiter == "whitespace":
        raise ValueError(f"{spec.path}: the benchmark peers read delimited files with a header only")
    with open(path, encoding="utf-8", newline="") as f:
        header = [h.strip(WS) for h in next(csv.reader(f, delimiter=spec.delimiter))]
    if sorted(header) != sorted(c.name for c in spec.columns):
        raise ValueError(f"{path}: the benchmark peers need a header naming exactly the spec's columns")
    return header


def kept_columns(spec: Spec) -> list[Column]:
    return [c for c in spec.columns if c.name not in spec.drop]
