"""The spec's row semantics as Spark column expressions: split, parse, validate, reject.

Mirrors sensorpipe/rows.py and sensorpipe/values.py with built-in expressions only (no
Python UDF); the grammars are the same regular expressions, anchored for Java's regex.
"""

from __future__ import annotations

from pyspark.sql import Column as C
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sensorpipe.rows import BOM, DUPLICATE, INVALID, MALFORMED, MISSING, Layout, java_field_regex, line_regex
from sensorpipe.spec import Column, Spec
from sensorpipe.values import EPOCH_RE, FLOAT_RE, INT_RE, ISO_RE, TS_MAX, TS_MIN, WHITESPACE


def strip(x) -> C:
    """Surrounding whitespace removed, the same characters as values.WHITESPACE."""
    return F.btrim(x, F.lit(WHITESPACE))


def anchored(regex: str) -> str:
    return rf"^(?:{regex})\z"


def filter_headers_and_blanks(headers: dict[int, int]):
    """Drop each file's header line (file index -> line number) and blank lines; strip CR/BOM."""

    def transform(df: DataFrame) -> DataFrame:
        text = F.regexp_replace("value", r"\r\z", "")
        text = F.when(F.col("line") == 1, F.regexp_replace(text, f"^{BOM}", "")).otherwise(text)
        is_header = F.lit(False)
        for idx, line in headers.items():
            is_header = is_header | ((F.col("file_idx") == idx) & (F.col("line") == line))
        return df.withColumn("text", text).where(~is_header & (strip(F.col("text")) != ""))

    return transform


def split_fields(text: C, spec: Spec) -> C:
    """array<string> of the fields, or null when the quoting is malformed."""
    d = spec.delimiter
    if d == "whitespace":
        return F.split(F.btrim(text, F.lit(" \t")), "[ \t]+", -1)
    quoted_field = F.regexp_extract_all(text, F.lit(java_field_regex(d)), 0)
    unquote = F.transform(
        quoted_field,
        lambda f: F.when(
            f.rlike('^[ \t]*"'),
            F.regexp_replace(F.regexp_extract(f, r'(?s)^[ \t]*"(.*)"[ \t]*\z', 1), '""', '"'),
        ).otherwise(f),
    )
    plain = d if d.isalnum() or d in ",;: \t" else "\\" + d  # Java's String.split fast path, no regex
    return F.when(~text.contains('"'), F.split(text, plain, -1)).when(
        text.rlike(line_regex(d, r"\z")), unquote
    )


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
    whole = F.split(raw, "[.]")
    secs = F.element_at(whole, 1).try_cast("bigint")
    frac = F.rpad(F.coalesce(F.try_element_at(whole, F.lit(2)), F.lit("")), 6, "0").cast("bigint")
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
    """Finite, and inside the timestamp limits and the spec's range."""
    if col.type == "float":
        v = F.when(~F.isnan(v) & (F.abs(v) != F.lit(float("inf"))), v)
    if col.type == "timestamp":
        v = F.when((v >= TS_MIN) & (v <= TS_MAX), v)
    if col.range is not None:
        v = F.when(v.between(*col.range), v)
    return v


def per_file(values: dict[int, int]) -> C:
    """A literal when every file agrees, else a CASE on file_idx."""
    distinct = set(values.values())
    if len(distinct) == 1:
        return F.lit(distinct.pop())
    expr = None
    for idx, v in values.items():
        expr = (F.when if expr is None else expr.when)(F.col("file_idx") == idx, v)
    return expr


