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
from sensorpipe.core.fastrows import compile_row
from sensorpipe.core.rows import DUPLICATE, MALFORMED, REASONS, decode_line, raw_text
from sensorpipe.core.values import WHITESPACE

GROUP = "sensorpipe"


def line_numbers(job: dict, file_idx: int, first_offset: int) -> int:
    """Physical lines of this file before the split that starts at first_offset."""
    for offset, before in job["splits"].get(str(file_idx), []):
        if offset == first_offset:
            return before
    raise SystemExit(f"sensorpipe: no line count for split at {first_offset} of file {file_idx}")


def reject(reason: str, source: str, line: int, raw: str) -> str:
    return json.dumps({"reason": reason, "source": source, "line": line, "raw": raw}, ensure_ascii=False)


def map_split(job: dict, file_idx: int, stream, out, counts: dict) -> None:
    """Map one split: stream yields Hadoop's 'offset<TAB>line' records as bytes."""
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
    fast = (compile_row(layout) if layout is not None else None) or (lambda text: None)
    write = out.write
    rows_in, before, file_tag = 0, None, f"{file_idx:06d}:"
    for local, record in enumerate(stream):
        tab = record.index(b"\t")
        offset = int(record[:tab])
        if before is None:
            before = line_numbers(job, file_idx, offset)
        if offset == header_offset:
            continue
        raw = record[tab + 1 :]
        text = decode_line(raw, offset == 0)
        line_no = before + local + 1
        done = fast(text) if text else None  # (key, row) of a line kept as it is: most lines
        if done is not None:
            rows_in += 1
            group, row = done
            if keyed:
                write(f"K\t{group}\t{file_tag}{offset:020d}\t{line_no}\t{text}\t{row}\n")
            else:
                where = f"{file_tag}{offset:020d}"
                write(f"K\t{where}\t{where}\t{line_no}\t\t{row}\n")
            continue
        if text is not None and not text.strip(WHITESPACE):
            continue  # a blank line (never one the shortcut keeps)
        rows_in += 1
        where = f"{file_idx:06d}:{offset:020d}"
        reason, values = (MALFORMED, None) if text is None or layout is None else layout.parse(text)
        if reason:
            counts[reason] = counts.get(reason, 0) + 1
            rej = reject(reason, source, line_no, raw_text(raw, offset == 0))
            write(f"R\t{where}\t-\t{rej}\n")
            continue
        row = encode_row([values[i] for i in kept], encode)
        group = encode_key([values[i] for i in key_index], key_encode) if keyed else where
        write(f"K\t{group}\t{where}\t{line_no}\t{escape(text) if keyed else ''}\t{row}\n")
    counts["rows_in"] += rows_in


def main() -> None:
    job = mrlib.load_job()
    file_idx = mrlib.current_file_index(job)
    counts = dict.fromkeys(["rows_in", *(r for r in REASONS if r != DUPLICATE)], 0)
    map_split(job, file_idx, sys.stdin.buffer, sys.stdout, counts)
    for name, n in counts.items():
        mrlib.counter(GROUP, name, n)
        sys.stdout.write(mrlib.count_record(name, n))


if __name__ == "__main__":
    main()
