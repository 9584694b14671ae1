"""Shared fixtures: paths to the test data, and running a cleaning through the CLI."""

from __future__ import annotations

import csv
import json
import math
import os
import sys
from pathlib import Path

import pytest

from harness.paths import ROOT, SHARED  # noqa: F401 (tests import SHARED from here)
from sensorpipe.cli import main as cli

DATA = Path(__file__).resolve().parent / "data"
# Every Spark driver JVM the tests start (the session below, each spark-submit of the CLI, the
# demo's jobs) compiles with C1 only and collects with one thread: a test's JVM lives seconds
# to minutes on small inputs, where C2's compiler threads cost more CPU than they save (two
# Spark tests, idle machine: 153 -> 92-98 CPU s, 99-106 -> 83-88 s). Tests only: the product
# and bench/ keep the JVM's defaults. A user's SPARK_SUBMIT_OPTS is kept.
os.environ.setdefault("SPARK_SUBMIT_OPTS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
pytest_plugins = [
    "cluster_spark",
    "cluster_kafka",
    "cluster_hadoop",
]  # session fixtures wrapping harness/: a Spark cluster, a Kafka broker, HDFS + YARN


def run_clean(engine: str, spec: Path, source: Path, out: Path, split_mb: float = 0.0002) -> int:
    """`sensorpipe clean` in-process; tiny splits so several mappers share every input."""
    return cli(
        [
            "clean",
            "--engine",
            engine,
            "--spec",
            str(spec),
            "--input",
            str(source),
            "--output",
            str(out),
            "--split-mb",
            str(split_mb),
        ]
    )


class Output:
    """A finished cleaning run's directory, read back."""

    def __init__(self, path: Path):
        self.path = path
        self.stats = json.loads((path / "stats.json").read_text())
        self.report = json.loads((path / "report.json").read_text())
        parts = sorted((path / "clean").glob("part-*"))
        self.clean = sorted(row for p in parts for row in csv.reader(p.open(newline="")))
        self.rejects = sorted(
            (
                json.loads(line)
                for p in sorted((path / "rejects").glob("part-*"))
                for line in p.read_text(encoding="utf-8").splitlines()
            ),
            key=lambda r: (r["source"], r["line"]),
        )


def _close(a, b, rel: float) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], rel) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y, rel) for x, y in zip(a, b))
    if isinstance(a, str) and isinstance(b, str) and a != b:
        try:
            return _close(float(a), float(b), rel)
        except ValueError:
            return False
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
            return a == b
        return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)
    return a == b


def assert_same(a, b, rel: float = 1e-9) -> None:
    """Equal, except that numbers (also numbers written as text) agree to rel."""
    assert _close(a, b, rel), f"differ beyond {rel} relative:\n{a}\n{b}"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def spark():
    """One local[2] SparkSession for the whole suite: two shuffle partitions, no UI, UTC."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession  # noqa: PLC0415

    session = (
        SparkSession.builder.master("local[2]")
        .appName("sensorpipe-tests")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.codegen.hugeMethodLimit", "8000")
        .config(
            "spark.driver.extraJavaOptions",
            f"-Dlog4j2.configurationFile={ROOT / 'conf' / 'log4j2.properties'}",
        )
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.fixture(scope="session")
def stream_model(tmp_path_factory) -> Path:
    """One small registered model for the stream's tests (harness/models.py)."""
    from harness.models import make_model  # noqa: PLC0415

    where = tmp_path_factory.mktemp("stream-model")
    make_model(where)
    return where


# Session fixtures that start daemons: every test using one runs on one pytest-xdist worker, so
# that each daemon starts once per run. The hook runs before xdist's own (tryfirst), which turns an
# xdist_group marker into the "@group" nodeid suffix its loadgroup scheduler reads; without it the
# markers came too late and each worker started its own Hadoop, Kafka and standalone clusters
# (found 2026-12-06; pytest is pinned below 9 for the same reason: requirements.txt).
DAEMONS = ("hadoop_cluster", "kafka_broker", "standalone_cluster")


def _module_scoped(item) -> bool:
    """Whether the test uses a fixture set up once per module (a wheel installed, a cleaning run,
    a model trained): its tests run on one worker, so the fixture is built once."""
    info = getattr(item, "_fixtureinfo", None)
    defs = info.name2fixturedefs.values() if info else ()
    return any(d[-1].scope == "module" for d in defs if d)


def _daemons(item) -> list[str]:
    """The daemon fixtures the test uses, in DAEMONS' order."""
    return [name for name in DAEMONS if name in getattr(item, "fixturenames", ())]


def _order(item) -> int:
    """Where the test goes in the queue (`--no-loadscope-reorder` keeps it): the daemon groups
    first, the longest (Hadoop's) before the others, then the slow tests, then the rest; a long
    test handed out last would be the run's tail."""
    used = _daemons(item)
    if used:
        return DAEMONS.index(used[0])
    return len(DAEMONS) + (item.get_closest_marker("slow") is None)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        used = _daemons(item)
        if used:
            item.add_marker(pytest.mark.xdist_group("+".join(used)))
        elif _module_scoped(item):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
    items.sort(key=_order)
