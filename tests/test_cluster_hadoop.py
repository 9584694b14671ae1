"""The cleaning on a real Hadoop cluster (tests/cluster_hadoop.py: HDFS + YARN in one JVM):
raw CSV uploaded with pydoop, `sensorpipe clean --engine hadoop` as five streaming jobs on
YARN and `--engine spark` on the same hdfs:// paths, both equal to a local pipe-engine run.

    .venv/bin/python -m pytest -m cluster tests/test_cluster_hadoop.py
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import DATA, Output, assert_same, run_clean
from harness.paths import ROOT

pytestmark = pytest.mark.cluster
SPEC = DATA / "messy.toml"
MESSY = sorted((DATA / "messy").glob("*.csv"))


def sensorpipe(cluster, *args: str) -> subprocess.CompletedProcess:
    """`sensorpipe ARGS` as a user of the cluster runs it: `hadoop` and HADOOP_CONF_DIR set."""
    return subprocess.run(
        [sys.executable, "-m", "sensorpipe.cli", *args],
        check=False, env=cluster.env, cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL,
        timeout=400,
    )  # fmt: skip


def check(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}:\n{proc.stderr[-4000:]}"
    return proc.stdout


@dataclass
class Run:
    """A `sensorpipe` command running in the background (its own process group), output in files."""

    proc: subprocess.Popen
    out: Path
    err: Path

    def finish(self, timeout: float = 400) -> str:
        code = self.proc.wait(timeout)
        assert code == 0, f"exit {code}:\n{self.err.read_text(errors='replace')[-4000:]}"
        return self.out.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(60)


def start(cluster, logs: Path, *args: str) -> Run:
    out, err = logs / "stdout", logs / "stderr"
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sensorpipe.cli", *args],
            env=cluster.env, cwd=ROOT, stdout=o, stderr=e, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    return Run(proc, out, err)


@pytest.fixture
def hdfs(hadoop_cluster, monkeypatch):
    """pydoop.hdfs in this process (its JVM with the project's `hadoop classpath`)."""
    monkeypatch.setenv("JAVA_HOME", hadoop_cluster.env["JAVA_HOME"])
    monkeypatch.setenv("HADOOP_CONF_DIR", str(hadoop_cluster.conf_dir))
    from sensorpipe.store.hdfs import pydoop_hdfs  # noqa: PLC0415

    return pydoop_hdfs()


@pytest.fixture(scope="module")
def raw(hadoop_cluster) -> str:
    """The messy corpus uploaded with `sensorpipe hdfs put` (pydoop)."""
    uri = hadoop_cluster.url("/raw/messy")
    check(sensorpipe(hadoop_cluster, "hdfs", "put", *map(str, MESSY), uri))
    return uri


@pytest.fixture(scope="module")
def runs(hadoop_cluster, raw, tmp_path_factory):
    """`sensorpipe clean` of the uploaded corpus on YARN (--engine hadoop) and on Spark, started
    together: they wait on different daemons, so the pair takes about as long as the slower."""
    runs = {}
    # one reducer: every pass then runs inside its ApplicationMaster (uber), a JVM per job
    # instead of one per task; the 2-reducer semantics are held by the local Hadoop tests
    for engine, extra in (("hadoop", ["--reducers", "1"]), ("spark", ["--format", "csv"])):
        out = hadoop_cluster.url(f"/clean/messy-{engine}")
        args = ["clean", "--engine", engine, "--spec", str(SPEC), "--input", raw, "--output", out, *extra]
        runs[engine] = start(hadoop_cluster, tmp_path_factory.mktemp(engine), *args)
    yield runs
    for run in runs.values():
        run.stop()


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> Output:
    """The reference: the pipe engine on the local files (1 MB splits: few processes, as the
    remote runs share the CPU)."""
    out = tmp_path_factory.mktemp("local") / "pipe"
    assert run_clean("pipe", SPEC, DATA / "messy", out, split_mb=1.0) == 0
    return Output(out)


def fetch(hdfs, uri: str, local: Path) -> Output:
    """An HDFS cleaning output downloaded with pydoop and read back."""
    local.mkdir(parents=True)
    for name in ("stats.json", "report.json", "_SUCCESS"):
        hdfs.get(f"{uri}/{name}", str(local / name))
    for sub in ("clean", "rejects"):
        (local / sub).mkdir(parents=True)
        for part in hdfs.ls(f"{uri}/{sub}"):
            hdfs.get(part, str(local / sub / part.rsplit("/", 1)[-1]))
    return Output(local)


def by_file_name(rejects: list[dict]) -> list[dict]:
    return [dict(r, source=Path(r["source"]).name) for r in rejects]


def assert_agree(local: Output, remote: Output) -> None:
    assert_same(local.stats, remote.stats)
    assert_same(local.clean, remote.clean)
    assert by_file_name(local.rejects) == by_file_name(remote.rejects)
    for key in ("rows_in", "rows_clean", "rejected_by_reason", "imputed", "clipped"):
        assert local.report[key] == remote.report[key], key


def test_pydoop_upload_and_list(raw, hdfs):
    listed = sorted(hdfs.ls(raw))
    assert [u.rsplit("/", 1)[-1] for u in listed] == [
        "a_messy.csv",
        "b_more.csv",
        "c_empty.csv",
        "d_header_only.csv",
    ]
    assert hdfs.load(f"{raw}/b_more.csv", mode="rb") == (DATA / "messy" / "b_more.csv").read_bytes()


def test_hadoop_engine_on_yarn(hadoop_cluster, runs, raw, hdfs, local_run, tmp_path):
    assert '"rows_in": 30' in runs["hadoop"].finish()
    out = hadoop_cluster.url("/clean/messy-hadoop")
    assert sorted(u.rsplit("/", 1)[-1] for u in hdfs.ls(out)) == [
        "_SUCCESS", "clean", "rejects", "report.json", "stats.json",
    ]  # fmt: skip
    got = fetch(hdfs, out, tmp_path / "hadoop")
    assert_agree(local_run, got)
    assert got.rejects[0]["source"] == f"{raw}/a_messy.csv"  # named as the job read it
    job = got.report["counters"]["validate"]["Job Counters"]
    assert any("UBER" in name.upper() for name in job), job  # YARN's counters, not the local runner's


def test_spark_engine_on_hdfs(hadoop_cluster, runs, hdfs, local_run, tmp_path):
    runs["spark"].finish()
    assert_agree(local_run, fetch(hdfs, hadoop_cluster.url("/clean/messy-spark"), tmp_path / "spark"))


def test_sensorpipe_hdfs_cat(hadoop_cluster, raw):
    text = check(sensorpipe(hadoop_cluster, "hdfs", "cat", f"{raw}/b_more.csv"))
    assert text.encode() == (DATA / "messy" / "b_more.csv").read_bytes()


def test_mixed_local_and_hdfs_paths_fail(hadoop_cluster, raw, tmp_path):
    proc = sensorpipe(hadoop_cluster, "clean", "--engine", "hadoop", "--spec", str(SPEC),
                      "--input", raw, "--output", str(tmp_path / "out"))  # fmt: skip
    assert proc.returncode == 1
    assert "needs both --input and --output on HDFS" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_stream_on_hdfs_resumes_from_its_pin(hadoop_cluster, hdfs, spark, stream_model, tmp_path):
    """`sensorpipe stream` with its landing directory and OUT on HDFS: the pin (model version,
    bucket count, state keys) lives in OUT/checkpoint/ there, so the second run, pointed at a
    registry that does not exist, resumes with the version it started with; metrics.jsonl is
    appended to there; scored/, alerts/ (written by the driver through Hadoop's FileSystem)
    and quarantine/ equal a local run in this process over the same two files."""
    from sensorpipe.core.spec import load_spec  # noqa: PLC0415
    from sensorpipe.sim.feed import EventStream  # noqa: PLC0415
    from streaming.score_stream import make_context, run_available_now  # noqa: PLC0415

    spec_path = ROOT / "conf" / "sensors.toml"
    spec = load_spec(spec_path)
    events = EventStream(spec, 3, seed=2)
    files = [tmp_path / f"events-00000{i}.jsonl" for i in range(2)]
    for path in files:
        path.write_bytes(events.take(300) + b'{"device_id": "d-x", "ts": \n')
    landing, out = hadoop_cluster.url("/stream/landing"), hadoop_cluster.url("/stream/out")
    hdfs.mkdir(landing)

    def stream(model: str) -> None:
        args = ["stream", "--spec", str(spec_path), "--model", model, "--input", landing]
        check(sensorpipe(hadoop_cluster, *args, "--output", out, "--available-now"))

    hdfs.put(str(files[0]), f"{landing}/{files[0].name}")
    stream(str(stream_model))
    pin = json.loads(hdfs.load(f"{out}/checkpoint/model.json"))
    # [stream] buckets unset: one per core of the command's local[2] master, pinned at first start
    assert pin["buckets"] == 2 and len(pin["keys"]) == 2
    hdfs.put(str(files[1]), f"{landing}/{files[1].name}")
    stream(str(tmp_path / "no-registry"))
    metrics = [json.loads(line) for line in hdfs.load(f"{out}/metrics.jsonl").splitlines()]
    assert sum(m["observedMetrics"].get("sensorpipe", {}).get("events", 0) for m in metrics) == sum(
        len(path.read_bytes().splitlines()) for path in files
    )

    local_landing, local_out = tmp_path / "landing", tmp_path / "local"
    local_landing.mkdir()
    ctx = make_context(spec, str(stream_model))
    for path in files:
        shutil.copy(path, local_landing / path.name)
        run_available_now(spark, spec, ctx, str(local_landing), str(local_out), echo=lambda m: None)

    def read(where: str, sink: str, columns: list[str]) -> pd.DataFrame:
        frame = spark.read.parquet(f"{where}/{sink}").select(*columns).toPandas()
        return frame.sort_values(columns).reset_index(drop=True)

    scored = ["device_id", "ts", "probability"]
    local = read(str(local_out), "scored", scored)
    assert len(local) > 550
    pd.testing.assert_frame_equal(read(out, "scored", scored), local, rtol=1e-12)
    alerts = ["device_id", "ts", "episode", "top_sensors"]
    pd.testing.assert_frame_equal(read(out, "alerts", alerts), read(str(local_out), "alerts", alerts))
    quarantine = ["reason", "line"]
    got = read(out, "quarantine", quarantine)
    assert ((got["reason"] == "malformed_row") & (got["line"] == 301)).sum() == 2  # the lines added
    pd.testing.assert_frame_equal(got, read(str(local_out), "quarantine", quarantine))


def test_registry_on_hdfs(hadoop_cluster, hdfs, spark, tmp_path):
    """`sensorpipe train --model hdfs://...` publishes a version there (uploaded whole, then
    `current` replaced by Hadoop's rename); `sensorpipe score --model hdfs://...` reads and
    verifies it on the driver and broadcasts it: its scores equal pandas' with the model read
    back from HDFS; a byte changed on HDFS is refused (exit 1) before anything is scored."""
    from test_model import SPEC_TOML, unit_readings, write_raw  # noqa: PLC0415

    from sensorpipe.core.spec import load_spec  # noqa: PLC0415
    from sensorpipe.model.classifier import score  # noqa: PLC0415
    from sensorpipe.model.raw import read_raw  # noqa: PLC0415
    from sensorpipe.model.registry import load_model  # noqa: PLC0415
    from sensorpipe.spark.hfs import HadoopFS  # noqa: PLC0415

    spec, raw = tmp_path / "tiny.toml", tmp_path / "train.txt"
    spec.write_text(SPEC_TOML.replace("{candidates}", '["logistic"]'))
    rng = np.random.default_rng(7)
    write_raw(raw, [unit_readings(u, 60 + 5 * u, 0, rng) for u in range(1, 9)])
    registry = hadoop_cluster.url("/models/tiny")
    args = ["--spec", str(spec), "--input", str(raw), "--model", registry]
    check(sensorpipe(hadoop_cluster, "train", *args, "--threads", "1"))
    version = hdfs.load(f"{registry}/current", mode="rb").decode().strip()
    assert sorted(u.rsplit("/", 1)[-1] for u in hdfs.ls(registry)) == sorted(["current", version])
    assert sorted(u.rsplit("/", 1)[-1] for u in hdfs.ls(f"{registry}/{version}")) == [
        "card.json", "confusion.png", "importance.png", "model.skops", "pr.png", "roc.png",
    ]  # fmt: skip

    def score_into(out: str) -> subprocess.CompletedProcess:
        # a plain path is on HDFS here (HADOOP_CONF_DIR's fs.defaultFS): the raw file is file://
        scoring = ["--spec", str(spec), "--input", f"file://{raw}", "--model", registry, "--output", out]
        return sensorpipe(hadoop_cluster, "score", *scoring, "--master", "local[2]")

    out = hadoop_cluster.url("/scores/tiny")
    check(score_into(out))
    got = spark.read.parquet(out).toPandas().sort_values(["unit", "cycle"]).reset_index(drop=True)
    model = load_model(registry, HadoopFS(spark))
    assert model.card["version"] == version
    frame = read_raw(load_spec(spec), str(raw)).sort_values(["unit", "cycle"]).reset_index(drop=True)
    assert got[["unit", "cycle"]].equals(frame[["unit", "cycle"]].astype(got.dtypes[["unit", "cycle"]]))
    np.testing.assert_allclose(got["probability"], score(frame, model), rtol=1e-9)

    changed = bytearray(hdfs.load(f"{registry}/{version}/model.skops", mode="rb"))
    changed[len(changed) // 2] ^= 1
    hdfs.dump(bytes(changed), f"{registry}/{version}/model.skops")
    proc = score_into(hadoop_cluster.url("/scores/refused"))
    said = proc.stdout + proc.stderr  # spark-submit passes the Python driver's stderr to its stdout
    assert proc.returncode == 1 and "SHA-256" in said, said[-2000:]
    assert not hdfs.path.exists(hadoop_cluster.url("/scores/refused"))
