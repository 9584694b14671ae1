"""The model registry from a Spark driver: a version read and verified through the store its
path lives in (a plain path locally, any URI through the JVM's Hadoop FileSystem), and its
bytes shipped to the Python workers as a broadcast, which sensorpipe.model.registry.cached_model
turns into a model once per worker process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace

from pyspark.sql import SparkSession

from sensorpipe.model.registry import Version, read_version
from sensorpipe.spark.hfs import HadoopFS
from sensorpipe.store.base import Store
from sensorpipe.store.local import LocalStore
from sensorpipe.store.uri import is_remote


def model_store(spark: SparkSession, path: str) -> Store:
    """A plain path on the driver's disk; a URI (hdfs://, s3a://) through Hadoop's FileSystem,
    whose rename with overwrite switches `current` atomically."""
    return HadoopFS(spark) if is_remote(path) else LocalStore()


def read_model(spark: SparkSession, model_dir: str) -> Version:
    return read_version(model_dir, model_store(spark, model_dir))


def ship(spark: SparkSession, version: Version) -> Version:
    """The version with its bytes in a broadcast: each executor fetches them once, and only a
    worker that has not loaded the model yet reads them."""
    if not isinstance(version.data, bytes):  # shipped already
        return version
    return replace(version, data=spark.sparkContext.broadcast(version.data))


@contextlib.contextmanager
def hadoop_store() -> Iterator[Store]:
    """Hadoop's FileSystem outside a Spark job (`sensorpipe train --model hdfs://...`), in a
    small local Spark driver: pydoop's libhdfs cannot rename over `current`."""
    spark = SparkSession.builder.master("local[1]").appName("sensorpipe-publish")
    spark = spark.config("spark.ui.enabled", "false").getOrCreate()
    try:
        yield HadoopFS(spark)
    finally:
        spark.stop()
