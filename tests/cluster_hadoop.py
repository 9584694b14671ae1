"""The session's Hadoop cluster (HDFS + YARN in one JVM: harness/hadoop_cluster.py)."""

from __future__ import annotations

import pytest

from harness.hadoop_cluster import HadoopCluster, running_hadoop


@pytest.fixture(scope="session")
def hadoop_cluster(tmp_path_factory) -> HadoopCluster:
    """One HDFS + YARN cluster for the session; killed with its task JVMs at the end."""
    with running_hadoop(tmp_path_factory.mktemp("hadoop")) as cluster:
        yield cluster
