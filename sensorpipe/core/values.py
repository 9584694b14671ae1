"""Parse and format single values exactly as DESIGN.md defines them (stdlib only).

The grammars are regular expressions on purpose: the Spark engine applies the very same
patterns with `rlike`, so "does not parse as its type" means one thing in every engine.
"""

from __future__ import annotations

import functools
import re
import struct
from datetime import UTC, datetime

# Surrounding whitespace stripped from every value (ASCII only, as Spark's trim can match).
WHITESPACE = " \t\r\n\f\v"

FLOAT_RE = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
INT_RE = r"[+-]?[0-9]+"
EPOCH_RE = r"(-?[0-9]+)(?:\.([0-9]{1,6}))?"
ISO_RE = (
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,6}))?)?)?"
    r"(Z|[+-][0-9]{2}:?[0-9]{2})?"
)
_EPOCH = re.compile(EPOCH_RE, re.ASCII).fullmatch
_ISO = re.compile(ISO_RE, re.ASCII).fullmatch

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_EPOCH0 = datetime(1970, 1, 1, tzinfo=UTC)


def parse_float(text: str) -> float | None:
    """A finite float, or None when the text is not one (FLOAT_RE's grammar).

    On ASCII text without underscores, Python's float() accepts exactly FLOAT_RE plus the
    words inf/nan/infinity, which are not finite, and surrounding whitespace or control
    characters, which the first check refuses: so float() is the fast path.
    """
    if not (text[:1] > " " and text[-1:] > " " and text.isascii()) or "_" in text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value - value == 0.0 else None  # false for inf and nan


def parse_int(text: str) -> int | None:
    """A 64-bit integer, or None ("1.0" is not an int; INT_RE's grammar)."""
    if not (text[:1] > " " and text[-1:] > " " and text.isascii()) or "_" in text:
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    return value if INT64_MIN <= value <= INT64_MAX else None


@functools.lru_cache(maxsize=1 << 16)
def parse_timestamp(text: str) -> int | None:
    """Microseconds since the epoch (UTC) from ISO-8601 or epoch seconds, or None.

    Cached: in telemetry many devices report the same instant.
    """
    m = _EPOCH(text)
    if m:
        whole, frac = m.groups()
        micros = int((frac or "").ljust(6, "0"))
        value = int(whole) * 1_000_000 + (-micros if whole.startswith("-") else micros)
        return value if TS_MIN <= value <= TS_MAX else None
    m = _ISO(text)
    if not m:
        return None
    y, mo, d, hh, mi, ss, frac, zone = m.groups()
    try:
        dt = datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0), tzinfo=UTC)
    except ValueError:
        return None
    offset = 0
    if zone and zone != "Z":
        digits = zone[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:])
        if hours > 18 or minutes > 59:
            return None
        offset = (hours * 60 + minutes) * 60 * (1 if zone[0] == "+" else -1)
    seconds = (dt - _EPOCH0) // _ONE_SECOND - offset
    value = seconds * 1_000_000 + int((frac or "").ljust(6, "0"))
    return value if TS_MIN <= value <= TS_MAX else None


_ONE_SECOND = datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC) - _EPOCH0
# Timestamps every engine can hold and print: years 0001 to 9999.
TS_MIN = -62135596800 * 1_000_000
TS_MAX = 253402300799 * 1_000_000 + 999_999


def format_timestamp(micros: int) -> str:
    """ISO-8601 UTC with a Z; fractional seconds only where present, without trailing zeros."""
    seconds, frac = divmod(micros, 1_000_000)
    dt = _EPOCH0 + seconds * _ONE_SECOND  # fromtimestamp() refuses years before 1 on some platforms
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if dt.year < 1000:
        text = f"{dt.year:04d}" + text[text.index("-") :]
    if frac:
        text += "." + f"{frac:06d}".rstrip("0")
    return text + "Z"


def sortable(value: float) -> str:
    """16 hex digits whose byte order is the numeric order of the double (for MR sorts)."""
    bits = struct.unpack(">Q", struct.pack(">d", value + 0.0))[0]  # +0.0 folds -0.0 into 0.0
    bits = bits ^ 0xFFFFFFFFFFFFFFFF if bits >> 63 else bits | (1 << 63)
    return f"{bits:016x}"


def unsortable(text: str) -> float:
    bits = int(text, 16)
    bits = bits & ~(1 << 63) if bits >> 63 else bits ^ 0xFFFFFFFFFFFFFFFF
    return struct.unpack(">d", struct.pack(">Q", bits))[0]