def with_parsed_columns(layouts: dict[int, Layout]):
    """Add `reason` and one typed column per parsed column (null when rejected)."""
    layout = next(iter(layouts.values()))
    spec = layout.spec

    def transform(df: DataFrame) -> DataFrame:
        fields = split_fields(F.col("text"), spec)
        df = df.withColumn("_fields", fields)
        cols = layout.columns
        raws = []
        for i in range(len(cols)):
            pos = per_file({f: lay.positions[i] + 1 for f, lay in layouts.items()})
            raw = strip(F.try_element_at("_fields", pos))
            raws.append(F.when(~raw.isin(list(spec.null_tokens)), raw).alias(f"_raw{i}"))
        df = df.select("*", *raws)
        raws = [F.col(f"_raw{i}") for i in range(len(cols))]
        ts = [i for i, c in enumerate(cols) if c.type == "timestamp"]
        df = df.select("*", *[iso_parts(raws[i]).alias(f"_parts{i}") for i in ts])
        primary = []
        for i, c in enumerate(cols):
            if c.type == "timestamp":
                primary.append(parse_timestamp(raws[i], F.col(f"_parts{i}")).alias(f"_p{i}"))
            elif c.type in ("int", "float"):
                primary.append((parse_int if c.type == "int" else parse_float)(raws[i]).alias(f"_p{i}"))
        df = df.select("*", *primary)
        df = df.select(
            "*",
            *[
                (checked(F.col(f"_p{i}"), c) if c.type in ("int", "float", "timestamp") else raws[i]).alias(
                    f"_v{i}"
                )
                for i, c in enumerate(cols)
            ],
        )
        n_fields = per_file({f: lay.n_fields for f, lay in layouts.items()})
        malformed = ~F.is_valid_utf8("value") | F.col("_fields").isNull() | (F.size("_fields") != n_fields)
        missing = _any(raws[i].isNull() for i, c in enumerate(layout.columns) if c.required)
        invalid = _any(
            raws[i].isNotNull() & F.col(f"_v{i}").isNull()
            for i, c in enumerate(layout.columns)
            if c.rejects_invalid
        )
        reason = F.when(malformed, MALFORMED).when(missing, MISSING).when(invalid, INVALID)
        keep = [F.col(f"_v{i}").alias(c.name) for i, c in enumerate(layout.columns) if layout.kept[i]]
        keys = [
            F.col(f"_v{layout.columns.index(spec.column(k))}").alias(f"_key{j}")
            for j, k in enumerate(spec.key)
        ]
        return df.select("file_idx", "line", "text", reason.alias("reason"), *keep, *keys)

    return transform


def _any(conds) -> C:
    out = F.lit(False)
    for c in conds:
        out = out | c
    return out


def duplicated_keys(df: DataFrame, n_keys: int) -> DataFrame:
    """Keys that more than one kept row carries, with the (file_idx, line) of their first row.

    An aggregation, not a window over whole rows: only the keys are shuffled, and the result
    (usually small) is joined back.
    """
    keys = [f"_key{j}" for j in range(n_keys)]
    return (
        df.where(F.col("reason").isNull())
        .groupBy(*keys)
        .agg(F.min(F.struct("file_idx", "line")).alias("_first"), F.count(F.lit(1)).alias("_n"))
        .where(F.col("_n") > 1)
        .select(*[F.col(k).alias(f"{k}_dup") for k in keys], "_first")
    )


def with_duplicates_rejected(dups: DataFrame | None, n_keys: int):
    """Among rows not yet rejected, the first line of a key (file order, then line) wins."""

    def transform(df: DataFrame) -> DataFrame:
        keys = [f"_key{j}" for j in range(n_keys)]
        if dups is None or not n_keys:
            return df.drop(*keys)
        same = _all(df[k].eqNullSafe(dups[f"{k}_dup"]) for k in keys)
        joined = df.join(dups, same, "left")
        later = F.col("_first").isNotNull() & (F.struct("file_idx", "line") != F.col("_first"))
        dup = F.col("reason").isNull() & later
        reason = F.when(dup, F.lit(DUPLICATE)).otherwise(F.col("reason"))
        return joined.withColumn("reason", reason).drop(*keys, *[f"{k}_dup" for k in keys], "_first")

    return transform


def _all(conds) -> C:
    out = F.lit(True)
    for c in conds:
        out = out & c
    return out
