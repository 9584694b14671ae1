"""`sensorpipe stream --master yarn` on the session's Hadoop cluster (tests/cluster_hadoop.py:
HDFS + YARN in one JVM) with everything on its HDFS: the model registry (a version published
there, `current` switched by Hadoop's rename), the landing directory, OUT and its checkpoint.
The driver is killed once (kill -9 of the spark-submit process tree) while batches run and
restarted to drain; scored/ and alerts/ then equal a local run over the same files, each valid
event scored once.

The submit is README's ("Running on a cluster", YARN): `make dist`, its three files uploaded
with `sensorpipe hdfs put`, SENSORPIPE_DIST naming that directory, and yarn_confs().

    .venv/bin/python -m pytest -m cluster tests/test_cluster_yarn.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from harness.faults import RATES, valid_keys
from harness.models import make_model
from harness.paths import ROOT, SPEC
from harness.spark_cluster import make_dist
from harness.stream_job import Job, wait_for
from sensorpipe.core.spec import load_spec
from sensorpipe.model.registry import publish, read_card, read_version
from sensorpipe.sim.feed import EventStream
from sensorpipe.spark.hfs import HadoopFS
from sensorpipe.store import sinks
from streaming.score_stream import make_context, run_available_now

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
DEVICES, PER_FILE = 6, 60
DIST_FILES = ("sensorpipe.zip", "sensorpipe-env.tar.gz", "spark-jars.zip")


def yarn_confs(dist: str) -> list[str]:
    """README's --conf list: Spark's jars from HDFS (spark.yarn.archive), containers that fit
    the mini cluster's 4 GB NodeManager twice over (a killed run's and its restart's)."""
    confs = {
        "spark.yarn.archive": f"{dist}/spark-jars.zip",
        "spark.yarn.am.memory": "512m",
        "spark.executor.instances": "1",
        "spark.executor.cores": "1",
        "spark.executor.memory": "1g",
        "spark.executor.memoryOverhead": "512m",
        # no web UI: in YARN client mode the AM's proxy filter (AmIpFilter) can be added while
        # the UI attaches its handlers, and SparkContext then fails with Jetty's
        # ConcurrentModificationException (seen once in a clean-clone CI run)
        "spark.ui.enabled": "false",
    }
    return [a for k, v in confs.items() for a in ("--conf", f"{k}={v}")]


