#!/usr/bin/env python3
"""Pass 2 map: partial statistics of the kept rows (D lines of pass 1).

Three key fields (tag, column, sub) then a value:
  N  <col>  -            [count, nulls]                  non-null and null counts
  M  <col>  -            [n, mean, m2, min, max]         moments of a numeric column
  V  <col>  <json value> n                               value counts (category / mode)
  Q  <col>  0            n       then   Q <col> 1<hex> m  every distinct value, sortable, with
                                                          its multiplicity m, for exact quantiles
  C  <name> -            n                               pass 1's count records, passed on to be
                                                          summed (the runner reads them here)
Partials are combined in memory per split; distinct values are counted in memory too and
flushed whenever a column holds FLUSH of them (sensor readings repeat: this cuts the sort).
"""

import os
import sys

sys.path.insert(0, os.getcwd())  # -files links every shipped file into the task's cwd
import json

import mrlib
from sensorpipe.core.codec import decode_row, decoders
from sensorpipe.core.stats import merge_moments, moments_of
from sensorpipe.core.values import sortable

FLUSH = 200_000  # values buffered per column before folding them into the moments


def emit_partials(out, i: int, nn: list, moments, vocab: dict | None) -> None:
    out.write(f"N\t{i}\t-\t{json.dumps(nn)}\n")
    if moments:
        out.write(f"M\t{i}\t-\t{json.dumps(moments)}\n")
    for value, n in (vocab or {}).items():
        out.write(f"V\t{i}\t{json.dumps(value)}\t{n}\n")


def flush_values(out, i: int, seen: dict) -> None:
    out.writelines(f"Q\t{i}\t1{sortable(v)}\t{n}\n" for v, n in seen.items())
    seen.clear()


def main() -> None:
    job = mrlib.load_job()
    columns = mrlib.stored(job)
    decode = decoders(columns)
    numeric = [c.numeric for c in columns]
    quant = [c.numeric and c.needs_quantiles for c in columns]
    distinct = [{} if q else None for q in quant]
    vocabs = [{} if c.needs_vocab else None for c in columns]
    counts = [[0, 0] for _ in columns]
    buffers = [[] for _ in columns]
    moments = [None] * len(columns)
    out = sys.stdout
    for text in mrlib.text_records():
        if not text.startswith("D\t"):
            if text.startswith(mrlib.COUNT + "\t"):
                out.write(text + "\n")
            continue
        values = decode_row(text[2:], decode)
        for i, v in enumerate(values):
            if v is None:
                counts[i][1] += 1
                continue
            counts[i][0] += 1
            if vocabs[i] is not None:
                vocabs[i][v] = vocabs[i].get(v, 0) + 1
            if numeric[i]:
                buf = buffers[i]
                buf.append(v)
                if quant[i]:
                    seen = distinct[i]
                    seen[v] = seen.get(v, 0) + 1
                    if len(seen) >= FLUSH:
                        flush_values(out, i, seen)
                if len(buf) >= FLUSH:
                    moments[i] = merge_moments(moments[i], moments_of(buf))
                    buf.clear()
    for i, buf in enumerate(buffers):
        if quant[i]:
            flush_values(out, i, distinct[i])
        if buf:
            moments[i] = merge_moments(moments[i], moments_of(buf))
        if quant[i] and counts[i][0]:
            out.write(f"Q\t{i}\t0\t{counts[i][0]}\n")
        emit_partials(out, i, counts[i], moments[i], vocabs[i])


if __name__ == "__main__":
    main()
