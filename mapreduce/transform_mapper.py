#!/usr/bin/env python3
"""Pass 3 (map-only): impute, clip, scale and encode every kept row with the fitted stats.

Reads pass 1 output, writes the clean CSV line of each D line (columns in
stats.json's output_columns order). The fitted stats arrive in job.json via -files.
"""

import os
import sys

sys.path.insert(0, os.getcwd())  # -files links every shipped file into the task's cwd
import mrlib
from sensorpipe.core.codec import decode_row, decoders
from sensorpipe.core.transform import RowTransformer, fit_params

GROUP = "sensorpipe"


def main() -> None:
    job = mrlib.load_job()
    columns = mrlib.stored(job)
    decode = decoders(columns)
    stats = job["stats"]["columns"]
    transformer = RowTransformer([fit_params(c, stats[c.out]) for c in columns])
    write = sys.stdout.write
    for text in mrlib.text_records():
        if text.startswith("D\t"):
            write(transformer.csv_line(decode_row(text[2:], decode)) + "\n")
    # Counter names are column indexes: Hadoop counter names cannot hold every header name.
    for i, cnt in enumerate(transformer.counts):
        for what, n in cnt.items():
            mrlib.counter(f"sensorpipe.{what}", str(i), n)


if __name__ == "__main__":
    main()
