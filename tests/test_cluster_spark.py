"""The Spark jobs on a real standalone cluster (a master, two workers), submitted with the
`make dist` artifacts, give what local mode gives: cleaning, features and scoring."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

import sensorpipe.model.features as pdf
import sensorpipe.model.labels as pdl
from conftest import DATA, Output, assert_same, run_clean
from harness.paths import ROOT, SHARED
from jobs.features import read_readings, with_features, with_labels
from jobs.score import with_scores
from sensorpipe.cli import main as cli
from sensorpipe.core.spec import load_spec
from sensorpipe.model.classifier import ModelConfig, train
from sensorpipe.model.features import feature_config
from sensorpipe.model.labels import rul_max
from sensorpipe.model.raw import read_raw
from sensorpipe.model.registry import save_model
from sensorpipe.spark.launch import run_spark, spark_submit_command
from streaming.score_stream import make_context, run_available_now

CMAPSS = ROOT / "conf" / "cmapss.toml"


@pytest.fixture(scope="module")
def cluster(standalone_cluster):
    """The cluster, with this process's drivers bound to loopback like the daemons."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPARK_LOCAL_IP", "127.0.0.1")
        yield standalone_cluster


def test_a_cluster_master_gets_the_dist_artifacts_and_local_mode_none(monkeypatch, tmp_path):
    for name in ("sensorpipe.zip", "sensorpipe-env.tar.gz"):
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setenv("SENSORPIPE_DIST", str(tmp_path))
    score = spark_submit_command("jobs/score.py", ["--x"], "spark://h:7077")
    at = score.index("--py-files")
    assert score[at : at + 8] == [
        "--py-files",
        str(tmp_path / "sensorpipe.zip"),
        "--archives",
        f"{tmp_path / 'sensorpipe-env.tar.gz'}#env",
        "--conf",
        "spark.pyspark.python=./env/bin/python",
        "--conf",
        f"spark.pyspark.driver.python={sys.executable}",
    ]
    assert score[-2:] == [str(ROOT / "jobs" / "score.py"), "--x"]
    clean = spark_submit_command("jobs/clean.py", [], "yarn")  # no Python on executors: the zip only
    assert "--archives" not in clean and clean[clean.index("--py-files") + 1] == str(
        tmp_path / "sensorpipe.zip"
    )
    assert "--py-files" not in spark_submit_command("jobs/score.py", [], "local[2]")
    (tmp_path / "sensorpipe-env.tar.gz").unlink()
    with pytest.raises(RuntimeError, match="make dist"):
        spark_submit_command("jobs/score.py", [], "spark://h:7077")


def clean_on(cluster, spec, source, out) -> Output:
    argv = ["clean", "--engine", "spark", "--master", cluster.url, "--format", "csv"]
    assert cli([*argv, "--spec", str(spec), "--input", str(source), "--output", str(out)]) == 0
    return Output(out)


def assert_agree(local: Output, remote: Output) -> None:
    assert_same(local.clean, remote.clean)
    assert local.rejects == remote.rejects
    assert_same(local.stats, remote.stats)
    for key in ("rows_in", "rows_clean", "rows_rejected", "rejected_by_reason", "imputed", "clipped"):
        assert local.report[key] == remote.report[key]


@pytest.mark.cluster
def test_messy_corpus_cleans_on_the_cluster_as_on_the_pipe_engine(cluster, tmp_path):
    spec = DATA / "messy.toml"
    assert run_clean("pipe", spec, DATA / "messy", tmp_path / "pipe") == 0
    remote = clean_on(cluster, spec, DATA / "messy", tmp_path / "cluster")
    assert remote.report["engine"] == "spark" and remote.report["rows_clean"] == 13
    assert_agree(Output(tmp_path / "pipe"), remote)
    # both workers ran executors of the application: the work was spread, not local
    assert all(list((cluster.work / f"worker-{i}").glob("app-*")) for i in range(2))
    assert any(app["name"] for app in cluster.status()["completedapps"])


