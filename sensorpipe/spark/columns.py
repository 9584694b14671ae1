"""The value grammars of sensorpipe.core.values as Spark column expressions (built-ins only, no
Python UDF), for the two Spark engines: the batch jobs (jobs/parse.py) and the stream
(streaming/source.py) parse a field the same way because they call these.

The grammars are the same regular expressions, anchored for Java's regex. The reject
cascade built on them is sensorpipe.spark.rejects.
"""

from __future__ import annotations

from pyspark.sql import Column as C
from pyspark.sql import functions as F

from sensorpipe.core.spec import Column
from sensorpipe.core.values import EPOCH_RE, FLOAT_RE, INT_RE, ISO_RE, TS_MAX, TS_MIN, WHITESPACE


def strip(x) -> C:
    """Surrounding whitespace removed, the same characters as values.WHITESPACE."""
    return F.btrim(x, F.lit(WHITESPACE))


def anchored(regex: str) -> str:
    return rf"^(?:{regex})\z"


# Parsing is staged: each select refers to the previous one's columns, so no regex result
# is copied into several places of one expression (Spark would evaluate every copy, and
# the generated method would grow too large for the JIT to compile).


def parse_float(raw: C) -> C:
    return F.when(raw.rlike(anchored(FLOAT_RE)), raw.try_cast("double"))


def parse_int(raw: C) -> C:
    return F.when(raw.rlike(anchored(INT_RE)), raw.try_cast("bigint"))


# The common shape, 2026-01-01T00:00:00Z (or a space, or no Z): one regex, then substrings.
FIXED_ISO = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}Z?\z"


def iso_parts(raw: C) -> C:
    """The 8 groups of ISO_RE as array<string> ("" for an absent group), from one match."""
    iso = anchored(ISO_RE)
    groups = "|".join(f"${i}" for i in range(1, 9))
    return F.when(~raw.rlike(FIXED_ISO) & raw.rlike(iso), F.split(F.regexp_replace(raw, iso, groups), "[|]"))


def _micros(y: C, mo: C, d: C, hh: C, mi: C, ss: C) -> C:
    stamp = F.try_make_timestamp(y, mo, d, hh, mi, ss.cast("decimal(8,6)"), F.lit("UTC"))
    return F.when((y >= 1) & (ss < 60), F.unix_micros(stamp))


def from_fixed_iso(raw: C) -> C:
    """Spark's strict datetime parser (Feb 30, 24:00 and :60 are invalid), in UTC; year 0 is not.

    Measured faster here than make_timestamp or integer calendar arithmetic in expressions.
    """
    text = F.concat(F.substring(raw, 1, 10), F.lit(" "), F.substring(raw, 12, 8))
    stamp = F.try_to_timestamp(text, F.lit("yyyy-MM-dd HH:mm:ss"))
    return F.when(F.substring(raw, 1, 4) != "0000", F.unix_micros(stamp))


def from_epoch(raw: C) -> C:
    """Epoch microseconds of a text EPOCH_RE matches. No split: Spark evaluates this on every
    row of the fast path (a shared subexpression), and split by '[.]' compiled a Java regex
    per row (a profile at 2M rows); substring_index takes no regex."""
    secs = F.substring_index(raw, ".", 1).try_cast("bigint")
    frac = F.rpad(F.when(raw.contains("."), F.substring_index(raw, ".", -1)).otherwise(F.lit("")), 6, "0")
    frac = frac.cast("bigint")
    sign = F.when(raw.startswith("-"), -1).otherwise(1)
    return F.try_add(F.try_multiply(secs, F.lit(1_000_000)), sign * frac)


def from_iso_parts(parts: C) -> C:
    def part(i: int) -> C:
        return F.element_at(parts, i)

    def num(i: int) -> C:
        return F.when(part(i) == "", 0).otherwise(part(i).cast("int"))

    zone = part(8)
    digits = F.regexp_replace(F.substring(zone, 2, 6), ":", "")
    zh, zm = F.substring(digits, 1, 2).cast("int"), F.substring(digits, 3, 2).cast("int")
    sign = F.when(zone.startswith("+"), 1).otherwise(-1)
    offset = F.when((zone == "") | (zone == "Z"), 0).otherwise(
        F.when((zh <= 18) & (zm <= 59), (zh * 60 + zm) * 60 * sign)
    )
    frac = F.rpad(part(7), 6, "0").cast("bigint")
    return _micros(*(num(i) for i in range(1, 7))) + frac - offset.cast("bigint") * 1_000_000


def parse_timestamp(raw: C, parts: C) -> C:
    """Epoch microseconds (bigint) from ISO-8601 or epoch seconds (unchecked range)."""
    return (
        F.when(raw.rlike(FIXED_ISO), from_fixed_iso(raw))
        .when(parts.isNotNull(), from_iso_parts(parts))
        .when(raw.rlike(anchored(EPOCH_RE)), from_epoch(raw))
    )


def checked(v: C, col: Column) -> C:
    """Finite, and inside the timestamp limits and the spec's range (a text column, which has
    no range, is returned as it is)."""
    if col.type == "float":
        v = F.when(~F.isnan(v) & (F.abs(v) != F.lit(float("inf"))), v)
    if col.type == "timestamp":
        v = F.when((v >= TS_MIN) & (v <= TS_MAX), v)
    if col.range is not None:
        v = F.when(v.between(*col.range), v)
    return v


# The fast path of a line (jobs/parse.py): fields in the common shape, checked by one regex
# over the whole line. A field that matches its shape here is one the grammars above accept
# unchanged (no surrounding whitespace to strip, ASCII only), so its value is a plain cast.
# Written for Python's re and Java's regex alike (\uXXXX in both).
def _plain_class(delimiter: str, extra: str = "") -> str:
    """Printable ASCII without space, quote and the delimiter (plus `extra` characters)."""
    return rf"[^\u0000-\u0020\u0022\u007f-\uffff\u{ord(delimiter):04x}{extra}]"


FAST_ISO = r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}Z?"
FAST_EPOCH = r"-?[0-9]+(?:\.[0-9]{1,6})?"
# A float's characters only, not its grammar (cheaper to match): on these characters (no
# space, no hex 'x'/'p', no 'd'/'f' suffix, no NaN/Infinity), the text Java's
# Double.parseDouble (Spark's cast) accepts is exactly FLOAT_RE's; what it refuses ("1.2.3",
# "1e") casts to null, as the full path makes it (tests/test_spark.py lists such texts).
FAST_FLOAT = r"[0-9.eE+-]+"


def fast_field_regex(col: Column | None, delimiter: str) -> str:
    """The common shape of a field for this column (None: a field no column reads)."""
    if col is None:  # not parsed: anything quote-free in ASCII (tab and space too)
        return rf"(?:{_plain_class(delimiter)}|[ \t])*"
    if col.type == "float":  # see FAST_FLOAT
        return FAST_FLOAT
    if col.type == "int":
        return INT_RE
    if col.type == "timestamp":
        return f"(?:{FAST_ISO}|{FAST_EPOCH})"
    return _plain_class(delimiter) + "+"


def fast_value(raw: C, col: Column) -> C:
    """The typed value of a field known to match fast_field_regex (before `checked`): the
    same value the full grammar path gives (parse_float, parse_int, parse_timestamp)."""
    if col.type == "float":
        return raw.try_cast("double")
    if col.type == "int":
        return raw.try_cast("bigint")
    if col.type == "timestamp":  # ISO has its first '-' fifth; an epoch only a leading one
        return F.when(F.substring(raw, 5, 1) == "-", from_fixed_iso(raw)).otherwise(from_epoch(raw))
    return raw
