"""[features.health] on Spark: sensorpipe/model/health.py's indicators, equal to pandas by construction.

The indicators (`wear_level`, `drift_drop`) look at a device's whole history: a degradation
curve refitted every hour since the segment's origin, a rolling median of hourly medians.
Rather than restate them as window expressions, each device's readings go to one Python
worker (`groupBy(device).applyInPandas`), which runs the very functions the pandas engine
runs (sensorpipe.model.features' `_health`: hourly_medians, hourly_indicators, at_readings);
the two columns are then joined back on (device, order). So a device's history must fit in
one worker: it gets only the device, the order and the segment (longs) and the four health
sensors of each reading (a year at one reading a minute: 525,600 readings), and holds the
hourly fit on top of them. Devices spread over the workers; a fleet scales out, one device
does not.

The fleet's load coefficient k (health.fit_k) never brings the readings to the driver: the
hourly medians per (device, segment, hour) are Spark's (`median` interpolates an even count
as pandas does: (a + b) / 2 and a / 2 + b / 2 round alike), each device's means are removed
in Spark and only the regression's two sums are collected.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from sensorpipe.model import health as H
from sensorpipe.model.features import FeatureConfig

ORDER_US, SEGMENT, HOUR = "_order_us", "_segment", "_hour"


def keys(config: FeatureConfig, since: str = "since") -> tuple[Column, Column]:
    """(order, segment) in microseconds since the epoch: the segment is the reading's origin
    as `since` (seconds) has it, order - since, as sensorpipe.model.features' _health_keys."""
    order_us = F.unix_micros(F.col(config.order))
    return order_us, order_us - F.round(F.col(since) * 1e6).cast("long")


def hour_of(order_us: Column) -> Column:
    """The UTC hour of an order in microseconds, as health's `order_us // HOUR_US` (floor
    division; exact: a whole number of hours divided by the hour)."""
    return ((order_us - F.pmod(order_us, F.lit(H.HOUR_US))) / F.lit(H.HOUR_US)).cast("long")


def raw(health: H.HealthConfig) -> dict[str, Column]:
    """The health sensors on their raw scale (cleaning's scaling undone), as health.raw_values."""
    out = {s: F.col(s).cast("double") for s in health.sensors}
    for name, center, divisor in health.scale:
        out[name] = out[name] * F.lit(float(divisor)) + F.lit(float(center))
    return out


def device_indicators(health: H.HealthConfig, device: str, frame: pd.DataFrame) -> pd.DataFrame:
    """applyInPandas body: one device's readings (device, order and segment in microseconds,
    the health sensors) -> device, order, wear_level, drift_drop. A repeated order (same
    device) has the same segment and hour, so the same indicators: it comes back once."""
    d = frame[device].to_numpy()
    segment, order_us = frame[SEGMENT].to_numpy(np.int64), frame[ORDER_US].to_numpy(np.int64)
    hourly = H.hourly_indicators(
        H.hourly_medians(d, segment, order_us, H.reading_inputs(frame, health)), health
    )
    out = pd.DataFrame({device: d, ORDER_US: order_us, **H.at_readings(hourly, d, segment, order_us)})
    return out.drop_duplicates([device, ORDER_US])


def with_health(config: FeatureConfig, since: str = "since"):
    """Add wear_level and drift_drop to readings that hold `since` (jobs/features.py's)."""
    health = config.health
    if health.k is None:
        raise ValueError("[features.health] has no fitted load coefficient (jobs/features.py's fitted)")

    def transform(df: DataFrame) -> DataFrame:
        order_us, segment = keys(config, since)
        sensors = list(dict.fromkeys(health.sensors))
        readings = df.select(
            config.device,
            order_us.alias(ORDER_US),
            segment.alias(SEGMENT),
            *[F.col(s).cast("double").alias(s) for s in sensors],
        )
        schema = T.StructType(
            [
                df.schema[config.device],
                T.StructField(ORDER_US, T.LongType()),
                *[T.StructField(n, T.DoubleType()) for n in H.NAMES],
            ]
        )

        def body(frame):  # a plain function: Spark reads no type hints off a partial
            return device_indicators(health, config.device, frame)

        # one device's whole history in one worker (see the module's doc)
        values = readings.groupBy(config.device).applyInPandas(body, schema)
        joined = df.withColumn(ORDER_US, order_us).join(values, [config.device, ORDER_US], "left")
        return joined.select(*df.columns, *H.NAMES)

    return transform


def load_coefficient(
    config: FeatureConfig, df: DataFrame, health: H.HealthConfig, since: str = "since"
) -> float:
    """health.fit_k on Spark: k from the running readings of df (which holds `since`), with
    health's scale set. Hourly medians in Spark, each device's means removed, two sums collected."""
    col = raw(health)
    order_us, segment = keys(config, since)
    hourly = (
        df.where(col[health.speed] > F.lit(float(health.min_speed)))
        .groupBy(config.device, segment.alias(SEGMENT), hour_of(order_us).alias(HOUR))
        .agg(F.median(col[health.drift]).alias("drift"), F.median(col[health.load]).alias("load"))
        .where(F.col("drift").isNotNull() & F.col("load").isNotNull())
    )
    by_device = Window.partitionBy(config.device)
    dd = F.col("drift") - F.avg("drift").over(by_device)
    dl = F.col("load") - F.avg("load").over(by_device)
    sums = hourly.select((dd * dl).alias("xy"), (dl * dl).alias("xx")).agg(F.sum("xy"), F.sum("xx")).first()
    num, den = (float(v or 0.0) for v in sums)
    return num / den if den > 0 else 0.0
