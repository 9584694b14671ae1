#!/usr/bin/env python3
"""Pass 1 reduce: keep the first line of every record key, reject the later ones.

Input is sorted by (tag, group, order); `itertools.groupby` holds one key at a time.
Output: `D<TAB><encoded row>` for kept rows, `R<TAB><reject JSON>` for every reject, and
the count records of the row accounting (every name, zeros too): the mappers' counts that
this reducer received, summed, plus its own rows_clean and duplicate_key.
"""

import os
import sys

sys.path.insert(0, os.getcwd())  # -files links every shipped file into the task's cwd
import itertools
import json

import mrlib
from sensorpipe.core.codec import unescape
from sensorpipe.core.output import ACCOUNTING
from sensorpipe.core.rows import DUPLICATE

GROUP = "sensorpipe"


def group_of(line: str) -> tuple[str, str]:
    tag, group, _ = line.split("\t", 2)
    return tag, group


def reduce_group(tag: str, lines, sources: list, out, counts: dict) -> None:
    if tag == "R":
        for line in lines:
            out.write("R\t" + line.split("\t", 3)[3])
        return
    for i, line in enumerate(lines):
        _, _, where, line_no, raw, row = line.split("\t", 5)
        if i == 0:
            counts["rows_clean"] += 1
            out.write("D\t" + row)
            continue
        counts[DUPLICATE] += 1
        source = sources[int(where.split(":")[0])]
        rej = {"reason": DUPLICATE, "source": source, "line": int(line_no), "raw": unescape(raw)}
        out.write("R\t" + json.dumps(rej, ensure_ascii=False) + "\n")


def main() -> None:
    job = mrlib.load_job()
    sources = [f["path"] for f in job["files"]]
    counts = {"rows_clean": 0, DUPLICATE: 0}  # this reducer's own (the mappers report theirs)
    total = dict.fromkeys(ACCOUNTING, 0)
    lines = (raw.decode("utf-8") for raw in sys.stdin.buffer)
    for (tag, name), group in itertools.groupby(lines, key=group_of):
        if tag == mrlib.COUNT:
            total[name] += sum(int(line.rsplit("\t", 1)[1]) for line in group)
        else:
            reduce_group(tag, group, sources, sys.stdout, counts)
    for name, n in counts.items():
        mrlib.counter(GROUP, name, n)
        total[name] += n
    sys.stdout.writelines(mrlib.count_record(name, n) for name, n in total.items())


if __name__ == "__main__":
    main()
