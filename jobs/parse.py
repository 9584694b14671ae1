"""The spec's row semantics as Spark column expressions: split, parse, validate, reject.

Mirrors sensorpipe/rows.py and sensorpipe/values.py with built-in expressions only (no
Python UDF); the grammars are the same regular expressions, anchored for Java's regex.
"""

from __future__ import annotations

from pyspark.sql import Column as C
from pyspark.sql import DataFrame, Window
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
    return F.when(~text.contains('"'), F.split(text, f"\\u{ord(d):04x}", -1)).when(
        text.rlike(line_regex(d, r"\z")), unquote
    )


def parse_float(raw: C) -> C:
    v = F.when(raw.rlike(anchored(FLOAT_RE)), raw.try_cast("double"))
    return F.when(~F.isnan(v) & (F.abs(v) != F.lit(float("inf"))), v)


def parse_int(raw: C) -> C:
    return F.when(raw.rlike(anchored(INT_RE)), raw.try_cast("bigint"))


def parse_timestamp(raw: C) -> C:
    """Epoch microseconds (bigint) from ISO-8601 or epoch seconds, as values.parse_timestamp."""
    epoch = anchored(EPOCH_RE)
    secs = F.regexp_extract(raw, epoch, 1).try_cast("bigint")
    frac = F.rpad(F.regexp_extract(raw, epoch, 2), 6, "0").cast("bigint")
    sign = F.when(F.regexp_extract(raw, epoch, 1).startswith("-"), -1).otherwise(1)
    from_epoch = F.try_add(F.try_multiply(secs, F.lit(1_000_000)), sign * frac)

    iso = anchored(ISO_RE)

    def part(i: int) -> C:
        return F.regexp_extract(raw, iso, i)

    def num(i: int, default: int = 0) -> C:
        return F.when(part(i) == "", default).otherwise(part(i).cast("int"))

    y, mo, d, hh, mi, ss = (num(i) for i in range(1, 7))
    zone = part(8)
    digits = F.regexp_replace(F.substring(zone, 2, 6), ":", "")
    zh, zm = F.substring(digits, 1, 2).cast("int"), F.substring(digits, 3, 2).cast("int")
    offset = F.when((zone == "") | (zone == "Z"), 0).otherwise(
        F.when((zh <= 18) & (zm <= 59), (zh * 60 + zm) * 60 * F.when(zone.startswith("+"), 1).otherwise(-1))
    )
    stamp = F.try_make_timestamp(y, mo, d, hh, mi, ss.cast("decimal(8,6)"), F.lit("UTC"))
    ok = (y >= 1) & (ss < 60)
    from_iso = F.when(
        ok, F.unix_micros(stamp) + F.rpad(part(7), 6, "0").cast("bigint") - offset.cast("bigint") * 1_000_000
    )
    v = F.when(raw.rlike(epoch), from_epoch).when(raw.rlike(iso), from_iso)
    return F.when((v >= TS_MIN) & (v <= TS_MAX), v)


PARSERS = {"int": parse_int, "float": parse_float, "timestamp": parse_timestamp}


def parse_value(raw: C, col: Column) -> C:
    v = PARSERS[col.type](raw) if col.type in PARSERS else raw
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
        raws, values = [], []
        for i, col in enumerate(layout.columns):
            pos = per_file({f: lay.positions[i] + 1 for f, lay in layouts.items()})
            raw = strip(F.try_element_at("_fields", pos))
            raw = F.when(~raw.isin(list(spec.null_tokens)), raw)
            df = df.withColumn(f"_raw{i}", raw)
            raws.append(F.col(f"_raw{i}"))
            values.append(parse_value(F.col(f"_raw{i}"), col).alias(f"_v{i}"))
        df = df.select("*", *values)
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
        return df.select("file_idx", "line", "value", "text", reason.alias("reason"), *keep, *keys)

    return transform


def _any(conds) -> C:
    out = F.lit(False)
    for c in conds:
        out = out | c
    return out


def with_duplicates_rejected(n_keys: int):
    """Among rows not yet rejected, the first line of a key (file order, then line) wins."""

    def transform(df: DataFrame) -> DataFrame:
        if not n_keys:
            return df
        keys = [f"_key{j}" for j in range(n_keys)]
        first = Window.partitionBy(F.col("reason").isNull(), *keys).orderBy("file_idx", "line")
        dup = F.col("reason").isNull() & (F.row_number().over(first) > 1)
        return df.withColumn("reason", F.when(dup, F.lit(DUPLICATE)).otherwise(F.col("reason"))).drop(*keys)

    return transform
