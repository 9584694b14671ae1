"""Derive every cleaning parameter from fitted stats, and apply them to one row.

Order per value: impute -> clip -> scale -> encode (parse and validate happen in rows.py).
Nothing here is fitted again: each parameter is a function of stats.json alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from sensorpipe.core.codec import csv_field, ts_field
from sensorpipe.core.spec import Column


@dataclass(frozen=True)
class Params:
    column: Column
    fill: object  # value put in place of a null (None: stays null)
    bounds: tuple[float, float] | None  # clip bounds
    center: float | None  # (x - center) / divisor
    divisor: float | None  # 0.0: the column scales to 0.0
    as_int: bool  # an int column that is not scaled stays int
    vocab: tuple  # category values in index order


def fit_params(col: Column, st: dict) -> Params:
    """Every later parameter of one column, derived from its stats.json entry."""
    scaled = col.scale != "none"
    as_int = col.type == "int" and not scaled
    fill = _fill(col, st, as_int)
    bounds = None
    if col.clip == "iqr" and st.get("q1") is not None:
        iqr = st["q3"] - st["q1"]
        bounds = (st["q1"] - 1.5 * iqr, st["q3"] + 1.5 * iqr)
    elif col.clip == "zscore" and st.get("mean") is not None:
        bounds = (st["mean"] - 3 * st["std"], st["mean"] + 3 * st["std"])
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
    vocab = tuple(v for v, _ in (st.get("vocab") or ())) if col.type == "category" else ()
    return Params(col, fill, bounds, center, divisor, as_int, vocab)


def _fill(col: Column, st: dict, as_int: bool):
    if col.impute == "constant":
        return float(col.fill) if col.type == "float" else col.fill
    key = {"mean": "mean", "median": "median"}.get(col.impute)
    if key:
        value = st.get(key)
        if value is None:
            return None
        return round(value) if as_int else float(value)
    if col.impute == "mode" and st.get("vocab"):
        return st["vocab"][0][0]
    return None


def output_names(params: list[Params]) -> list[str]:
    names = []
    for p in params:
        if p.column.encode == "onehot":
            names.extend(f"{p.column.out}__{v}" for v in p.vocab)
        else:
            names.append(p.column.out)
    return names


def apply_value(p: Params, value, counts: dict | None = None):
    """One value through impute -> clip -> scale; counts gets 'imputed' / 'clipped' hits."""
    if value is None:
        if p.fill is None:
            return None
        value = p.fill
        if counts is not None:
            counts["imputed"] += 1
    if p.bounds is not None:
        lo, hi = p.bounds
        if value < lo or value > hi:
            value = lo if value < lo else hi
            if p.as_int:
                value = round(value)
            if counts is not None:
                counts["clipped"] += 1
    if p.divisor is not None:
        value = 0.0 if p.divisor == 0 else (value - p.center) / p.divisor
    elif p.column.type == "float":
        value = float(value)
    return value


def encode_fields(p: Params, value, index: dict) -> list[str]:
    """The CSV fields of one transformed value (several for one-hot)."""
    col = p.column
    if col.encode == "onehot":
        hot = index.get(value, -1) if value is not None else -1
        return ["1" if i == hot else "0" for i in range(len(p.vocab))]
    if col.encode == "index":
        return ["" if value is None else str(index.get(value, -1))]
    if col.type == "timestamp":
        return [ts_field(value)]
    return [csv_field(value)]


class RowTransformer:
    """Applies fitted params to stored rows and renders clean CSV lines."""

    def __init__(self, params: list[Params]):
        self.params = params
        self.indexes = [{v: i for i, v in enumerate(p.vocab)} for p in params]
        self.counts = [{"imputed": 0, "clipped": 0} for _ in params]

    def csv_line(self, values: list) -> str:
        fields: list[str] = []
        for p, idx, cnt, v in zip(self.params, self.indexes, self.counts, values):
            fields.extend(encode_fields(p, apply_value(p, v, cnt), idx))
        return ",".join(fields)


def sensor_cleaning(spec, stats: dict, names) -> dict:
    """What a model card keeps so raw readings can be cleaned as its training data was:
    per column (output name) the fill, clip bounds, scaling and int rounding fitted by a
    cleaning run (its stats.json document)."""
    out = {}
    for name in names:
        col = next(c for c in spec.columns if c.out == name)
        p = fit_params(col, stats["columns"][name])
        out[name] = {
            "fill": p.fill,
            "bounds": list(p.bounds) if p.bounds else None,
            "center": p.center,
            "divisor": p.divisor,
            "as_int": p.as_int,
        }
    return out
