"""The session's Spark standalone cluster (a master and two 1-core workers: harness/spark_cluster.py)."""

from __future__ import annotations

import pytest

from harness.spark_cluster import StandaloneCluster, running_standalone


@pytest.fixture(scope="session")
def standalone_cluster(tmp_path_factory) -> StandaloneCluster:
    """A running master with two registered workers (1 core, 1 GB each); killed at teardown."""
    with running_standalone(tmp_path_factory.mktemp("standalone")) as cluster:
        yield cluster
