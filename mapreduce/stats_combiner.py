#!/usr/bin/env python3
"""Pass 2 combine: merge partials that share a full key (sums, moments, multiplicities)."""

import os
import sys

sys.path.insert(0, os.getcwd())  # -files links every shipped file into the task's cwd
import itertools

from stats_reducer import combine_value, full_key

import mrlib  # noqa: F401  (puts the core package on sys.path)


def main() -> None:
    lines = (raw.decode("utf-8").rstrip("\n") for raw in sys.stdin.buffer)
    for key, group in itertools.groupby(lines, key=full_key):
        sys.stdout.write(f"{key}\t{combine_value(key[0], (ln.rsplit(chr(9), 1)[1] for ln in group))}\n")


if __name__ == "__main__":
    main()
