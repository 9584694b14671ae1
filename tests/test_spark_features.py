"""Spark features (jobs/features.py) and batch scoring (jobs/score.py) against the pandas engine.

Spark's window moments are updated one reading at a time, pandas' are two-pass, so sums
may differ in the last bits: floats are compared with 1e-9 relative and 1e-12 absolute
tolerance (a slope of 0.0 in one engine can be 5e-17 in the other). Constant readings
must give exactly 0.0 in both, and are compared exactly.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from pyspark.errors import PySparkException
from threadpoolctl import threadpool_limits

import sensorpipe.model.features as pdf
import sensorpipe.model.labels as pdl
from conftest import ROOT, SHARED
from jobs.features import read_readings, with_features, with_labels
from jobs.score import with_scores
from sensorpipe.cli import main as cli
from sensorpipe.core.spec import load_spec
from sensorpipe.model.classifier import ModelConfig, score, train
from sensorpipe.model.features import FeatureConfig, feature_config
from sensorpipe.model.raw import read_raw
from sensorpipe.model.registry import load_model, save_model

RTOL, ATOL = 1e-9, 1e-12
SPEC = load_spec(ROOT / "conf" / "cmapss.toml")
TINY = FeatureConfig("unit", "cycle", ("x", "c"), (2, 3))
# two devices, rows out of order, a gap in unit 2's cycles, c constant
READINGS = [
    (2, 6, 20.0, 8138.62),
    (1, 1, 1.0, 8138.62),
    (1, 3, 4.0, 8138.62),
    (2, 3, 10.0, 8138.62),
    (1, 2, 2.0, 8138.62),
    (2, 4, 30.0, 8138.62),
    (1, 4, 4.0, 8138.62),
]
SCHEMA = "unit bigint, cycle bigint, x double, c double"


def to_pandas(df, keys=("unit", "cycle")) -> pd.DataFrame:
    return df.toPandas().sort_values(list(keys), kind="stable").reset_index(drop=True)


def assert_close(got: pd.DataFrame, want: pd.DataFrame, columns) -> None:
    for name in columns:
        a, b = got[name].to_numpy(dtype=float), want[name].to_numpy(dtype=float)
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=name)


def spark_and_pandas(spark, config: FeatureConfig, horizon: int):
    rows = spark.createDataFrame(READINGS, SCHEMA)
    got = to_pandas(rows.transform(with_features(config)).transform(with_labels(config, horizon)))
    frame = pd.DataFrame(READINGS, columns=["unit", "cycle", "x", "c"])
    want = pdl.with_labels(pdf.with_features(frame, config), config, horizon).reset_index(drop=True)
    return got, want


def test_hand_made_frame_matches_pandas_and_hand_values(spark):
    got, want = spark_and_pandas(spark, TINY, horizon=1)
    assert list(got.columns) == list(want.columns)
    for name in ("unit", "cycle", "rul", "label"):
        assert got[name].tolist() == want[name].tolist(), name
    assert_close(got, want, TINY.names)
    # worked out by hand; unit 1 then unit 2 (cycles 3, 4, 6)
    assert got["x_mean_3"].round(12).tolist() == [1.0, 1.5, round(7 / 3, 12), round(10 / 3, 12), 10, 20, 20]
    std = [0.0, 0.5, math.sqrt(14 / 9), math.sqrt(8 / 9), 0.0, 10.0, math.sqrt(200 / 3)]
    np.testing.assert_allclose(got["x_std_3"], std, rtol=RTOL)
    np.testing.assert_allclose(got["x_slope_3"], [0.0, 1.0, 1.5, 1.0, 0.0, 20.0, 5.0], rtol=RTOL)
    assert got["x_slope_2"].tolist() == [0.0, 1.0, 2.0, 0.0, 0.0, 20.0, -10.0]
    assert got["x_delta_3"].tolist() == [0.0, 1.0, 3.0, 2.0, 0.0, 20.0, 10.0]
    assert got["x_min_3"].tolist() == [1.0, 1.0, 1.0, 2.0, 10.0, 10.0, 10.0]
    assert got["x_max_2"].tolist() == [1.0, 2.0, 4.0, 4.0, 10.0, 30.0, 30.0]
    assert got["since"].tolist() == [0.0, 1.0, 2.0, 3.0, 0.0, 1.0, 3.0]
    assert got["rul"].tolist() == [3, 2, 1, 0, 3, 2, 0]
    assert got["label"].tolist() == [0, 0, 1, 1, 0, 0, 1]


def test_constant_readings_give_exact_zeros_in_both_engines(spark):
    got, want = spark_and_pandas(spark, TINY, horizon=1)
    for n in TINY.windows:
        for stat in ("std", "slope", "delta"):
            name = f"c_{stat}_{n}"
            assert (got[name] == 0.0).all() and (want[name] == 0.0).all(), name
        assert (got[f"c_mean_{n}"] == 8138.62).all()


def test_one_reading_has_zero_std_slope_and_delta(spark):
    rows = spark.createDataFrame([(9, 5, 3.5, 1.0)], SCHEMA)
    got = rows.transform(with_features(TINY)).collect()[0].asDict()
    for n in TINY.windows:
        assert [got[f"x_{s}_{n}"] for s in pdf.STATS] == [3.5, 0.0, 3.5, 3.5, 0.0, 0.0]
    assert got["since"] == 0.0


def test_empty_input_gives_the_feature_columns_and_no_rows(spark):
    rows = spark.createDataFrame([], SCHEMA).transform(with_features(TINY))
    assert rows.columns == ["unit", "cycle", "x", "c", *TINY.names[2:], "warming"]
    assert rows.count() == 0


def test_warming_readings_are_the_same_in_both_engines(spark):
    """warmup 3: a device's first two readings (by order, not by arrival) are warming."""
    warm = FeatureConfig("unit", "cycle", ("x", "c"), (2, 3), warmup=3)
    got, want = spark_and_pandas(spark, warm, horizon=1)
    assert (
        got["warming"].tolist() == want["warming"].tolist() == [True, True, False, False, True, True, False]
    )
    assert_close(got, want, warm.names)  # the features themselves do not change


