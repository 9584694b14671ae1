"""What the runner reads back from the passes' outputs: the count pass's split table, the
stats pass's stats.json, and the count records (mapreduce/mrlib.py count_record) that make
every figure of report.json. A count that is not there fails the run (CountsMissing).
"""

from __future__ import annotations

import json

from sensorpipe.core.output import ACCOUNTING
from sensorpipe.core.stats import column_stats, stats_document
from sensorpipe.core.transform import fit_params, output_names


def split_table(lines) -> dict:
    """file index -> [[first offset of a split, physical lines before it], ...], from the
    count pass's output lines."""
    per_file: dict[str, list] = {}
    for line in lines:
        f, first, n = line.split("\t")
        per_file.setdefault(f, []).append((int(first), int(n)))
    table = {}
    for f, entries in per_file.items():
        before, rows = 0, []
        for first, n in sorted(entries):
            rows.append([first, before])
            before += n
        table[f] = rows
    return table


class CountsMissing(RuntimeError):
    """A pass's output lacks a count the report needs: fail rather than report a guess."""


def read_counts(lines, wanted: list[tuple[str, str]], where: str) -> dict[tuple[str, str], int]:
    """The count records (`C<TAB>name<TAB>sub<TAB>n`, mapreduce/mrlib.py count_record) among a
    pass's output lines, summed per (name, sub); every `wanted` one must be there."""
    counts: dict[tuple[str, str], int] = {}
    for line in lines:
        if line.startswith("C\t"):
            _, name, sub, n = line.split("\t")
            counts[name, sub] = counts.get((name, sub), 0) + int(n)
    missing = [
        f"{name}" if sub == "-" else f"{name}[{sub}]" for name, sub in wanted if (name, sub) not in counts
    ]
    if missing:
        raise CountsMissing(
            f"the {where} pass wrote no count of {', '.join(missing)}: its scripts did not run as "
            "shipped or part of its output is gone; no report from counts that were not made"
        )
    return counts


def read_stats(lines, columns, spec) -> tuple[dict, dict]:
    """stats.json, and the row accounting of the validate pass (its count records, summed by
    the stats pass), from the stats pass's output lines."""
    parts: dict[str, dict] = {str(i): {"V": {}} for i in range(len(columns))}
    records = []
    for line in lines:
        tag, col, sub, value = line.split("\t", 3)
        if tag == "C":
            records.append(line)
        elif tag == "V":
            parts[col]["V"][json.loads(sub)] = int(value)
        else:
            parts[col][tag] = json.loads(value)
    counts = read_counts(records, [(name, "-") for name in ACCOUNTING], "validate")
    accounting = {name: counts[name, "-"] for name in ACCOUNTING}
    rows = accounting["rows_clean"]
    per_column = {}
    for i, c in enumerate(columns):
        p = parts[str(i)]
        if "N" not in p or sum(p["N"]) != rows:  # every kept row is counted once per column
            raise CountsMissing(
                f"the stats pass counted {p.get('N')} values of {c.out}, for {rows} kept rows"
            )
        count, nulls = p["N"]
        per_column[c.out] = column_stats(c, count, nulls, p.get("M"), p.get("Q"), p["V"])
    doc = stats_document(spec, columns, rows, per_column, [])
    doc["output_columns"] = output_names([fit_params(c, per_column[c.out]) for c in columns])
    return doc, accounting


def read_tally(lines, columns, rows_clean: int) -> dict:
    """{"imputed": {column: n}, "clipped": {column: n}} from the tally pass's count records,
    which must have seen every row that the validate pass kept."""
    wanted = [("rows", "-")] + [
        (what, str(i)) for what in ("imputed", "clipped") for i in range(len(columns))
    ]
    counts = read_counts(lines, wanted, "tally")
    if counts["rows", "-"] != rows_clean:
        raise CountsMissing(
            f"the tally pass saw {counts['rows', '-']} kept rows, the validate pass kept {rows_clean}"
        )
    return {
        what: {c.out: counts[what, str(i)] for i, c in enumerate(columns)} for what in ("imputed", "clipped")
    }
