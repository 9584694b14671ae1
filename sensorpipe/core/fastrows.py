"""The common line of a layout, validated and encoded in a few C-level calls per line.

`compile_row(layout)` builds, once per file, a function `encode(text)` that returns what the
validate mapper writes for a kept line (its record key and its row, in codec's encoding), or
None whenever the line needs the reference path, `Layout.parse`: quotes, a backslash,
whitespace to strip, a null token, non-ASCII or control characters, a wrong field count, or
any value that is not valid and in range. It never decides a reject: it only skips work on
the lines `Layout.parse` keeps as they are, so every reason and every value stays rows.py's.
"""

from __future__ import annotations

import sys
from operator import itemgetter, le

from sensorpipe.core.rows import Layout
from sensorpipe.core.values import INT64_MAX, INT64_MIN, parse_timestamp

_FLOAT_MAX = sys.float_info.max  # the bounds of a float column without a range: inf fails them
_STAMPS_CACHED = 1 << 16


class _StampTexts(dict):
    """Timestamp text -> its epoch microseconds as text (None: not a timestamp). A dict
    lookup in C for the instants many devices share; a miss parses (and the dict is emptied
    when it grows past _STAMPS_CACHED)."""

    def __missing__(self, text: str) -> str | None:
        if len(self) >= _STAMPS_CACHED:
            self.clear()
        micros = parse_timestamp(text)
        self[text] = value = None if micros is None else str(micros)
        return value


def _pick(positions: list[int]):
    """items -> the items at these positions, in one C call (a slice for one or none: itemgetter
    of one index returns the bare item)."""
    if len(positions) > 1:
        return itemgetter(*positions)
    return itemgetter(slice(positions[0], positions[0] + 1) if positions else slice(0, 0))


def compile_row(layout: Layout):
    """encode(text) -> (record key or None without a spec key, row) | None (see the module).

    A line's texts are its fields as split, then the canonical text of each int of the key
    and of each timestamp. The row writes a float or an int as its field: valid for the
    grammar, float() or int() of it is the value exactly. Keys need canonical text (equal
    values, equal keys): None for a spec with a float in its key (-0.0 is 0.0 there) or a
    delimiter the whole-line checks would refuse anyway (a space, a backslash, a control).
    """
    spec, cols, pos = layout.spec, layout.columns, layout.positions
    d = spec.delimiter
    key_types = {cols[i].type for i in layout.key_index}
    if "float" in key_types or not (
        d == "whitespace" or (d.isascii() and d.isprintable() and d not in " \\")
    ):
        return None
    n_fields, nulls, keyed, whitespace = layout.n_fields, spec.null_tokens, bool(spec.key), d == "whitespace"
    before, after = " " + d, d + " "  # a field that ends or starts with a space
    floats = [i for i, c in enumerate(cols) if c.type == "float"]
    ints = [i for i, c in enumerate(cols) if c.type == "int"]
    stamps = [i for i, c in enumerate(cols) if c.type == "timestamp"]
    key_ints = [i for i in layout.key_index if cols[i].type == "int"]
    pick_floats, pick_ints = _pick([pos[i] for i in floats]), _pick([pos[i] for i in ints])
    pick_numbers, pick_stamps = _pick([pos[i] for i in floats + ints]), _pick([pos[i] for i in stamps])
    ints_in_key = _pick([ints.index(i) for i in key_ints])
    # Range, finiteness and int64 as two vectors the numbers are compared with, one call each.
    lows, highs = [], []
    for i in floats + ints:
        lo, hi = cols[i].range or (-_FLOAT_MAX, _FLOAT_MAX)
        if cols[i].type == "int":
            lo, hi = max(lo, INT64_MIN), min(hi, INT64_MAX)
        lows.append(lo)
        highs.append(hi)
    row_slots = list(pos)
    for k, i in enumerate(stamps):
        row_slots[i] = n_fields + k
    key_slots = list(row_slots)
    for k, i in enumerate(key_ints):
        key_slots[i] = n_fields + len(stamps) + k
    pick_row = _pick([row_slots[i] for i in layout.kept_index])
    pick_key = _pick([key_slots[i] for i in layout.key_index])
    stamp_texts = _StampTexts()

    def encode(text: str) -> tuple[str | None, str] | None:
        # Nothing to unquote, strip or escape, in the fields or in the line (written as it is):
        # printable ASCII has no tab, no line break; no quote, no backslash, no spaced field.
        if '"' in text or "\\" in text or not (text.isascii() and text.isprintable()):
            return None
        if whitespace:
            fields = text.split()
        elif " " in text and (text[0] == " " or text[-1] == " " or before in text or after in text):
            return None
        else:
            fields = text.split(d)
        if len(fields) != n_fields or not nulls.isdisjoint(fields):
            return None
        try:
            whole = list(map(int, pick_ints(fields)))
            numbers = [*map(float, pick_floats(fields)), *whole]
        except ValueError:
            return None
        if not (all(map(le, lows, numbers)) and all(map(le, numbers, highs))):
            return None  # out of range, not finite (inf, nan) or beyond int64
        if "_" in text and any("_" in f for f in pick_numbers(fields)):
            return None  # float() and int() read 1_000; the grammar does not
        texts = list(map(stamp_texts.__getitem__, pick_stamps(fields)))
        if None in texts:
            return None
        texts = fields + texts
        if not keyed:
            return None, "\t".join(pick_row(texts))
        if key_ints:
            texts += map(str, ints_in_key(whole))
        return "\x1f".join(pick_key(texts)), "\t".join(pick_row(texts))

    return encode
