"""The store a path lives in: a plain path on the local file system, an hdfs:// URI on HDFS
through pydoop. A Spark driver passes its JVM's Hadoop FileSystem instead (sensorpipe.spark.hfs),
which reaches every file system Spark's Hadoop client knows."""

from __future__ import annotations

from sensorpipe.store.base import Store
from sensorpipe.store.hdfs import HdfsStore
from sensorpipe.store.local import LocalStore


def is_remote(path) -> bool:
    """Whether path is a URI (hdfs://, s3a://, file://) rather than a plain local path."""
    return "://" in str(path)


def store_for(path) -> Store:
    return HdfsStore() if is_remote(path) else LocalStore()
