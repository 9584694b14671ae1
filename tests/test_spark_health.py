"""[features.health] on Spark (jobs/health.py, jobs/features.py) against the pandas engine and by hand.

The indicators run on Spark through the pandas functions themselves (one device per worker),
so they must agree with sensorpipe.model.features row for row; the load coefficient k is
Spark's own (hourly medians, sums) and must agree with health.fit_k within 1e-9.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from test_health import config as toy_config
from test_health import toy
from threadpoolctl import threadpool_limits

import sensorpipe.model.features as pdf
from conftest import ROOT
from jobs.features import fitted, with_features
from jobs.score import with_scores
from sensorpipe.cli import main as cli
from sensorpipe.core.spec import load_spec
from sensorpipe.model import history
from sensorpipe.model.classifier import ModelConfig, score, train
from sensorpipe.model.features import FeatureConfig, feature_config
from sensorpipe.model.health import NAMES, HealthConfig
from sensorpipe.model.registry import load_model, save_model

RTOL, ATOL = 1e-9, 1e-12
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def spark_rows(spark, frame: pd.DataFrame, schema: str):
    """frame's rows as a Spark DataFrame (pandas timestamps as datetimes)."""
    rows = [
        tuple(v.to_pydatetime() if isinstance(v, pd.Timestamp) else v for v in r)
        for r in frame.itertuples(index=False)
    ]
    return spark.createDataFrame(rows, schema)


def test_toy_indicators_equal_pandas_and_the_hand_values(spark):
    """test_health's toy (a stopped reading, the drift stored scaled) as device a, and again as
    device b with a maintenance at 3:10 (a new segment for the wear fit): one Spark run."""
    frame = pd.concat([toy(), toy().assign(dev="b")], ignore_index=True)
    config = toy_config()
    schema = "dev string, ts timestamp, wear double, speed double, drift double, load double"
    at = T0 + timedelta(hours=3, minutes=10)
    maint = pd.DataFrame({"dev": ["b"], "ts": [pd.Timestamp(at)]})
    spark_maint = spark.createDataFrame([("b", at)], "dev string, ts timestamp")
    got = spark_rows(spark, frame, schema).transform(with_features(config, spark_maint)).toPandas()
    got = got.sort_values(["dev", "ts"]).reset_index(drop=True)
    want = pdf.with_features(frame, config, maint).reset_index(drop=True)
    assert list(got.columns) == list(want.columns)
    for name in config.names:
        np.testing.assert_allclose(got[name], want[name], rtol=RTOL, atol=ATOL, err_msg=name)
    # by hand (tests/test_health.py): a's readings, then b's, whose 3:30 and 4:00 are in a
    # segment of 1 hour (its healthy value)
    fitted_a, fitted_b = [1.2636024, 1.2636024, 1.27060804], [1.2636024, 1.0, 1.0]
    assert got["wear_level"].tolist() == pytest.approx([1.0] * 6 + fitted_a + [1.0] * 6 + fitted_b, rel=1e-6)
    drop = [0.0, 0.0, 0.0, 0.0, -1.0, -1.0, 6.0, 6.0, 0.0]
    assert got["drift_drop"].tolist() == pytest.approx(drop + drop)


