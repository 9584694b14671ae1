"""Per-device rolling-window features and run-to-failure labels on Spark.

    spark-submit --properties-file conf/spark-defaults.conf jobs/features.py \\
        --spec conf/cmapss.toml --input ../shared/data/cmapss/train_FD001.txt --output OUT [--no-labels]

The definitions are sensorpipe/features.py's (its docstring is the contract), written as
window expressions; tests/test_spark_features.py holds the two engines together. A spec's
[features.health] indicators are the pandas functions run per device (jobs/health.py; their
k is fitted first: `fitted`, here on the raw readings themselves). OUT is a
Parquet data set: the readings, their feature columns, and `rul` and `label` when the spec
has a [label] section (leave them out with --no-labels for series cut before failure).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from pyspark.sql import Column, DataFrame, SparkSession, Window, WindowSpec
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.health import load_coefficient, with_health
from jobs.parse import split_fields
from sensorpipe.core.log import configure as configure_logging
from sensorpipe.core.output import OutputError
from sensorpipe.core.spec import Column as SpecColumn
from sensorpipe.core.spec import Spec, SpecError, load_spec
from sensorpipe.model.features import WARMING, FeatureConfig, feature_config
from sensorpipe.model.health import NAMES as HEALTH
from sensorpipe.model.health import scales
from sensorpipe.model.labels import rul_max
from sensorpipe.spark.columns import iso_parts, parse_timestamp, strip
from sensorpipe.spark.hfs import HadoopFS
from sensorpipe.spark.stoppable import die_with_parent, quiet_when_jvm_ends

READING = "_reading"  # 1-based position of a reading within its device (row_number)


def typed(raw: Column, column: SpecColumn, spec: Spec) -> Column:
    """One whitespace-split field as the spec's type; a null token becomes null."""
    raw = F.when(~raw.isin(list(spec.null_tokens)), raw)
    if column.type == "int":
        return raw.cast("bigint")
    if column.type == "float":
        return raw.cast("double")
    if column.type == "timestamp":
        return F.timestamp_micros(parse_timestamp(raw, iso_parts(raw)))
    return raw


def read_readings(spark: SparkSession, spec: Spec, path: str) -> DataFrame:
    """A headerless raw file (C-MAPSS) in the spec's layout, columns named by their outputs.

    Fields are split on runs of blanks (or the spec's delimiter); like pandas, a short line
    leaves its last columns null and blank lines are skipped.
    """
    if spec.header:
        raise SpecError(spec.path, "dataset.header", "jobs/features.py reads headerless raw files only")
    text = F.regexp_replace("value", r"\r\z", "")
    fields = (
        spark.read.text(path)
        .select(text.alias("text"))
        .where(strip(F.col("text")) != "")
        .select(split_fields(F.col("text"), spec).alias("fields"))
    )
    kept = [(i, c) for i, c in enumerate(spec.columns) if c.name not in spec.drop]
    return fields.select(
        *[typed(strip(F.try_element_at("fields", F.lit(i + 1))), c, spec).alias(c.out) for i, c in kept]
    )


def window_stats(x: Column, reading: Column, frame: WindowSpec, n: int, name: str) -> dict[str, Column]:
    """The six statistics of x over a trailing window frame of n readings, by feature name.

    Spark's moments are updated one value at a time from the window's mean, so a constant
    window gives std and slope of exactly 0.0, as pandas' two-pass moments do. The slope
    regresses x on the reading number; one reading has no slope (null), which is 0.0.
    """
    return {
        f"{name}_mean_{n}": F.avg(x).over(frame),
        f"{name}_std_{n}": F.stddev_pop(x).over(frame),
        f"{name}_min_{n}": F.min(x).over(frame),
        f"{name}_max_{n}": F.max(x).over(frame),
        f"{name}_slope_{n}": F.coalesce(F.regr_slope(x, reading).over(frame), F.lit(0.0)),
        f"{name}_delta_{n}": x - F.first(x).over(frame),
    }


ORIGIN = "_origin"  # order of the device's last maintenance at or before the reading
MARK = "_mark"  # 1 on a log row (a maintenance or failure) merged among the readings


