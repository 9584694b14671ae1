#!/usr/bin/env python3
"""Pass 2 reduce: final statistics per column.

Partitioning on (tag, column) sends every Q line of a column to one reducer, sorted by
value: it reads the count first (sub-key 0), then walks the values in order and keeps only
the ones at the ranks numpy's linear quantiles need. One column's values stream through;
none is held. Output: `N|M|V|Q<TAB>col<TAB>json` lines that the runner turns into stats.json,
and pass 1's count records `C<TAB>name<TAB>-<TAB>n`, summed like V lines.
"""

import os
import sys

sys.path.insert(0, os.getcwd())  # -files links every shipped file into the task's cwd
import itertools
import json

import mrlib  # noqa: F401  (puts the core package on sys.path)
from sensorpipe.core.stats import merge_moments, quantiles_from_runs
from sensorpipe.core.values import unsortable


def full_key(line: str) -> str:
    return line.rsplit("\t", 1)[0]


def combine_value(tag: str, values) -> str:
    if tag == "M":
        acc = None
        for v in values:
            acc = merge_moments(acc, json.loads(v))
        return json.dumps(acc)
    if tag == "N":
        total = [0, 0]
        for v in values:
            a, b = json.loads(v)
            total[0] += a
            total[1] += b
        return json.dumps(total)
    return str(sum(int(v) for v in values))


def quantile_runs(groups):
    for key, lines in groups:
        yield (
            unsortable(key.split("\t")[2][1:]),
            int(combine_value("Q", (ln.rsplit("\t", 1)[1] for ln in lines))),
        )


def reduce_column(tag: str, col: str, lines, out) -> None:
    by_key = itertools.groupby(lines, key=full_key)
    if tag != "Q":
        for key, group in by_key:
            value = combine_value(tag, (ln.rsplit("\t", 1)[1] for ln in group))
            sub = key.split("\t")[2]
            out.write(f"{tag}\t{col}\t{sub}\t{value}\n")
        return
    n = 0
    first = next(by_key, None)
    if first is None:
        return
    key, group = first
    if key.endswith("\t0"):
        n = int(combine_value("Q", (ln.rsplit("\t", 1)[1] for ln in group)))
        runs = quantile_runs(by_key)
    else:
        raise SystemExit("sensorpipe: quantile values arrived before their count")
    out.write(f"Q\t{col}\t-\t{json.dumps(quantiles_from_runs(n, runs))}\n")


def main() -> None:
    lines = (raw.decode("utf-8").rstrip("\n") for raw in sys.stdin.buffer)
    for (tag, col), group in itertools.groupby(lines, key=lambda ln: tuple(ln.split("\t", 2)[:2])):
        reduce_column(tag, col, group, sys.stdout)


if __name__ == "__main__":
    main()
