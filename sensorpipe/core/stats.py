"""Fitted statistics: mergeable partial aggregates, exact quantiles, and stats.json.

Partials are plain lists so that they travel as JSON between map, combine and reduce:
moments are [n, mean, m2, min, max] merged with Chan's parallel formula.
"""

from __future__ import annotations

import math

from sensorpipe.core.spec import Column, Spec

QUANTILES = (("q1", 0.25), ("median", 0.5), ("q3", 0.75))
STAT_KEYS = ("count", "nulls", "mean", "std", "min", "max", "median", "q1", "q3", "vocab")


def moments_of(values) -> list:
    """[n, mean, m2, min, max] of a non-empty sequence of numbers (two-pass, exact enough)."""
    n = len(values)
    mean = math.fsum(values) / n
    m2 = math.fsum([(x - mean) ** 2 for x in values])
    return [n, mean, m2, min(values), max(values)]


def merge_moments(a: list | None, b: list | None) -> list | None:
    if not a or not a[0]:
        return b
    if not b or not b[0]:
        return a
    na, ma, m2a, lo_a, hi_a = a
    nb, mb, m2b, lo_b, hi_b = b
    n = na + nb
    delta = mb - ma
    mean = ma + delta * nb / n
    m2 = m2a + m2b + delta * delta * na * nb / n
    return [n, mean, m2, min(lo_a, lo_b), max(hi_a, hi_b)]


def quantile_positions(n: int) -> dict[int, list]:
    """Sorted-index -> [(name, weight)] needed for numpy's linear quantiles of n values."""
    need: dict[int, list] = {}
    for name, q in QUANTILES:
        pos = (n - 1) * q
        lo = math.floor(pos)
        frac = pos - lo
        need.setdefault(lo, []).append((name, 1.0 - frac, frac))
        if frac:
            need.setdefault(lo + 1, [])
    return need


def quantiles_from_runs(n: int, runs) -> dict:
    """Exact q1/median/q3 from ascending (value, multiplicity) runs totalling n values."""
    if n <= 0:
        return {name: None for name, _ in QUANTILES}
    need = quantile_positions(n)
    at: dict[int, float] = {}
    start = 0
    targets = sorted(need)
    t = 0
    for value, mult in runs:
        end = start + mult
        while t < len(targets) and targets[t] < end:
            at[targets[t]] = value
            t += 1
        start = end
        if t == len(targets):
            break
    out = {}
    for lo, entries in need.items():
        for name, _, frac in entries:
            a = at[lo]
            out[name] = a if not frac else lerp(a, at[lo + 1], frac)
    return out


def lerp(a: float, b: float, t: float) -> float:
    """numpy's linear interpolation, term for term (it switches ends at t = 0.5)."""
    d = b - a
    return a + d * t if t < 0.5 else b - d * (1 - t)


def sort_vocab(counts: dict) -> list:
    """[[value, n], ...] by descending count, then by value."""
    return [[v, n] for v, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def column_stats(
    col: Column,
    count: int,
    nulls: int,
    moments: list | None,
    quantiles: dict | None,
    vocab_counts: dict | None,
) -> dict:
    """One column's entry of stats.json; keys that do not apply are None."""
    st = dict.fromkeys(STAT_KEYS)
    st.update(count=count, nulls=nulls)
    if col.numeric and moments and moments[0]:
        n, mean, m2, lo, hi = moments
        if lo == hi:  # a constant column: merging partials must not leave roundoff spread
            mean, m2 = float(lo), 0.0
        st.update(mean=mean, std=math.sqrt(m2 / n), min=lo, max=hi)
    if col.numeric and col.needs_quantiles:
        st.update(quantiles or {})
    if col.needs_vocab:
        st["vocab"] = sort_vocab(vocab_counts or {})
    return st


def stats_document(
    spec: Spec, columns: list[Column], rows: int, per_column: dict, output_columns: list[str]
) -> dict:
    return {
        "spec_sha256": spec.sha256,
        "rows": rows,
        "output_columns": output_columns,
        "columns": {c.out: per_column[c.out] for c in columns},
    }