def test_a_null_sensor_fails_the_query(spark):
    rows = spark.createDataFrame([(1, 1, 1.0, 2.0), (1, 2, None, 2.0)], SCHEMA)
    with pytest.raises(PySparkException, match="sensor values must be non-null"):
        rows.transform(with_features(TINY)).collect()
    with pytest.raises(ValueError, match="columns missing"):
        rows.drop("c").transform(with_features(TINY))


@pytest.fixture(scope="module")
def fd001_head(tmp_path_factory):
    """The first 5 units of train_FD001 (1116 readings) as a raw file, and pandas' reading of it."""
    path = tmp_path_factory.mktemp("fd001") / "train_head.txt"
    lines = (SHARED / "cmapss" / "train_FD001.txt").read_text().splitlines(keepends=True)
    path.write_text("".join(line for line in lines if int(line.split()[0]) <= 5))
    return path, read_raw(SPEC, path)


@pytest.fixture(scope="module")
def spark_featured(spark, fd001_head):
    """Spark's features of the first 5 units, read by jobs/features.py's reader; cached."""
    rows = read_readings(spark, SPEC, str(fd001_head[0])).transform(with_features(feature_config(SPEC)))
    rows = rows.persist()
    yield rows
    rows.unpersist()


def test_cmapss_first_units_match_pandas_in_every_column(fd001_head, spark_featured):
    _, raw = fd001_head
    config, horizon = feature_config(SPEC), pdl.rul_max(SPEC)
    got = to_pandas(spark_featured.transform(with_labels(config, horizon)))
    want = pdl.with_labels(pdf.with_features(raw, config), config, horizon).reset_index(drop=True)
    assert len(got) == 1116 and list(got.columns) == list(want.columns)
    # Spark types the readings by the spec; pandas infers them, so s17 and s18 (whole numbers
    # in FD001, "float" in the spec) are int64 there: compare the readings' values exactly
    types = {c.out: "int64" if c.type == "int" else "float64" for c in SPEC.columns}
    types |= {c: str(want[c].dtype) for c in want.columns if c not in types}  # features, rul, label
    assert got.dtypes.astype(str).to_dict() == types
    derived = config.names[len(config.sensors) :]
    exact = [c for c in want.columns if c not in derived]  # readings (as parsed), rul, label
    pd.testing.assert_frame_equal(got[exact], want[exact].astype(got.dtypes[exact]), check_exact=True)
    assert_close(got, want, derived)


@pytest.fixture(scope="module")
def registry(fd001_head, tmp_path_factory):
    """A logistic model trained on the first 5 units (3 folds), saved as the current version."""
    _, raw = fd001_head
    config = feature_config(SPEC)
    frame = pdl.with_labels(pdf.with_features(raw, config), config, pdl.rul_max(SPEC))
    with threadpool_limits(limits=1):
        result = train(frame, config, ModelConfig(candidates=("logistic",), folds=3))
    where = tmp_path_factory.mktemp("registry") / "models"
    save_model(result.model, where, {"note": "test_spark_features"})
    return where


def pandas_scores(raw: pd.DataFrame, where) -> tuple[pd.DataFrame, float]:
    model = load_model(where)
    featured = pdf.with_features(raw, model.features).reset_index(drop=True)
    return featured.assign(probability=score(featured, model)), model.threshold


