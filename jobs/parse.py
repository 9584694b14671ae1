"""The spec's row semantics as Spark column expressions: split, parse, validate, reject.

Mirrors sensorpipe/core/rows.py with built-in expressions only (no Python UDF): the value
grammars are sensorpipe.spark.columns, the reject cascade sensorpipe.spark.rejects, both
shared with the stream (streaming/source.py).
"""

from __future__ import annotations

import re

from pyspark.sql import Column as C
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sensorpipe.core.rows import BOM, DUPLICATE, Layout, java_field_regex, line_regex
from sensorpipe.core.spec import Spec
from sensorpipe.spark.columns import (
    checked,
    fast_field_regex,
    fast_value,
    from_epoch,
    iso_parts,
    parse_float,
    parse_int,
    parse_timestamp,
    strip,
)
from sensorpipe.spark.rejects import invalid_value, missing_required, reject_reason


def marked(df: DataFrame) -> DataFrame:
    """Every physical line with `text` (value without a trailing CR) and `_blank`."""
    value = F.col("value")  # the regex only on the few lines that end in CR
    text = F.when(value.endswith("\r"), F.regexp_replace(value, r"\r\z", "")).otherwise(value)
    return df.withColumn("text", text).withColumn("_blank", ~non_blank(F.col("text")))


def first_lines_unmarked(df: DataFrame, first_line: C) -> DataFrame:
    """Lines whose number is now known: a file's BOM cut from its first line (first_line
    true), and lines blank without it dropped."""
    text = F.when(first_line, F.regexp_replace(F.col("text"), f"^{BOM}", "")).otherwise(F.col("text"))
    return df.withColumn("text", text).where(non_blank(F.col("text")))


def non_blank(text: C) -> C:
    """strip(text) != "", with the strip only on a line that starts with a byte below '!' (or is
    empty): every WHITESPACE character is one. `text >= "!"` compares bytes, copies nothing;
    btrim on every line was a tenth of the parse stage's CPU (a profile at 2M rows)."""
    return F.when(text >= F.lit("!"), F.lit(True)).otherwise(strip(text) != "")


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
    return F.when(~text.contains('"'), F.split(text, _plain(d), -1)).when(
        text.rlike(line_regex(d, r"\z")), unquote
    )


def per_file(values: dict[int, int]) -> C:
    """A literal when every file agrees, else a CASE on file_idx."""
    distinct = set(values.values())
    if len(distinct) == 1:
        return F.lit(distinct.pop())
    expr = None
    for idx, v in values.items():
        expr = (F.when if expr is None else expr.when)(F.col("file_idx") == idx, v)
    return expr


def fast_line_regex(layouts: dict[int, Layout]) -> str | None:
    """One regex for a line whose every field has its common shape (sensorpipe.spark.columns'
    fast_field_regex), or None when there is no such path (whitespace-delimited input, or
    files whose layouts differ)."""
    layout = next(iter(layouts.values()))
    d = layout.spec.delimiter
    shapes = {(tuple(lay.positions), lay.n_fields) for lay in layouts.values()}
    if d == "whitespace" or len(shapes) != 1:
        return None
    by_position = dict(zip(layout.positions, layout.columns))
    fields = [fast_field_regex(by_position.get(j), d) for j in range(layout.n_fields)]
    return "^" + f"\\u{ord(d):04x}".join(f"(?:{f})" for f in fields) + r"\z"


def null_token_shaped(col, spec: Spec) -> bool:
    """Whether a null token has the column's common shape (then the fast path checks for it)."""
    shape = re.compile(fast_field_regex(col, spec.delimiter))
    return any(shape.fullmatch(t) for t in spec.null_tokens)