@pytest.mark.cluster
def test_stream_runs_on_the_cluster_as_in_local_mode(cluster, spark, stream_model, tmp_path):
    """The Structured Streaming job, submitted to the cluster with --available-now, scores and
    quarantines the landed events exactly as a local run does (the model's Python runs on the
    executors from the shipped environment archive)."""
    from sensorpipe.sim.feed import EventStream

    spec = ROOT / "conf" / "sensors.toml"
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "events-000000.jsonl").write_bytes(EventStream(load_spec(spec), 3, seed=2).take(300))
    base = ["stream", "--spec", str(spec), "--model", str(stream_model), "--input", str(landing)]
    base += ["--available-now"]
    assert cli([*base, "--output", str(tmp_path / "cluster"), "--master", cluster.url]) == 0
    # the local run in this process's Spark session (local mode), as tests/test_stream.py runs it
    ctx = make_context(load_spec(spec), str(stream_model))
    run_available_now(spark, load_spec(spec), ctx, str(landing), str(tmp_path / "local"), echo=lambda m: None)

    def read(out, sink, columns):
        frame = pd.read_parquet(tmp_path / out / sink)[columns]
        return frame.sort_values(columns).reset_index(drop=True)

    scored = ["device_id", "ts", "probability"]
    local = read("local", "scored", scored)
    assert len(local) > 250
    pd.testing.assert_frame_equal(read("cluster", "scored", scored), local, rtol=1e-12)
    q = ["reason", "line"]
    pd.testing.assert_frame_equal(read("cluster", "quarantine", q), read("local", "quarantine", q))


@pytest.fixture(scope="module")
def fd001_head(tmp_path_factory):
    """The first 3 units of train_FD001 (192 + 287 + 179 = 658 readings) as a raw file."""
    path = tmp_path_factory.mktemp("fd001") / "train_head.txt"
    lines = (SHARED / "cmapss" / "train_FD001.txt").read_text().splitlines(keepends=True)
    path.write_text("".join(line for line in lines if int(line.split()[0]) <= 3))
    return path


def sorted_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["unit", "cycle"]).reset_index(drop=True)


@pytest.mark.cluster
def test_features_on_the_cluster_equal_local_mode(cluster, spark, fd001_head, tmp_path):
    out = tmp_path / "features"
    job = ["--spec", str(CMAPSS), "--input", str(fd001_head), "--output", str(out)]
    assert run_spark("jobs/features.py", job, cluster.url) == 0
    got = sorted_frame(pd.read_parquet(out))
    spec = load_spec(CMAPSS)
    config = feature_config(spec)
    local = read_readings(spark, spec, str(fd001_head)).transform(with_features(config))
    want = sorted_frame(local.transform(with_labels(config, rul_max(spec))).toPandas())
    assert len(got) == 658 and list(got.columns) == list(want.columns)
    assert got.dtypes.equals(want.dtypes)
    assert got[["unit", "cycle", "rul", "label"]].equals(want[["unit", "cycle", "rul", "label"]])
    for name in got.columns:  # Spark in both: the same plan, so at most the last bits differ
        np.testing.assert_allclose(got[name].to_numpy(float), want[name].to_numpy(float), 1e-9, 1e-12)
    assert got["label"].sum() == 3 * 31  # the last 31 cycles of each unit (rul 0..30)


@pytest.fixture(scope="module")
def registry(fd001_head, tmp_path_factory):
    """A logistic model trained on the 3 units (3 folds), saved as the current version."""
    spec = load_spec(CMAPSS)
    config = feature_config(spec)
    frame = pdl.with_labels(pdf.with_features(read_raw(spec, fd001_head), config), config, pdl.rul_max(spec))
    with threadpool_limits(limits=1):
        result = train(frame, config, ModelConfig(candidates=("logistic",), folds=3))
    where = tmp_path_factory.mktemp("registry") / "models"
    save_model(result.model, where, {"note": "test_cluster_spark"})
    return where


@pytest.mark.cluster
def test_scores_on_the_cluster_equal_local_mode(cluster, spark, fd001_head, registry, tmp_path):
    # mapInPandas runs the model in the executors' Python: ./env/bin/python of the archive
    out = tmp_path / "scores"
    argv = ["score", "--spec", str(CMAPSS), "--model", str(registry), "--master", cluster.url]
    assert cli([*argv, "--input", str(fd001_head), "--output", str(out)]) == 0
    got = sorted_frame(pd.read_parquet(out))
    local = read_readings(spark, load_spec(CMAPSS), str(fd001_head)).transform(with_scores(registry))
    want = sorted_frame(local.toPandas())
    assert list(got.columns) == ["unit", "cycle", "probability", "alert"] and len(got) == 658
    assert got[["unit", "cycle"]].equals(want[["unit", "cycle"]])
    np.testing.assert_allclose(got["probability"], want["probability"], 1e-9, 1e-12)
    assert 0 < got["alert"].sum() < len(got)
