"""Fit the statistics of stats.json in Spark: one aggregation for every count, mean, min, max
and exact quartile (or the same aggregates computed per part while the caches were built, merged:
first_aggregates, merged; then with the sums for the moments around a shift taken from a
sample), one for the moments around that mean unless the shifted sums gave them, one more for
all the vocabularies together.
"""

from __future__ import annotations

from pyspark.sql import Column as C
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sensorpipe.core.rows import REASONS
from sensorpipe.core.spec import Column
from sensorpipe.core.stats import column_stats

QUARTILES = [0.25, 0.5, 0.75]


def _aggregates(i: int, col: Column, kept: C) -> list:
    x = F.when(kept, F.col(col.name))
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


# A shift more than 100 standard deviations from the mean loses digits in the shifted sums:
# the moments are then summed again around the mean (_moments).
FAR = 100.0


def first_aggregates(columns: list[Column], where: C | None = None, shifts: dict | None = None) -> list[C]:
    """The first aggregation: rows_in, rows_clean, a count per reason, and per column its
    count (n<i>) and, if numeric, mean, min, max (and quartiles when asked), over the rows where
    `where` holds (every row when None); for a numeric column with a shift K (shifts, by
    name), the sums of x - K and (x - K)^2 (s<i>, ss<i>: _shifted)."""
    reason = F.col("reason")
    if where is None:
        aggs = [F.count(F.lit(1)).alias("rows_in"), F.count_if(reason.isNull()).alias("rows_clean")]
        aggs += [F.count_if(reason == r).alias(r) for r in REASONS]
        kept = reason.isNull()
    else:
        kept = where & reason.isNull()
        aggs = [F.count_if(where).alias("rows_in"), F.count_if(kept).alias("rows_clean")]
        aggs += [F.count_if(where & (reason == r)).alias(r) for r in REASONS]
    for i, col in enumerate(columns):
        aggs += _aggregates(i, col, kept)
        shift = (shifts or {}).get(col.name) if col.numeric else None
        if shift is not None:
            d = F.when(kept, F.col(col.name)) - F.lit(float(shift))
            aggs += [F.sum(d).alias(f"s{i}"), F.sum(d * d).alias(f"ss{i}")]
    return aggs


def mergeable(columns: list[Column]) -> bool:
    """Whether first aggregations over parts of the rows merge into the one over all of them
    (merged): not when an exact quartile is asked."""
    return not any(c.numeric and c.needs_quantiles for c in columns)


def merged(parts: list[dict], columns: list[Column]) -> dict:
    """The first aggregation over all rows from first_aggregates over disjoint parts of them:
    counts summed, min of mins, max of maxes, means weighted by their counts. The mean only
    centres the moments (_moments), which give the mean stats.json reports."""
    out = {k: sum(p[k] for p in parts) for k in ("rows_in", "rows_clean", *REASONS)}
    for i, col in enumerate(columns):
        n = out[f"n{i}"] = sum(p[f"n{i}"] for p in parts)
        if col.numeric:
            having = [p for p in parts if p[f"n{i}"]]
            out[f"mean{i}"] = sum(p[f"n{i}"] * p[f"mean{i}"] for p in having) / n if n else None
            out[f"min{i}"] = min((p[f"min{i}"] for p in having), default=None)
            out[f"max{i}"] = max((p[f"max{i}"] for p in having), default=None)
            for k in (f"s{i}", f"ss{i}"):
                if k in parts[0]:
                    out[k] = sum(p[k] for p in having) if having else None
    return out


def fit(
    flagged: DataFrame, columns: list[Column], first: dict | None = None, shifts: dict | None = None
) -> tuple[dict, dict]:
    """(counts: rows_in, rows_clean (the rows the stats are fitted on) and per reason, all
    counted in one aggregation, or given as `first` (first_aggregates' values, already
    counted, with `shifts` if it was given them); per-column stats entries keyed by output
    name)."""
    row = first if first is not None else flagged.agg(*first_aggregates(columns)).first().asDict()
    moments = _shifted(row, columns, shifts or {})
    moments.update(_moments(flagged, columns, row, skip=set(moments)))
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


def _shifted(first: dict, columns: list[Column], shifts: dict) -> dict[int, list]:
    """[n, mean, m2, min, max] from the first aggregation's sums around a shift K taken from
    the data before it (a sample's median): mean = K + s/n, m2 = ss - s^2/n, the corrected
    two-pass formulas with K for the first pass's mean. Only where K is within FAR standard
    deviations of the mean; other columns go to _moments."""
    out = {}
    for i, col in enumerate(columns):
        n, shift = first[f"n{i}"], shifts.get(col.name)
        if not col.numeric or shift is None or not n or first.get(f"s{i}") is None:
            continue
        s1, s2 = first[f"s{i}"], first[f"ss{i}"]
        m2 = max(s2 - s1 * s1 / n, 0.0)
        if (s1 / n) ** 2 > FAR * FAR * m2 / n:
            continue
        out[i] = [n, shift + s1 / n, m2, first[f"min{i}"], first[f"max{i}"]]
    return out


def _moments(
    flagged: DataFrame, columns: list[Column], first: dict, skip: set = frozenset()
) -> dict[int, list]:
    """[n, mean, m2, min, max] by the corrected two-pass algorithm around the first pass's mean
    (no pass when every numeric column is in `skip`).

    Spark's avg and stddev_pop sum raw doubles: on a near-constant column (C-MAPSS s6:
    21.6 +- 0.002) the mean is off by 1e-11 and a z-score by 1e-8 relative. Summing the
    deviations from the first mean makes the error scale with the spread, not the magnitude.
    """
    numeric = [(i, c) for i, c in enumerate(columns) if c.numeric and first[f"n{i}"] and i not in skip]
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
