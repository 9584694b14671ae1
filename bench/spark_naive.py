"""The PySpark job a user would write for bench/zscore.toml: the contender `naive` of bench/clean.py.

  spark-submit [the confs of `sensorpipe clean --engine spark`] bench/spark_naive.py \\
      --spec bench/zscore.toml --input raw.csv --output OUT

spark.read.csv with a schema from the spec, cache(), one aggregation for the means and
standard deviations (and the row count), one for each mode, coalesce + z-score, Parquet.
None of sensorpipe's guarantees (no line numbers, no strict grammars, no rejects): a
reference for what Spark itself costs on the same input. Prints {"seconds", "clean_rows"}
as JSON on the last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tomllib

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

TYPES = {
    "string": "string",
    "category": "string",
    "timestamp": "timestamp",
    "float": "double",
    "int": "bigint",
}


def naive_clean(spark: SparkSession, spec: dict, src: str, out: str) -> int:
    cols = spec["columns"]
    schema = ", ".join(f"{c['name']} {TYPES[c['type']]}" for c in cols)
    df = spark.read.csv(src, header=True, schema=schema).cache()
    numeric = [c["name"] for c in cols if c.get("impute") == "mean" or c.get("scale") == "zscore"]
    aggs = [F.count(F.lit(1)).alias("_rows")]
    aggs += [F.avg(n).alias(f"mean_{n}") for n in numeric] + [
        F.stddev_pop(n).alias(f"std_{n}") for n in numeric
    ]
    stats = df.agg(*aggs).first()
    modes = {}
    for c in cols:
        if c.get("impute") == "mode":
            top = (
                df.where(F.col(c["name"]).isNotNull())
                .groupBy(c["name"])
                .count()
                .orderBy(F.desc("count"))
                .first()
            )
            modes[c["name"]] = top[0] if top else None
    out_cols = []
    for c in cols:
        x = F.col(c["name"])
        name = c["name"]
        if name in modes:
            x = F.coalesce(x, F.lit(modes[name]))
        if c.get("impute") == "mean":
            x = F.coalesce(x, F.lit(stats[f"mean_{name}"]))
        if c.get("scale") == "zscore":
            x = (x - F.lit(stats[f"mean_{name}"])) / F.lit(stats[f"std_{name}"] or 1.0)
        out_cols.append(x.alias(name))
    df.select(*out_cols).write.mode("overwrite").parquet(out)
    df.unpersist()
    return stats["_rows"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="A naive PySpark clean of bench/zscore.toml's spec.")
    ap.add_argument("--spec", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--output", required=True)
    args = ap.parse_args(argv)
    with open(args.spec, "rb") as f:
        spec = tomllib.load(f)
    spark = SparkSession.builder.appName("naive-pyspark-clean").getOrCreate()
    started = time.time()
    try:
        rows = naive_clean(spark, spec, args.input, args.output)
    finally:
        seconds = time.time() - started
        spark.stop()
    print(json.dumps({"seconds": round(seconds, 3), "clean_rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