def test_spark_scores_equal_pandas_scores(fd001_head, spark_featured, registry):
    # rows that hold the features are scored as they are (the command's test starts from raw)
    got = to_pandas(spark_featured.transform(with_scores(registry)))
    _, raw = fd001_head
    want, threshold = pandas_scores(raw, registry)
    assert list(got.columns) == ["unit", "cycle", "probability", "alert"]
    assert got[["unit", "cycle"]].equals(want[["unit", "cycle"]])
    assert_close(got, want, ["probability"])
    clear = (want["probability"] - threshold).abs() > 1e-9  # away from the cut, alerts must agree
    assert clear.sum() > 900
    assert got["alert"][clear].tolist() == (want["probability"] >= threshold)[clear].tolist()
    assert 0 < got["alert"].sum() < len(got)


def test_the_model_loads_once_per_worker(spark_featured, registry):
    # six tasks on two cores: workers are reused, and a cache per task would load again
    scored = spark_featured.repartition(6).transform(with_scores(registry, worker_columns=True))
    got = scored.toPandas()
    loads = got.groupby("worker_pid")["model_load"].nunique()
    assert len(got) == 1116 and scored.rdd.getNumPartitions() == 6
    assert (loads == 1).all() and got["model_load"].nunique() == len(loads)
    assert len(loads) < 6  # some worker ran several tasks, all on the one model it loaded


@pytest.mark.slow
def test_score_command_runs_spark_submit(fd001_head, registry, tmp_path):
    path, raw = fd001_head
    out = tmp_path / "scores"
    argv = ["score", "--spec", str(ROOT / "conf" / "cmapss.toml"), "--model", str(registry)]
    assert cli([*argv, "--input", str(path), "--output", str(out), "--master", "local[2]"]) == 0
    assert (out / "_SUCCESS").exists()
    got = pd.read_parquet(out).sort_values(["unit", "cycle"]).reset_index(drop=True)
    want, _ = pandas_scores(raw, registry)
    assert list(got.columns) == ["unit", "cycle", "probability", "alert"]
    assert got[["unit", "cycle"]].equals(want[["unit", "cycle"]])
    assert_close(got, want, ["probability"])


def test_score_command_refuses_bad_usage_before_spark_starts(fd001_head, tmp_path):
    path, _ = fd001_head
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("not a sensorpipe output\n")
    argv = ["score", "--model", str(tmp_path / "m"), "--input", str(path), "--output"]
    assert cli([*argv, str(tmp_path / "mine"), "--spec", str(ROOT / "conf" / "cmapss.toml")]) == 2
    assert cli([*argv, str(tmp_path / "out"), "--spec", str(tmp_path / "missing.toml")]) == 2
    assert (tmp_path / "mine" / "notes.txt").exists() and not (tmp_path / "out").exists()


def test_spark_maintenance_origin_and_failure_labels_equal_pandas(spark):
    """`since` from the last maintenance (one at a reading's very time counts) and labels from
    the next failure within the horizon: Spark's merged-log windows against pandas' merge_asof."""
    from datetime import UTC, datetime, timedelta

    from jobs.features import with_failure_labels

    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    config = FeatureConfig("device", "ts", ("x",), (2,))
    readings = [("a", t0 + timedelta(minutes=m), float(m)) for m in (0, 1, 2, 3, 5)]
    readings += [("b", t0 + timedelta(minutes=m), 1.0) for m in (1, 2)]
    maint = [("a", t0 + timedelta(minutes=2)), ("a", t0 + timedelta(minutes=4)), ("c", t0)]
    fails = [("a", t0 + timedelta(minutes=3)), ("a", t0 + timedelta(minutes=9))]
    rows = spark.createDataFrame(readings, "device string, ts timestamp, x double")
    m = spark.createDataFrame(maint, "device string, ts timestamp")
    f = spark.createDataFrame(fails, "device string, ts timestamp")
    horizon = 2 / 60  # two minutes
    got = to_pandas(
        rows.transform(with_features(config, m)).transform(with_failure_labels(config, f, horizon)),
        keys=("device", "ts"),
    )
    frame = pd.DataFrame(readings, columns=["device", "ts", "x"])
    mp, fp = pd.DataFrame(maint, columns=["device", "ts"]), pd.DataFrame(fails, columns=["device", "ts"])
    want = pdl.with_failure_labels(pdf.with_features(frame, config, mp), config, fp, horizon)
    want = want.sort_values(["device", "ts"]).reset_index(drop=True)
    # by hand: a's origins 0, 0, 2, 2, 4 minutes; next failures 3, 3, 3, 3, 9 minutes
    assert got["since"].tolist() == [0.0, 60.0, 0.0, 60.0, 60.0, 0.0, 60.0]
    assert got["label"].tolist() == [0, 1, 1, 1, 0, 0, 0]
    assert got["ttf"].tolist()[:5] == [180.0, 120.0, 60.0, 0.0, 240.0]
    assert got["ttf"].iloc[5:].isna().all()
    assert_close(got, want, [*config.names, "label"])
    np.testing.assert_array_equal(got["ttf"].to_numpy(float), want["ttf"].to_numpy(float))
