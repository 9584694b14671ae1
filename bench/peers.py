"""The peers of bench/clean.py: the cleaning spec done by plain Python, DuckDB, polars, pandas.

  .venv/bin/python bench/peers.py duckdb --spec conf/sensors.toml --input IN.csv --output OUT.csv
prints {"clean_rows": n, "seconds": s}. Each peer reads the spec with sensorpipe.core.spec but none of
the project's row, stats or transform code. DESIGN.md corners they skip: a BOM, UTF-8 validity,
blank lines before the header, columns the spec does not name, `header = false`; polars: quoted
fields (it splits lines on the delimiter, as its CSV reader cannot tell a short row).
The DuckDB peer is in bench/peer_duckdb.py, polars and pandas in bench/peer_frames.py (each
imports its library when it runs); what all peers share is in bench/peer_common.py.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import peer_duckdb
import peer_frames
from peer_common import (
    EPOCH_RE,
    FLOAT_RE,
    INT_RE,
    ISO_RE,
    QUANTILES,
    WS,
    Params,
    derive,
    kept_columns,
    read_header,
    sort_vocab,
)

from sensorpipe.core.spec import Column, Spec, load_spec

INT64 = (-(2**63), 2**63 - 1)
EPOCH0 = datetime(1970, 1, 1, tzinfo=UTC)


# --- plain Python: csv module, two passes (parse + stats, then transform + write) ---------------


def run_python(spec: Spec, src: str, dst: str) -> int:
    rows = python_pass1(spec, src)
    kept = kept_columns(spec)
    data = list(zip(*rows)) if rows else [() for _ in kept]
    params = [derive(c, python_stats(c, values)) for c, values in zip(kept, data)]
    python_pass2(params, data, dst)
    return len(rows)


def python_parser(col: Column):
    """text -> value or None; None for a string or category (the text is the value)."""
    if col.type == "float":
        ok = re.compile(FLOAT_RE).fullmatch
        return lambda t: (v if math.isfinite(v := float(t)) else None) if ok(t) else None
    if col.type == "int":
        ok = re.compile(INT_RE).fullmatch
        return lambda t: (v if INT64[0] <= (v := int(t)) <= INT64[1] else None) if ok(t) else None
    if col.type == "timestamp":
        return parse_timestamp
    return None


@lru_cache(maxsize=1 << 16)  # a fleet shares its timestamps (pandas and polars cache them too)
def parse_timestamp(text: str) -> int | None:
    """Epoch microseconds from epoch seconds or ISO-8601 (no zone: UTC)."""
    if re.fullmatch(EPOCH_RE, text):
        whole, _, frac = text.partition(".")
        micros = int(frac.ljust(6, "0")) if frac else 0
        return int(whole) * 1_000_000 + (-micros if whole.startswith("-") else micros)
    if not re.fullmatch(ISO_RE, text):
        return None
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    delta = (dt if dt.tzinfo else dt.replace(tzinfo=UTC)) - EPOCH0
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def python_pass1(spec: Spec, src: str) -> list[list]:
    """Rows that survive rejection and de-duplication, in file order (kept columns only)."""
    header = read_header(spec, src)
    checks = [
        (header.index(c.name), python_parser(c), c.range, c.required, c.rejects_invalid) for c in spec.columns
    ]
    names = [c.name for c in spec.columns]
    key_at = [names.index(k) for k in spec.key]
    kept_at = [i for i, c in enumerate(spec.columns) if c.name not in spec.drop]
    nulls, width, seen, rows = spec.null_tokens, len(header), set(), []
    with open(src, encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter=spec.delimiter)
        next(reader)
        for fields in reader:
            if len(fields) != width:
                continue  # malformed (a blank line too: ignored)
            values = []
            for pos, parse, rng, required, rejects in checks:
                text = fields[pos].strip(WS)
                if text in nulls:
                    if required:
                        break  # missing_required
                    values.append(None)
                    continue
                v = text if parse is None else parse(text)
                if v is not None and rng is not None and not rng[0] <= v <= rng[1]:
                    v = None
                if v is None and rejects:
                    break  # invalid_value
                values.append(v)
            else:
                key = tuple(values[i] for i in key_at)
                if key not in seen:  # a later duplicate_key is rejected
                    seen.add(key)
                    rows.append([values[i] for i in kept_at] if spec.drop else values)
    return rows


def python_stats(col: Column, column: tuple) -> dict:
    values = [v for v in column if v is not None]
    n = len(values)
    st = dict.fromkeys(("mean", "std", "min", "max", "median", "q1", "q3", "vocab"))
    st.update(count=n, nulls=len(column) - n)
    if col.numeric and n:
        mean = math.fsum(values) / n
        std = math.sqrt(math.fsum([(x - mean) ** 2 for x in values]) / n)
        st.update(mean=mean, std=std, min=min(values), max=max(values))
        if col.needs_quantiles:
            ordered = sorted(values)
            st.update({name: quantile(ordered, q) for name, q in QUANTILES.items()})
    if col.needs_vocab:
        st["vocab"] = sort_vocab(Counter(values).items())
    return st


def quantile(ordered: list, q: float) -> float:
    """numpy's default (linear) quantile of sorted values, its lerp term for term."""
    pos = (len(ordered) - 1) * q
    lo = math.floor(pos)
    t = pos - lo
    if not t:
        return ordered[lo]
    a, b = ordered[lo], ordered[lo + 1]
    return a + (b - a) * t if t < 0.5 else b - (b - a) * (1 - t)


def python_value(p: Params):
    """value -> impute -> clip -> scale."""
    fill, bounds, clip_to, center, divisor = p.fill, p.bounds, p.clip_to, p.center, p.divisor
    as_float = p.col.type == "float"

    def value(v):
        if v is None:
            if fill is None:
                return None
            v = fill
        if bounds is not None:
            v = clip_to[0] if v < bounds[0] else clip_to[1] if v > bounds[1] else v
        if divisor is not None:
            return 0.0 if divisor == 0 else (v - center) / divisor
        return float(v) if as_float else v

    return value


@lru_cache(maxsize=1 << 16)
def format_timestamp(micros: int) -> str:
    seconds, frac = divmod(micros, 1_000_000)
    text = (EPOCH0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
    return text + ("." + f"{frac:06d}".rstrip("0") if frac else "") + "Z"


def python_pass2(params: list[Params], data: list[tuple], dst: str) -> None:
    """Transform column by column, then write the rows."""
    out = []
    for p, column in zip(params, data):
        values = list(map(python_value(p), column))
        if p.col.type == "timestamp":
            out.append([None if v is None else format_timestamp(v) for v in values])
        elif p.col.encode == "none":
            out.append(values)
        else:
            index = {v: i for i, v in enumerate(p.vocab)}
            codes = [None if v is None else index.get(v, -1) for v in values]
            if p.col.encode == "index":
                out.append(codes)
            else:
                out.extend([1 if c == i else 0 for c in codes] for i in range(len(p.vocab)))
    with open(dst, "w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(zip(*out))


def main() -> None:
    peers = {
        "python": run_python,
        "duckdb": peer_duckdb.run_duckdb,
        "polars": peer_frames.run_polars,
        "pandas": peer_frames.run_pandas,
    }
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("peer", choices=sorted(peers))
    ap.add_argument("--spec", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--output", required=True)
    args = ap.parse_args()
    started = time.perf_counter()
    n = peers[args.peer](load_spec(args.spec), args.input, args.output)
    json.dump({"clean_rows": n, "seconds": time.perf_counter() - started}, sys.stdout)


if __name__ == "__main__":
    main()
