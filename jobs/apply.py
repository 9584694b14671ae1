"""Apply the fitted parameters (sensorpipe.core.transform.fit_params) as Spark expressions:
impute -> clip -> scale -> encode, and format timestamps the way every engine writes them.
"""

from __future__ import annotations

from pyspark.sql import Column as C
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sensorpipe.core.transform import Params


def impute_clip_scale(x: C, p: Params) -> C:
    if p.fill is not None:
        x = F.coalesce(x, F.lit(p.fill))
    if p.bounds is not None:
        lo, hi = p.bounds
        clipped = F.when(x < lo, F.lit(lo)).when(x > hi, F.lit(hi))
        if p.as_int:  # an int column stays int: bounds round half to even, like Python's round()
            clipped = F.bround(clipped, 0).cast("bigint")
        x = F.coalesce(clipped, x) if p.as_int else F.coalesce(clipped, x.cast("double"))
    if p.divisor is not None:
        x = F.when(x.isNotNull(), F.lit(0.0) if p.divisor == 0 else (x - F.lit(p.center)) / F.lit(p.divisor))
    elif p.column.type == "float":
        x = x.cast("double")
    return x


def iso_timestamp(micros: C) -> C:
    """2026-11-24T18:00:00Z, fractional seconds only where present (trailing zeros cut)."""
    ts = F.timestamp_micros(micros)
    frac = F.pmod(micros, F.lit(1_000_000))
    tail = F.when(frac == 0, F.lit("")).otherwise(
        F.concat(F.lit("."), F.regexp_replace(F.lpad(frac.cast("string"), 6, "0"), "0+$", ""))
    )
    return F.when(micros.isNotNull(), F.concat(F.date_format(ts, "yyyy-MM-dd'T'HH:mm:ss"), tail, F.lit("Z")))


def encoded(x: C, p: Params, as_text: bool) -> list[C]:
    col = p.column
    if col.encode == "onehot":
        return [F.when(x == F.lit(v), 1).otherwise(0).alias(f"{col.out}__{v}") for v in p.vocab]
    if col.encode == "index":
        mapping = (
            F.create_map(*[F.lit(t) for i, v in enumerate(p.vocab) for t in (v, i)]) if p.vocab else None
        )
        idx = F.coalesce(mapping[x], F.lit(-1)) if mapping is not None else F.lit(-1)
        return [F.when(x.isNotNull(), idx).alias(col.out)]
    if col.type == "timestamp":
        return [(iso_timestamp(x) if as_text else F.timestamp_micros(x)).alias(col.out)]
    return [x.alias(col.out)]


def select_clean(params: list[Params], as_text: bool = False):
    """Clean rows with columns in output_columns order (Parquet types, or text for CSV)."""

    def transform(df: DataFrame) -> DataFrame:
        cols = []
        for p in params:
            cols += encoded(impute_clip_scale(F.col(p.column.name), p), p, as_text)
        out = df.where(F.col("reason").isNull()).select(*cols)
        if as_text:
            out = out.select(*[F.col(f"`{c}`").cast("string").alias(c) for c in out.columns])
        return out

    return transform


def clipped_counts(df: DataFrame, params: list[Params]) -> dict[str, int]:
    """How many values clipping changed, per column (imputed values included); no pass over
    the rows when no column clips."""
    if all(p.bounds is None for p in params):
        return {p.column.out: 0 for p in params}
    aggs = []
    for i, p in enumerate(params):
        if p.bounds is None:
            aggs.append(F.lit(0).alias(f"c{i}"))
            continue
        x = F.col(p.column.name)
        if p.fill is not None:
            x = F.coalesce(x, F.lit(p.fill))
        aggs.append(
            F.count_if(F.col("reason").isNull() & ((x < p.bounds[0]) | (x > p.bounds[1]))).alias(f"c{i}")
        )
    if not aggs:
        return {}
    row = df.agg(*aggs).first()
    return {p.column.out: int(row[f"c{i}"]) for i, p in enumerate(params)}