def test_load_coefficient_from_hourly_medians_by_hand(spark):
    """Device a: hours 0-2 with two running readings each (an even count: the median is the
    mean of the two, as pandas has it) and a stopped one in hour 2 (left out); device b: one
    reading in hours 0 and 1. The drift is stored scaled, (kPa - 100) / 2.
    Hourly medians (drift, load): a (11, 2), (21, 6), (15, 3); b (5, 1), (9, 3). Each device's
    means removed: a's sums of products 62/3 and squares 26/3, b's 4 and 2: k = 74/32."""
    readings = {
        "a": [(0, 10, 1), (0, 12, 3), (1, 20, 5), (1, 22, 7), (2, 14, 2), (2, 16, 4), (2, 100, 50)],
        "b": [(0, 5, 1), (1, 9, 3)],
    }
    rows = []
    for dev, values in readings.items():
        for i, (h, drift, load) in enumerate(values):
            speed = 0.0 if drift == 100 else 100.0
            ts = T0 + timedelta(hours=h, minutes=i)
            rows.append((dev, ts, 1.0, speed, (drift - 100.0) / 2.0, float(load)))
    frame = pd.DataFrame(rows, columns=["dev", "ts", "wear", "speed", "drift", "load"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    config = FeatureConfig(
        "dev", "ts", ("wear",), (1,), health=HealthConfig("wear", "speed", "drift", "load", min_speed=50.0)
    )
    cleaning = {"drift": {"center": 100.0, "divisor": 2.0}}
    got = fitted(
        config,
        spark.createDataFrame(
            rows, "dev string, ts timestamp, wear double, speed double, drift double, load double"
        ),
        cleaning,
    )
    want = pdf.fitted(config, frame, cleaning)
    assert got.health.k == pytest.approx(74 / 32, rel=1e-12) and want.health.k == pytest.approx(
        74 / 32, rel=1e-12
    )
    assert got.health.scale == want.health.scale == (("drift", 100.0, 2.0),)


SCALE = {"vibration": (4.0, 3.0), "pressure": (200.0, 150.0), "load": (60.0, 30.0)}


@pytest.fixture(scope="module")
def history_run(tmp_path_factory):
    """3 devices, 120 hours, a reading every 5 minutes, no feed faults (seed 1: dev-00002 has
    two maintenances and a failure); three health sensors scaled by hand as a cleaning would
    (center, divisor: SCALE). conf/sensors.toml with shorter health windows, so that both
    indicators are defined for most of the readings."""
    base = tmp_path_factory.mktemp("health")
    text = (ROOT / "conf" / "sensors.toml").read_text()
    spec = base / "health.toml"
    shorter = 'load = "load"\nfit_hours = 12\nbaseline_hours = 24\nbaseline_min = 6\n'
    spec.write_text(text.replace('load = "load"\n', shorter, 1))
    sim = ["simulate", "--spec", str(spec), "--devices", "3", "--hours", "120", "--seed", "1"]
    assert cli([*sim, "--interval-s", "300", "--clean", "--output", str(base / "sim")]) == 0
    # exact float parsing: pandas' default parser may be 1 ulp off, and the wear fit's grid
    # search can turn a 1-ulp difference into another fitted level
    frame = pd.read_csv(base / "sim" / "sensors.csv", float_precision="round_trip")
    frame = frame.assign(ts=pd.to_datetime(frame["ts"], utc=True), rpm=frame["rpm"].astype(float))
    for name, (center, divisor) in SCALE.items():
        frame[name] = (frame[name] - center) / divisor
    maint = history.read_log(base / "sim" / "maintenance.csv", feature_config(load_spec(spec)))
    return load_spec(spec), frame.drop(columns="model"), maint


def test_simulated_history_equals_pandas_row_for_row(spark, history_run):
    spec, frame, maint = history_run
    config = feature_config(spec)
    cleaning = {name: {"center": c, "divisor": d} for name, (c, d) in SCALE.items()}
    want_config = pdf.fitted(config, frame, cleaning, maint)
    want = pdf.with_features(frame, want_config, maint).reset_index(drop=True)

    rows = spark.createDataFrame(frame)
    spark_maint = spark.createDataFrame(maint[[config.device, config.order]])
    got_config = fitted(config, rows, cleaning, spark_maint)
    assert got_config.health.k == pytest.approx(want_config.health.k, rel=1e-9)
    assert got_config.health.scale == want_config.health.scale and len(got_config.health.scale) == 3
    got = rows.transform(with_features(got_config, spark_maint)).toPandas()
    got = got.sort_values([config.device, config.order], kind="stable").reset_index(drop=True)

    assert len(got) == len(want) == 3 * 120 * 12 and list(got.columns) == list(want.columns)
    assert got[config.device].tolist() == want[config.device].tolist()
    assert (got[config.order].dt.tz_localize("UTC") == want[config.order]).all()
    for name in config.names:
        np.testing.assert_allclose(got[name], want[name], rtol=RTOL, atol=ATOL, err_msg=name)
    assert got["warming"].tolist() == want["warming"].tolist()
    # the indicators are not all at their healthy values: the comparison has teeth
    for name, healthy in zip(NAMES, (1.0, 0.0), strict=True):
        assert (got[name] != healthy).mean() > 0.5, name
    # a segment's first hour has the healthy wear level: dev-00002's first hour and the first
    # hour after each of its two maintenances, 12 readings each
    assert maint[config.device].tolist() == ["dev-00002"] * 2
    first = got[(got[config.device] == "dev-00002") & (got["since"] < 3600)]
    assert len(first) == 36 and (first["wear_level"] == 1.0).all()


def test_an_unfitted_config_is_refused(spark):
    with pytest.raises(ValueError, match="no fitted load coefficient"):
        with_features(toy_config(HealthConfig("wear", "speed", "drift", "load")))


def test_spark_scores_of_a_health_model_equal_pandas(spark, history_run, tmp_path):
    """A card keeps the fitted [features.health] (k, scale): jobs/score.py computes the
    indicators from it as pandas' score does, and the probabilities agree."""
    spec, frame, _ = history_run
    cleaning = {name: {"center": c, "divisor": d} for name, (c, d) in SCALE.items()}
    config = pdf.fitted(feature_config(spec), frame, cleaning)
    featured = pdf.without_warming(pdf.with_features(frame, config))
    # any label will do, as long as the model weighs the indicators
    featured = featured.assign(label=(featured["drift_drop"] > featured["drift_drop"].median()).astype(int))
    with threadpool_limits(limits=1):
        result = train(featured, config, ModelConfig(candidates=("logistic",), folds=3))
    save_model(result.model, tmp_path / "m", {"note": "test_spark_health"})
    model = load_model(tmp_path / "m")
    assert model.features == config and model.features.health.k is not None

    got = spark.createDataFrame(frame).transform(with_scores(tmp_path / "m")).toPandas()
    got = got.sort_values(["device_id", "ts"], kind="stable").reset_index(drop=True)
    ordered = frame.sort_values(["device_id", "ts"], kind="stable").reset_index(drop=True)
    want = score(ordered, model).to_numpy()
    warming = got["probability"].isna().to_numpy()
    assert warming.sum() == 3 * 59  # each device's first [features] warmup - 1 readings
    np.testing.assert_allclose(got["probability"][~warming], want[~warming], rtol=RTOL, atol=ATOL)
