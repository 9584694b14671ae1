"""Fit the statistics of stats.json in Spark: one aggregation for every count, moment and
exact quartile, one more for all the vocabularies together.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sensorpipe.core.rows import REASONS
from sensorpipe.core.spec import Column
from sensorpipe.core.stats import column_stats

QUARTILES = [0.25, 0.5, 0.75]


def _aggregates(i: int, col: Column) -> list:
    x = F.when(F.col("reason").isNull(), F.col(col.name))
    aggs = [F.count(x).alias(f"n{i}")]  # its nulls: rows_clean - n, no aggregate of their own
    if col.numeric:
        aggs += [
            F.avg(x).alias(f"mean{i}"),
            F.min(x).alias(f"min{i}"),
            F.max(x).alias(f"max{i}"),
        ]
        if col.needs_quantiles:  # exact, interpolated like numpy's linear method
            aggs.append(F.percentile(x.cast("double"), QUARTILES).alias(f"q{i}"))
    return aggs


def fit(flagged: DataFrame, columns: list[Column]) -> tuple[dict, dict]:
    """(counts: rows_in, rows_clean (the rows the stats are fitted on) and per reason, all
    counted in one aggregation; per-column stats entries keyed by output name)."""
    aggs = [F.count(F.lit(1)).alias("rows_in"), F.count_if(F.col("reason").isNull()).alias("rows_clean")]
    aggs += [F.count_if(F.col("reason") == r).alias(r) for r in REASONS]
    for i, col in enumerate(columns):
        aggs += _aggregates(i, col)
    row = flagged.agg(*aggs).first().asDict()
    moments = _moments(flagged, columns, row)
    vocabs = _vocabularies(flagged, columns)
    per_column = {}
    for i, col in enumerate(columns):
        quantiles = None
        if row.get(f"q{i}") is not None:
            quantiles = dict(zip(("q1", "median", "q3"), row[f"q{i}"]))
        per_column[col.out] = column_stats(
            col, row[f"n{i}"], row["rows_clean"] - row[f"n{i}"], moments.get(i), quantiles, vocabs.get(i)
        )
    counts = {name: row[name] for name in ("rows_in", "rows_clean", *REASONS)}
    return counts, per_column


def _moments(flagged: DataFrame, columns: list[Column], first: dict) -> dict[int, list]:
    """[n, mean, m2, min, max] by the corrected two-pass algorithm around the first pass's mean.

    Spark's avg and stddev_pop sum raw doubles: on a near-constant column (C-MAPSS s6:
    21.6 +- 0.002) the mean is off by 1e-11 and a z-score by 1e-8 relative. Summing the
    deviations from the first mean makes the error scale with the spread, not the magnitude.
    """
    numeric = [(i, c) for i, c in enumerate(columns) if c.numeric and first[f"n{i}"]]
    if not numeric:
        return {}
    aggs = []
    for i, col in numeric:
        d = F.when(F.col("reason").isNull(), F.col(col.name)) - F.lit(float(first[f"mean{i}"]))
        aggs += [F.sum(d).alias(f"s{i}"), F.sum(d * d).alias(f"ss{i}")]
    row = flagged.agg(*aggs).first()
    out = {}
    for i, _ in numeric:
        n, s1, s2 = first[f"n{i}"], row[f"s{i}"], row[f"ss{i}"]
        m2 = max(s2 - s1 * s1 / n, 0.0)
        out[i] = [n, first[f"mean{i}"] + s1 / n, m2, first[f"min{i}"], first[f"max{i}"]]
    return out


def _vocabularies(flagged: DataFrame, columns: list[Column]) -> dict[int, dict]:
    wanted = [(i, c) for i, c in enumerate(columns) if c.needs_vocab]
    if not wanted:
        return {}
    pairs = F.explode(
        F.array(*[F.struct(F.lit(i).alias("i"), F.col(c.name).cast("string").alias("v")) for i, c in wanted])
    )
    rows = (
        flagged.where(F.col("reason").isNull())
        .select(pairs.alias("p"))
        .where(F.col("p.v").isNotNull())
        .groupBy("p.i", "p.v")
        .count()
        .collect()
    )
    kinds = {i: c.type for i, c in wanted}
    out: dict[int, dict] = {i: {} for i, _ in wanted}
    for r in rows:
        value = (
            int(r["v"]) if kinds[r["i"]] == "int" else float(r["v"]) if kinds[r["i"]] == "float" else r["v"]
        )
        out[r["i"]][value] = r["count"]
    return out
