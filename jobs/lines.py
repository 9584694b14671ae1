"""Read raw lines with their provenance: file index, split and position, read once.

Spark's text source gives each row its split (`_metadata.file_block_start`); rows within a
split come in order and get consecutive ids (monotonically_increasing_id counts a task's
rows). A line's number is its split's first line plus its offset in the split. Nothing
counts lines before the parse: the parsed frame keeps every physical line (blank ones
marked), `Lines.count` counts each split's lines on that cache (the aggregation that builds
the cache), and a prefix sum over each file's splits gives the line numbers where they are
needed (the header, a file's first line, rejects/).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from urllib.parse import unquote

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from sensorpipe.core.inputs import as_pattern, path_parts

RAW_SCHEMA = "file_idx int, block_start long, row_id long, value string"
# Up to this many input files each is read as a frame of its own with its index as a literal;
# beyond it one scan reads them all and a pass collects Spark's name of each file to join on
# (a union of thousands of scans is slow to plan).
MAX_UNION = 32


def read_lines(spark: SparkSession, paths: list[str]) -> DataFrame:
    """(file_idx, block_start, row_id, value) for every physical line; value keeps any trailing CR."""
    if not paths:
        return spark.createDataFrame([], RAW_SCHEMA)
    if len(paths) <= MAX_UNION:
        frames = [
            _text(spark, [p]).select(F.lit(i).alias("file_idx"), "block_start", "value")
            for i, p in enumerate(paths)
        ]
        raw = functools.reduce(DataFrame.unionByName, frames)
    else:
        raw = _text(spark, paths).select("file_path", "block_start", "value")
        index = {path_parts(p): i for i, p in enumerate(paths)}
        names = [r.file_path for r in raw.select("file_path").distinct().collect()]  # a pass over the input
        table = spark.range(1).select(
            F.inline(
                F.array(
                    *[
                        F.struct(F.lit(n).alias("file_path"), F.lit(index[_listed(n)]).alias("file_idx"))
                        for n in names
                    ]
                )
            )
        )
        raw = raw.join(F.broadcast(table), "file_path").select("file_idx", "block_start", "value")
    return raw.select("file_idx", "block_start", F.monotonically_increasing_id().alias("row_id"), "value")


def _listed(file_path: str) -> tuple[str, str, str]:
    """A `_metadata.file_path` (a URI, escaped: `file:/d/a%20b.csv`) as the parts of the name
    the input's listing gave (Hadoop's Path, unescaped: `file:/d/a b.csv`)."""
    scheme, authority, path = path_parts(file_path)
    return scheme, authority, unquote(path)


def _text(spark: SparkSession, paths: list[str]) -> DataFrame:
    return (
        spark.read.option("lineSep", "\n")
        .text([as_pattern(p) for p in paths])  # names, not globs: `g[1].csv` is that file
        .select(
            "value",
            F.col("_metadata.file_path").alias("file_path"),
            F.col("_metadata.file_block_start").alias("block_start"),
        )
    )


@dataclass(frozen=True)
class Lines:
    """Per split (file_idx, block_start): the line number of its first row and that row's id."""

    splits: dict[tuple[int, int], tuple[int, int, int]]  # -> (first line, first row id, lines)

    @classmethod
    def count(cls, parsed: DataFrame, *aggs: Column) -> tuple[Lines, list[dict]]:
        """Each split's lines counted over `parsed` (every physical line, blank ones too), and
        `aggs` per split, in the same aggregation: (the Lines, each split's row of aggs)."""
        rows = (
            parsed.groupBy("file_idx", "block_start")
            .agg(F.count(F.lit(1)).alias("_n"), F.min("row_id").alias("_first_id"), *aggs)
            .collect()
        )
        lines = cls.from_counts([(r.file_idx, r.block_start, r._n, r._first_id) for r in rows])
        return lines, [r.asDict() for r in rows]

    @classmethod
    def from_counts(cls, counts: list[tuple[int, int, int, int]]) -> Lines:
        """From (file_idx, block_start, lines, first row id) per split: a prefix sum per file."""
        splits, line, last_file = {}, 1, None
        for idx, start, n, first_id in sorted(counts):
            line = 1 if idx != last_file else line
            splits[(idx, start)] = (line, first_id, n)
            line, last_file = line + n, idx
        return cls(splits)

    @functools.cached_property
    def _by_file(self) -> dict[int, list[tuple[int, int, int, int]]]:
        by_file: dict[int, list] = {}
        for (idx, start), (first, first_id, n) in self.splits.items():
            by_file.setdefault(idx, []).append((start, first, first_id, n))
        return by_file

    def row_at(self, file_idx: int, line: int) -> tuple[int, int] | None:
        """(block_start, row id) of a file's physical line, None if the file has no such line
        (a look at that file's splits only: is_line asks once per input file)."""
        for start, first, first_id, n in self._by_file.get(file_idx, []):
            if first <= line < first + n:
                return start, first_id + line - first
        return None

    def is_line(self, lines: dict[int, int]) -> Column:
        """Whether a row is line lines[file_idx] of its file (false for every file not listed)."""
        cond = F.lit(False)
        for idx, line in lines.items():
            at = self.row_at(idx, line)
            if at is not None:
                cond = cond | (
                    (F.col("file_idx") == idx) & (F.col("block_start") == at[0]) & (F.col("row_id") == at[1])
                )
        return cond

    def numbered(self, df: DataFrame) -> DataFrame:
        """df with `line` (from file_idx, block_start, row_id): a join with the small split table."""
        fields = (("file_idx", T.IntegerType()), ("block_start", T.LongType()), ("_line0", T.LongType()))
        if not self.splits:
            return df.withColumn("line", F.lit(None).cast("long"))
        table = df.sparkSession.range(1).select(
            F.inline(
                F.array(
                    *[
                        F.struct(
                            *[
                                F.lit(v).cast(t).alias(n)
                                for v, (n, t) in zip((idx, start, first - first_id), fields)
                            ]
                        )
                        for (idx, start), (first, first_id, _) in self.splits.items()
                    ]
                )
            )
        )
        joined = df.join(F.broadcast(table), ["file_idx", "block_start"], "left")
        return joined.withColumn("line", F.col("_line0") + F.col("row_id")).drop("_line0")