def with_parsed_columns(layouts: dict[int, Layout], header_texts: dict[int, str], keep_text: bool = False):
    """(first, second): `first` over read_lines' frame gives the frame to cache: every physical
    line (file_idx, block_start, row_id; `_fast` null on blank lines), with `reason` and one
    typed column per parsed column on the lines the fast path took (`_fast` true). `second`
    (the cache, jobs/lines.Lines over it, the header line number per file) gives (fast, slow):
    the fast path's rows, None when there is no fast path, and the other lines but each file's
    header parsed in full, `slow` (the caller caches it, small, and unions the two). Together
    they read the input once.

    A line that fast_line_regex matches (most of them) takes the fast path (fast_parsed: split
    on the delimiter, cast, no stripping and no per-field grammar regex), unless it starts
    with a BOM or equals its file's header line (header_texts; only a line's number, known
    after the cache is built, tells whether it is that header or a repeat of it); the others
    take the full path (full_parsed) from the cached frame, which keeps their raw line: a few
    rows per thousand, parsed once into `slow`; each later pass then reads the big cache once.
    Two branches of one union, not one expression with both paths: each branch's generated code
    stays small enough for whole-stage code generation. Both give the same values and reasons
    (tests/test_spark.py).
    `text`, the line as rejects/ shows it, is kept only on rejected rows unless keep_text (a
    spec with a key: a row that passes may turn out a duplicate).
    """
    fast_regex = fast_line_regex(layouts)

    def text_kept(df: DataFrame) -> DataFrame:
        return df if keep_text else df.withColumn("text", F.when(F.col("reason").isNotNull(), F.col("text")))

    def first(df: DataFrame) -> DataFrame:
        df = df.transform(marked)
        fast = F.lit(False)
        if fast_regex is not None:
            header = F.lit(False)
            for idx, h in header_texts.items():
                header = header | ((F.col("file_idx") == idx) & (F.col("text") == h))
            fast = F.col("text").rlike(fast_regex) & ~F.col("text").startswith(BOM) & ~header
        df = df.withColumn("_fast", F.when(~F.col("_blank"), fast)).drop("_blank")
        slow = [F.when(~F.col("_fast"), F.col(c)).alias(f"_slow_{c}") for c in ("text", "value")]
        if fast_regex is None:
            return df.select("file_idx", "block_start", "row_id", "_fast", *slow)
        parsed = fast_parsed(df.select("*", *slow), layouts, F.col("_fast")).transform(text_kept)
        return parsed.withColumn("reason", F.when(F.col("_fast"), F.col("reason")))

    def second(df: DataFrame, lines, headers: dict[int, int]):
        slow = df.where(~F.col("_fast") & ~lines.is_line(headers)).select(
            "file_idx",
            "block_start",
            "row_id",
            F.col("_slow_text").alias("text"),
            F.col("_slow_value").alias("value"),
        )
        slow = first_lines_unmarked(slow, lines.is_line(dict.fromkeys(layouts, 1)))
        fast = df.where(F.col("_fast")).drop("_fast", "_slow_text", "_slow_value") if fast_regex else None
        return fast, full_parsed(slow, layouts)

    return first, second


def fast_parsed(df: DataFrame, layouts: dict[int, Layout], fast: C) -> DataFrame:
    """with_parsed_columns for lines that fast_line_regex matches (every layout alike); on the
    others (`fast` false) every field is null, and the row is to be parsed again in full."""
    layout = next(iter(layouts.values()))
    spec = layout.spec
    df = df.withColumn("_fields", F.when(fast, F.split(F.col("text"), _plain(spec.delimiter), -1)))
    nulls = list(spec.null_tokens)
    raws = []
    for i, (c, pos) in enumerate(zip(layout.columns, layout.positions)):
        field = F.col("_fields")[pos]
        raw = F.when(~field.isin(nulls), field) if null_token_shaped(c, spec) else field
        raws.append(raw.alias(f"_raw{i}"))
    extra = [c for c in df.columns if c.startswith(("_fast", "_slow_"))]
    df = df.select("file_idx", "block_start", "row_id", "text", *extra, *raws)
    raws = [F.col(f"_raw{i}") for i in range(len(layout.columns))]
    values = [checked(_fast_value(r, c), c) if c.type in TYPED else r for r, c in zip(raws, layout.columns)]
    return _finish(df, layout, raws, values, F.lit(False), extra)


