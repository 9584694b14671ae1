"""Read raw lines with their provenance: file index and exact physical line number.

Spark's text source gives each row its file and split (`_metadata`); rows within a split
come in order. One aggregation counts the lines of every split; a prefix sum over each
file's splits (a small table, broadcast) turns a row's position in its split into its line.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from sensorpipe.spark.hfs import display

RAW_SCHEMA = "file_idx int, line long, value string"


def read_lines(spark: SparkSession, paths: list[str]) -> DataFrame:
    """(file_idx, line, value) for every physical line; value keeps any trailing CR."""
    if not paths:
        return spark.createDataFrame([], RAW_SCHEMA)
    raw = (
        spark.read.option("lineSep", "\n")
        .text(paths)
        .select(
            "value",
            F.col("_metadata.file_path").alias("file_path"),
            F.col("_metadata.file_block_start").alias("block_start"),
            F.monotonically_increasing_id().alias("row_id"),
        )
    )
    blocks = raw.groupBy("file_path", "block_start").agg(
        F.count(F.lit(1)).alias("n"), F.min("row_id").alias("first_id")
    )
    table = _prefix_table(blocks.collect(), paths)
    lookup = spark.range(1).select(F.inline(_lookup_rows(table)))
    return raw.join(F.broadcast(lookup), ["file_path", "block_start"]).select(
        "file_idx", (F.col("first_line") + F.col("row_id") - F.col("first_id")).alias("line"), "value"
    )


_LOOKUP = (
    ("file_path", T.StringType()),
    ("block_start", T.LongType()),
    ("file_idx", T.IntegerType()),
    ("first_line", T.LongType()),
    ("first_id", T.LongType()),
)


def _lookup_rows(table: list[tuple]) -> Column:
    """The lookup as an array of struct literals, rows made in the JVM (createDataFrame from
    Python rows would start Python workers for a handful of rows)."""
    if not table:  # no lines, no splits
        return F.array().cast(T.ArrayType(T.StructType([T.StructField(n, t) for n, t in _LOOKUP])))
    return F.array(
        *[F.struct(*[F.lit(v).cast(t).alias(n) for v, (n, t) in zip(row, _LOOKUP)]) for row in table]
    )


def _prefix_table(blocks, paths: list[str]) -> list[tuple]:
    """Per split: its file's index, the line number of its first row, its first row id."""
    index = {display(p): i for i, p in enumerate(paths)}
    by_file: dict[str, list] = {}
    for b in blocks:
        by_file.setdefault(b.file_path, []).append((b.block_start, b.n, b.first_id))
    table = []
    for uri, splits in by_file.items():
        idx = index[display(uri)]
        line = 1
        for start, n, first_id in sorted(splits):
            table.append((uri, start, idx, line, first_id))
            line += n
    return table
