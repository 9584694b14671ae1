#!/usr/bin/env python3
"""Pass 5 (map-only): count what pass 3 changes, as count records the runner reads.

Pass 3 writes clean/ and nothing else, so its counts cannot travel with its output: this
pass applies the same impute and clip (sensorpipe.core.transform.apply_value) to every kept
row of pass 1 and writes this task's counts, every column, zeros too:
  C  rows     -      n      kept rows seen (the runner checks it against pass 1's rows_clean)
  C  imputed  <col>  n      values imputed, per column index
  C  clipped  <col>  n      values clipped, per column index
"""

import os
import sys

sys.path.insert(0, os.getcwd())  # -files links every shipped file into the task's cwd
import mrlib
from sensorpipe.core.codec import decode_row, decoders
from sensorpipe.core.transform import apply_value, fit_params


def main() -> None:
    job = mrlib.load_job()
    columns = mrlib.stored(job)
    decode = decoders(columns)
    stats = job["stats"]["columns"]
    params = [fit_params(c, stats[c.out]) for c in columns]
    counts = [{"imputed": 0, "clipped": 0} for _ in params]
    rows = 0
    for text in mrlib.text_records():
        if text.startswith("D\t"):
            rows += 1
            for p, cnt, value in zip(params, counts, decode_row(text[2:], decode)):
                apply_value(p, value, cnt)
    write = sys.stdout.write
    write(mrlib.count_record("rows", rows))
    for i, cnt in enumerate(counts):
        for what, n in cnt.items():
            write(mrlib.count_record(what, n, str(i)))


if __name__ == "__main__":
    main()