@pytest.fixture(scope="module")
def dist(hadoop_cluster) -> str:
    """`make dist` (the environment rebuilt only when requirements-executor.txt changes, the
    jars when requirements.txt does) and its files uploaded to HDFS, once."""
    made = make_dist()
    assert made.returncode == 0, made.stderr[-3000:]
    uri = hadoop_cluster.url("/apps/sensorpipe/dist")
    put = [str(ROOT / "dist" / name) for name in DIST_FILES]
    done = subprocess.run(
        [sys.executable, "-m", "sensorpipe.cli", "hdfs", "put", *put, uri],
        env=hadoop_cluster.env, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return uri


def start_stream(cluster, dist: str, log: Path, *args: str) -> Job:
    """`sensorpipe stream --master yarn ...` in its own process group, output to log."""
    cmd = [sys.executable, "-m", "sensorpipe.cli", "stream", "--master", "yarn", *yarn_confs(dist), *args]
    with log.open("ab") as fh:
        fh.write(f"\n=== {' '.join(cmd)}\n".encode())
        proc = subprocess.Popen(
            cmd, env=cluster.env | {"SENSORPIPE_DIST": dist}, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    return Job(proc, log)


def batches(fs: HadoopFS, out: str, log: str) -> int:
    """Batches in the checkpoint's offsets/ (planned) or commits/ (done) log."""
    where = f"{out}/checkpoint/{log}"
    return sum(e.name.isdigit() for e in fs.entries(where)) if fs.exists(where) else 0


def read_sink(spark, fs: HadoopFS, sink: str, columns: list[str]) -> pd.DataFrame:
    """The files the sink's manifest names (sensorpipe.store.sinks' format), read by Spark."""
    names = [e["name"] for e in sinks.loads(fs.read_bytes(f"{sink}/{sinks.MANIFEST}"))]
    frame = spark.read.parquet(*[f"{sink}/{n}" for n in names]).select(*columns).toPandas()
    return frame.sort_values(columns[:2]).reset_index(drop=True)


@pytest.mark.timeout(2400)  # cold YARN localization of Spark's jars and the environment, two submits
def test_stream_on_yarn_killed_once_equals_a_local_run(hadoop_cluster, dist, spark, tmp_path):
    fs = HadoopFS(spark)
    registry = hadoop_cluster.url("/models/sensors")
    version = make_model(tmp_path / "model")
    publish(version, registry, fs)
    assert read_version(registry, fs).card["version"] == version.name  # `current`, resolved on HDFS
    landing, out = hadoop_cluster.url("/yarn/landing"), hadoop_cluster.url("/yarn/out")
    local_landing = tmp_path / "landing"
    local_landing.mkdir()
    fs.mkdir(landing)
    stream = EventStream(load_spec(SPEC), DEVICES, seed=7, rates=RATES)
    fed = []

    def feed(files: int) -> None:
        for _ in range(files):
            name, data = f"events-{len(fed):06d}.jsonl", stream.take(PER_FILE)
            (local_landing / name).write_bytes(data)
            fs.write_bytes(f"{landing}/_{name}.tmp", data)  # the file source skips `_` names
            fs.rename(f"{landing}/_{name}.tmp", f"{landing}/{name}")
            fed.append(name)

    args = ["--spec", str(SPEC), "--model", registry, "--input", landing, "--output", out]
    log = tmp_path / "stream.log"
    feed(2)
    job = start_stream(hadoop_cluster, dist, log, *args, "--trigger", "1s", "--max-files-per-trigger", "1")
    try:
        wait_for(lambda: batches(fs, out, "commits") >= 1, 900, "the first batch on YARN", job, poll=1.0)
        feed(2)
        planned = batches(fs, out, "offsets")
        wait_for(lambda: batches(fs, out, "offsets") > planned, 300, "a batch more planned", job, poll=0.2)
    finally:
        job.kill()  # kill -9 as soon as a batch is planned: before its commit, as a rule
    killed_at = (batches(fs, out, "offsets"), batches(fs, out, "commits"))
    feed(2)
    drain = start_stream(hadoop_cluster, dist, log, *args, "--available-now")
    assert drain.wait(900) == 0, log.read_text(errors="replace")[-4000:]
    assert batches(fs, out, "commits") > killed_at[1], killed_at  # resumed and went on
    pin = json.loads(fs.read_bytes(f"{out}/checkpoint/model.json"))
    assert (pin["version"], pin["model_sha256"]) == (
        f"{registry}/{version.name}",
        read_card(version)["model_sha256"],
    )

    ctx = make_context(load_spec(SPEC), str(version))
    reference = tmp_path / "reference"
    run_available_now(spark, load_spec(SPEC), ctx, str(local_landing), str(reference), echo=lambda m: None)

    scored = ["device_id", "ts", "probability"]
    got, want = (
        read_sink(spark, fs, f"{out}/scored", scored),
        read_sink(spark, fs, f"{reference}/scored", scored),
    )
    keys = list(zip(got["device_id"], got["ts"]))
    assert [k for k, n in Counter(keys).items() if n > 1] == []  # no event twice
    assert set(keys) == valid_keys(local_landing)  # every valid event fed, none lost
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9, atol=1e-12)
    alerts = ["device_id", "ts", "episode", "top_sensors", "probability"]
    got_alerts = read_sink(spark, fs, f"{out}/alerts", alerts)
    want_alerts = read_sink(spark, fs, f"{reference}/alerts", alerts)
    assert len(want_alerts) > 0  # else the comparison would be empty
    pd.testing.assert_frame_equal(got_alerts, want_alerts, check_exact=False, rtol=1e-9, atol=1e-12)
    quarantined = len(read_sink(spark, fs, f"{out}/quarantine", ["source", "line", "reason"]))
    lines = sum((local_landing / name).read_bytes().count(b"\n") for name in fed)
    assert lines == len(got) + quarantined  # each line fed: scored or quarantined
    print(f"yarn: killed at offsets/commits {killed_at}; {len(got)} scored, {len(got_alerts)} alerts")