def since(order: Column, data_type: T.DataType, device: str, origin: Column | None = None) -> Column:
    """Order minus the origin (the device's last maintenance, else its first order), as a
    double; seconds for a timestamp order."""
    first = F.min(order).over(Window.partitionBy(device))
    if origin is not None:
        first = F.greatest(first, origin)  # greatest skips nulls: no maintenance yet
    if isinstance(data_type, T.TimestampType):
        return (F.unix_micros(order) - F.unix_micros(first)) / 1e6
    return (order - first).cast("double")


def with_log_time(config: FeatureConfig, log: DataFrame, name: str, direction: str):
    """Add `name`: the order of the device's log event at or before ("backward") or at or
    after ("forward") each reading, null where none. The log is merged among the readings
    and a running max (min) taken in (reverse) time order, an event sorted before a reading
    at the same order so that it counts: a running frame is linear, a frame to the
    partition's end would be quadratic."""
    backward = direction == "backward"

    def transform(df: DataFrame) -> DataFrame:
        kind = df.schema[config.order].dataType
        marks = log.select(config.device, F.col(config.order).cast(kind), F.lit(1).alias(MARK))
        rows = df.withColumn(MARK, F.lit(0)).unionByName(marks, allowMissingColumns=True)
        order = F.col(config.order).asc() if backward else F.col(config.order).desc()
        running = (
            Window.partitionBy(config.device)
            .orderBy(order, F.col(MARK).desc())
            .rowsBetween(Window.unboundedPreceding, Window.currentRow)
        )
        at = F.when(F.col(MARK) == 1, F.col(config.order))
        value = (F.max(at) if backward else F.min(at)).over(running)
        return rows.withColumn(name, value).where(F.col(MARK) == 0).drop(MARK)

    return transform


def non_null(x: str) -> Column:
    """The sensor, failing the query on a null or NaN (the features need cleaned data)."""
    bad = F.col(x).isNull() | F.isnan(F.col(x))
    message = F.lit(f"sensor values must be non-null (clean the data first): {x}")
    return F.when(bad, F.raise_error(message)).otherwise(F.col(x)).alias(x)


def with_features(config: FeatureConfig, maintenance: DataFrame | None = None):
    """Add the columns of `config.names` that are not readings, in that order, and `warming`
    (the reading number is below config.warmup).

    Rows are ordered by (device, order) within a device; the order must not repeat within
    a device (cleaned data rejects duplicate keys), else ties have no defined order.
    `maintenance` (device, order) moves `since`'s origin to the last maintenance.
    """
    health = with_health(config) if config.health is not None else None  # k fitted, or a ValueError

    def transform(df: DataFrame) -> DataFrame:
        origin = None
        if maintenance is not None:
            df = df.transform(with_log_time(config, maintenance, ORIGIN, "backward"))
            origin = F.col(ORIGIN)
        missing = [c for c in (config.device, config.order, *_sensors(config)) if c not in df.columns]
        if missing:
            raise ValueError(f"columns missing for features: {missing}")
        by_device = Window.partitionBy(config.device).orderBy(config.order)
        checked = df.select(*[non_null(c) if c in _sensors(config) else F.col(c) for c in df.columns])
        numbered = checked.withColumn(READING, F.row_number().over(by_device))
        new = {"since": since(F.col(config.order), df.schema[config.order].dataType, config.device, origin)}
        if health is not None:  # per device in Python workers, joined back (jobs/health.py) on
            # the narrow readings: the rolling windows' columns are not shuffled for the join
            numbered = numbered.withColumn("since", new["since"]).transform(health)
            new = {name: F.col(name) for name in ("since", *HEALTH)}
        for n in config.windows:
            frame = by_device.rowsBetween(-(n - 1), Window.currentRow)
            for x in config.sensors:
                new.update(window_stats(F.col(x).cast("double"), F.col(READING), frame, n, x))
        new[WARMING] = F.col(READING) < config.warmup
        columns = [new[name].alias(name) for name in [*config.names, WARMING] if name in new]
        kept = [c for c in numbered.columns if c not in new]
        return numbered.select(*kept, *columns).drop(READING, ORIGIN)

    return transform


