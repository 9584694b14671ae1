#!/usr/bin/env python3
"""Pass 2 map: partial statistics of the kept rows (D lines of pass 1).

Three key fields (tag, column, sub) then a value:
  N  <col>  -            [count, nulls]                  non-null and null counts
  M  <col>  -            [n, mean, m2, min, max]         moments of a numeric column
  V  <col>  <json value> n                               value counts (category / mode)
  Q  <col>  0            n       then   Q <col> 1<hex> m  every value, sortable, for exact
                                                          quantiles in the reducer
Partials are combined in memory per split (counts, moments, vocab), values are not.
"""

import os
import sys

sys.path.insert(0, os.getcwd())  # -files links every shipped file into the task's cwd
import json

import mrlib
from sensorpipe.codec import decode_row, decoders
from sensorpipe.stats import merge_moments, moments_of
from sensorpipe.values import sortable

FLUSH = 200_000  # values buffered per column before folding them into the moments


def emit_partials(out, i: int, nn: list, moments, vocab: dict | None) -> None:
    out.write(f"N\t{i}\t-\t{json.dumps(nn)}\n")
    if moments:
        out.write(f"M\t{i}\t-\t{json.dumps(moments)}\n")
    for value, n in (vocab or {}).items():
        out.write(f"V\t{i}\t{json.dumps(value)}\t{n}\n")


def main() -> None:
    job = mrlib.load_job()
    columns = mrlib.stored(job)
    decode = decoders(columns)
    numeric = [c.numeric for c in columns]
    quant = [c.numeric and c.needs_quantiles for c in columns]
    vocabs = [{} if c.needs_vocab else None for c in columns]
    counts = [[0, 0] for _ in columns]
    buffers = [[] for _ in columns]
    moments = [None] * len(columns)
    out = sys.stdout
    for text in mrlib.text_records():
        if not text.startswith("D\t"):
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
                    out.write(f"Q\t{i}\t1{sortable(v)}\t1\n")
                if len(buf) >= FLUSH:
                    moments[i] = merge_moments(moments[i], moments_of(buf))
                    buf.clear()
    for i, buf in enumerate(buffers):
        if buf:
            moments[i] = merge_moments(moments[i], moments_of(buf))
        if quant[i] and counts[i][0]:
            out.write(f"Q\t{i}\t0\t{counts[i][0]}\n")
        emit_partials(out, i, counts[i], moments[i], vocabs[i])


if __name__ == "__main__":
    main()