def _fast_value(raw: C, col) -> C:
    """fast_value, but a fixed-shape ISO timestamp (2026-01-01T00:00:00Z, sensorpipe.spark.
    columns.FAST_ISO) by Spark's cast of its 'yyyy-MM-dd HH:mm:ss' text in the session's zone
    (UTC): the same values and nulls as from_fixed_iso's try_to_timestamp (Feb 30, 24:00 and
    :60 invalid; year 0 refused before), at about half its CPU (measured on 2M rows)."""
    if col.type != "timestamp":
        return fast_value(raw, col)
    text = F.concat(F.substring(raw, 1, 10), F.lit(" "), F.substring(raw, 12, 8))
    iso = F.when(F.substring(raw, 1, 4) != "0000", F.unix_micros(text.try_cast("timestamp")))
    return F.when(F.substring(raw, 5, 1) == "-", iso).otherwise(from_epoch(raw))


def full_parsed(df: DataFrame, layouts: dict[int, Layout]) -> DataFrame:
    """with_parsed_columns for any line: strip, null tokens, the grammars' regexes, casts."""
    layout = next(iter(layouts.values()))
    spec = layout.spec
    df = df.withColumn("_fields", split_fields(F.col("text"), spec))
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
            (checked(F.col(f"_p{i}"), c) if c.type in TYPED else raws[i]).alias(f"_v{i}")
            for i, c in enumerate(cols)
        ],
    )
    n_fields = per_file({f: lay.n_fields for f, lay in layouts.items()})
    malformed = ~F.is_valid_utf8("value") | F.col("_fields").isNull() | (F.size("_fields") != n_fields)
    return _finish(df, layout, raws, [F.col(f"_v{i}") for i in range(len(cols))], malformed)


TYPED = ("int", "float", "timestamp")


def _finish(
    df: DataFrame, layout: Layout, raws: list, values: list, malformed: C, extra: tuple = ()
) -> DataFrame:
    """file_idx, block_start, row_id, text, reason, the kept columns' values, the key columns
    (_key0...), then the `extra` columns of df as they are."""
    spec, cols = layout.spec, layout.columns
    missing = missing_required(zip(cols, raws))
    invalid = invalid_value(zip(cols, raws, values))
    reason = reject_reason(malformed, missing, invalid)
    keep = [v.alias(c.name) for v, c, k in zip(values, cols, layout.kept) if k]
    keys = [values[cols.index(spec.column(k))].alias(f"_key{j}") for j, k in enumerate(spec.key)]
    return df.select(
        "file_idx", "block_start", "row_id", "text", reason.alias("reason"), *keep, *keys, *extra
    )


def _plain(d: str) -> str:
    """The delimiter as Java's String.split takes it without a regex (its fast path)."""
    return d if d.isalnum() or d in ",;: \t" else "\\" + d


def position() -> C:
    """A row's place in the input: in a file, splits in order and rows in order in a split."""
    return F.struct("file_idx", "block_start", "row_id")


def duplicated_keys(df: DataFrame, n_keys: int) -> DataFrame:
    """Keys that more than one kept row carries, with the position() of their first row.

    An aggregation, not a window over whole rows: only the keys are shuffled, and the result
    (usually small) is joined back.
    """
    keys = [f"_key{j}" for j in range(n_keys)]
    return (
        df.where(F.col("reason").isNull())
        .groupBy(*keys)
        .agg(F.min(position()).alias("_first"), F.count(F.lit(1)).alias("_n"))
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
        later = F.col("_first").isNotNull() & (position() != F.col("_first"))
        dup = F.col("reason").isNull() & later
        reason = F.when(dup, F.lit(DUPLICATE)).otherwise(F.col("reason"))
        return joined.withColumn("reason", reason).drop(*keys, *[f"{k}_dup" for k in keys], "_first")

    return transform


def _all(conds) -> C:
    out = F.lit(True)
    for c in conds:
        out = out & c
    return out
