#!/usr/bin/env python3
"""Pass 0 (map-only): count the physical lines of this split.

Output: `<file index>\t<first offset>\t<lines>`; the runner turns these into the number of
lines before each split, so that pass 1 can name every reject's line number exactly.
"""

import os
import sys

sys.path.insert(0, os.getcwd())  # -files links every shipped file into the task's cwd
import mrlib


def main() -> None:
    job = mrlib.load_job()
    file_idx = mrlib.current_file_index(job)
    first, n = None, 0
    for offset, _ in mrlib.records():
        if first is None:
            first = offset
        n += 1
    if n:
        print(f"{file_idx}\t{first}\t{n}")


if __name__ == "__main__":
    main()