def fitted(
    config: FeatureConfig, rows: DataFrame, cleaning: dict | None, maintenance: DataFrame | None = None
) -> FeatureConfig:
    """sensorpipe.model.features.fitted on Spark: the config with its health indicators' fleet
    parameters fitted on cleaned readings (the raw scale of their sensors from the cleaning,
    the load coefficient k from the hourly medians: jobs/health.py). Only two sums reach the
    driver. A config without [features.health] comes back as it is."""
    if config.health is None:
        return config
    health = replace(config.health, scale=scales(cleaning, config.health))
    origin = None
    if maintenance is not None:
        rows = rows.transform(with_log_time(config, maintenance, ORIGIN, "backward"))
        origin = F.col(ORIGIN)
    order = F.col(config.order)
    kind = rows.schema[config.order].dataType
    checked = rows.select(
        config.device,
        order,
        *[non_null(s) for s in dict.fromkeys(health.sensors)],
        since(order, kind, config.device, origin).alias("since"),
    )
    return replace(config, health=replace(health, k=load_coefficient(config, checked, health)))


def _sensors(config: FeatureConfig) -> list[str]:
    """The sensors the features read: [features] sensors and [features.health]'s."""
    return list(dict.fromkeys([*config.sensors, *(config.health.sensors if config.health else ())]))


def with_labels(config: FeatureConfig, rul_max: int):
    """Add `rul` (the device's last order minus the order) and `label` (rul <= rul_max)."""

    def transform(df: DataFrame) -> DataFrame:
        last = F.max(config.order).over(Window.partitionBy(config.device))
        rul = last - F.col(config.order)
        return df.withColumn("rul", rul).withColumn("label", (F.col("rul") <= rul_max).cast("bigint"))

    return transform


def with_failure_labels(config: FeatureConfig, failures: DataFrame, horizon_hours: float):
    """Add `ttf` (seconds to the device's next failure at or after the reading, null when
    none is recorded) and `label` (ttf <= horizon), as sensorpipe.model.features defines them."""

    def transform(df: DataFrame) -> DataFrame:
        nxt = df.transform(with_log_time(config, failures, "_next", "forward"))
        ttf = (F.unix_micros("_next") - F.unix_micros(config.order)) / 1e6
        label = F.coalesce((F.col("ttf") <= horizon_hours * 3600.0).cast("bigint"), F.lit(0).cast("bigint"))
        return nxt.withColumn("ttf", ttf).withColumn("label", label).drop("_next")

    return transform


def write_parquet(spark: SparkSession, df: DataFrame, out: str) -> None:
    """Write df as OUT's Parquet files; OUT is replaced only by a finished write."""
    fs = HadoopFS(spark)
    with fs.staged_output(out) as stage:
        df.write.mode("overwrite").parquet(stage)
        fs.tidy(stage)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Rolling-window features (and labels) of raw readings on Spark.")
    ap.add_argument("--spec", required=True, help="spec with the raw layout and a [features] section")
    ap.add_argument("--input", required=True, help="headerless raw file(s), e.g. C-MAPSS train_FD001.txt")
    ap.add_argument("--output", required=True, help="Parquet directory")
    ap.add_argument("--no-labels", action="store_true", help="leave out rul and label (test series)")
    args = ap.parse_args(argv)
    configure_logging()  # -v / -q / --log-format of `sensorpipe`, through the environment
    try:
        spec = load_spec(args.spec)
        features = feature_config(spec)
        horizon = None if args.no_labels or "label" not in spec.extra else rul_max(spec)
    except SpecError as exc:
        print(f"sensorpipe: {exc}", file=sys.stderr)
        return 2
    spark = SparkSession.builder.appName("sensorpipe-features").getOrCreate()
    quiet_when_jvm_ends(spark)
    try:
        rows = read_readings(spark, spec, args.input)
        features = fitted(features, rows, None)  # [features.health]'s k, on these raw readings
        rows = rows.transform(with_features(features))
        if horizon is not None:
            rows = rows.transform(with_labels(features, horizon))
        write_parquet(spark, rows, args.output)
    except SpecError as exc:
        print(f"sensorpipe: {exc}", file=sys.stderr)
        return 2
    except (OutputError, ValueError) as exc:
        print(f"sensorpipe: run failed: {exc}", file=sys.stderr)
        return 1
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    die_with_parent()  # the JVM spark-submit started: without it this driver can only fail
    sys.exit(main())
