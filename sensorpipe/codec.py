"""Text encoding of parsed rows between MapReduce passes, and of the clean CSV output.

Between passes a row is its values joined by tabs: null is \\N, strings are escaped so that
no tab or newline survives, numbers are exact (repr), timestamps are epoch microseconds.
"""

from __future__ import annotations

from sensorpipe.spec import Column
from sensorpipe.values import format_timestamp

NULL = "\\N"
_ESC = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_UNESC = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}


def escape(text: str) -> str:
    return text.translate(_ESC)


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


def encode_row(values: list, columns: list[Column]) -> str:
    out = []
    for v, c in zip(values, columns):
        if v is None:
            out.append(NULL)
        elif c.type in ("string", "category"):
            out.append(escape(v))
        else:
            out.append(repr(v))
    return "\t".join(out)


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
