"""Text encoding of parsed rows between MapReduce passes, and of the clean CSV output.

Between passes a row is its values joined by tabs: null is \\N, strings are escaped so that
no tab or newline survives, numbers are exact (repr, or the field's own text where it is valid
for its grammar: float() or int() reads it back exactly; see fastrows), timestamps are epoch
microseconds. Record keys are canonical: equal values, equal text.
"""

from __future__ import annotations

import re

from sensorpipe.core.spec import Column
from sensorpipe.core.values import format_timestamp

NULL = "\\N"
# \x1f separates the fields of a record key, so it is escaped too (as \u).
_ESC = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\x1f": "\\u"})
_UNESC = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r", "u": "\x1f"}


needs_escape = re.compile(r"[\\\t\n\r\x1f]").search


def escape(text: str) -> str:
    return text.translate(_ESC) if needs_escape(text) else text


def unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(_UNESC.get(text[i + 1], text[i + 1]))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def encoders(columns: list[Column]):
    return [escape if c.type in ("string", "category") else repr for c in columns]


def encode_row(values: list, encode) -> str:
    """Tab-joined fields; `encode` is encoders(columns) (computed once per task)."""
    return "\t".join([NULL if v is None else e(v) for v, e in zip(values, encode)])


def _float_key(value: float) -> str:
    return repr(value + 0.0)  # -0.0 and 0.0 are one key, as in Spark's grouping


def key_encoders(columns: list[Column]):
    return [_float_key if c.type == "float" else e for c, e in zip(columns, encoders(columns))]


def encode_key(values: list, encode) -> str:
    """A record key as one text field: equal parsed values give equal keys."""
    return "\x1f".join([NULL if v is None else e(v) for v, e in zip(values, encode)])


def decoders(columns: list[Column]):
    kinds = {"int": int, "timestamp": int, "float": float}
    return [kinds.get(c.type, unescape) for c in columns]


def decode_row(text: str, decode) -> list:
    return [None if f == NULL else d(f) for f, d in zip(text.split("\t"), decode)]


def csv_field(value) -> str:
    """One value of the clean CSV: null is an empty field, an empty string is \"\"."""
    if value is None:
        return ""
    if isinstance(value, str):
        if value == "" or any(ch in value for ch in ',"\r\n') or value != value.strip():
            return '"' + value.replace('"', '""') + '"'
        return value
    return repr(value)


def ts_field(value) -> str:
    return "" if value is None else format_timestamp(value)
