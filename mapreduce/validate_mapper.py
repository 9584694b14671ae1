#!/usr/bin/env python3
"""Pass 1 map: parse and validate every line; emit rejects and rows keyed for de-duplication.

Output lines have three key fields (tag, group, order) and a value:
  R  <file>:<offset>   -           reject as JSON (malformed_row, missing_required, invalid_value)
  K  <record key>      <file>:<offset>   line number, raw line, encoded row
  C  <count name>      -           this task's count (rows_in and each reason here, zeros too)
The partitioner hashes (tag, group), so all lines of one record key meet in one reducer,
sorted by file then offset: the first is kept, later ones are duplicates.
"""

import os
import sys

sys.path.insert(0, os.getcwd())  # -files links every shipped file into the task's cwd
import json

import mrlib
from sensorpipe.core.codec import encode_key, encode_row, encoders, escape, key_encoders
from sensorpipe.core.rows import DUPLICATE, MALFORMED, REASONS, decode_line, is_blank, raw_text

GROUP = "sensorpipe"


def line_numbers(job: dict, file_idx: int, first_offset: int) -> int:
    """Physical lines of this file before the split that starts at first_offset."""
    for offset, before in job["splits"].get(str(file_idx), []):
        if offset == first_offset:
            return before
    raise SystemExit(f"sensorpipe: no line count for split at {first_offset} of file {file_idx}")


def reject(reason: str, source: str, line: int, raw: str) -> str:
    return json.dumps({"reason": reason, "source": source, "line": line, "raw": raw}, ensure_ascii=False)


def map_split(job: dict, file_idx: int, recs, out, counts: dict) -> None:
    entry = job["files"][file_idx]
    source, header_offset = entry["path"], entry["header_offset"]
    layout = (
        mrlib.layout_for(job, file_idx) if entry["header"] is not None or not job["spec"].header else None
    )
    columns = layout.columns if layout else []
    kept = layout.kept_index if layout else []
    encode = encoders([columns[i] for i in kept])
    key_index = layout.key_index if layout else []
    key_encode = key_encoders([columns[i] for i in key_index])
    keyed = bool(job["spec"].key)
    before = None
    for local, (offset, raw) in enumerate(recs):
        if before is None:
            before = line_numbers(job, file_idx, offset)
        if offset == header_offset:
            continue
        text = decode_line(raw, offset == 0)
        if text is not None and is_blank(text):
            continue
        counts["rows_in"] += 1
        line_no = before + local + 1
        where = f"{file_idx:06d}:{offset:020d}"
        reason, values = (MALFORMED, None) if text is None or layout is None else layout.parse(text)
        if reason:
            counts[reason] = counts.get(reason, 0) + 1
            rej = reject(reason, source, line_no, raw_text(raw, offset == 0))
            out.write(f"R\t{where}\t-\t{rej}\n")
            continue
        row = encode_row([values[i] for i in kept], encode)
        group = encode_key([values[i] for i in key_index], key_encode) if keyed else where
        out.write(f"K\t{group}\t{where}\t{line_no}\t{escape(text) if keyed else ''}\t{row}\n")


def main() -> None:
    job = mrlib.load_job()
    file_idx = mrlib.current_file_index(job)
    counts = dict.fromkeys(["rows_in", *(r for r in REASONS if r != DUPLICATE)], 0)
    map_split(job, file_idx, mrlib.records(), sys.stdout, counts)
    for name, n in counts.items():
        mrlib.counter(GROUP, name, n)
        sys.stdout.write(mrlib.count_record(name, n))


if __name__ == "__main__":
    main()
