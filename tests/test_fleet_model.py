"""The fleet's training set: time since maintenance, failure-horizon labels, cleaning raw
values as a cleaning run does, and `sensorpipe train` on a simulated fleet's cleaned history."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT
from sensorpipe.cli import main as cli
from sensorpipe.core.spec import load_spec
from sensorpipe.core.transform import sensor_cleaning
from sensorpipe.core.values import parse_timestamp
from sensorpipe.model.features import FeatureConfig, clean_sensors, with_features
from sensorpipe.model.history import read_clean, split_devices, stratified_sample
from sensorpipe.model.labels import with_failure_labels
from sensorpipe.model.registry import load_model

CONFIG = FeatureConfig("device", "ts", ("x",), (2,))


def _ts(seconds):
    return pd.to_datetime(np.asarray(seconds) * 1_000_000_000, utc=True)


def test_since_counts_from_the_last_maintenance_or_the_first_reading():
    frame = pd.DataFrame(
        {"device": ["a"] * 4 + ["b"] * 2, "ts": _ts([0, 60, 120, 180, 30, 90]), "x": 1.0},
        index=[5, 4, 3, 2, 1, 0],
    )
    maint = pd.DataFrame({"device": ["a", "a", "c"], "ts": _ts([90, 180, 0])})
    out = with_features(frame, CONFIG, maint)
    # a: origin 0, then the maintenance at 90, then the one at 180 (at the reading itself)
    assert out.loc[[5, 4, 3, 2], "since"].tolist() == [0.0, 60.0, 30.0, 0.0]
    assert out.loc[[1, 0], "since"].tolist() == [0.0, 60.0]  # b: no maintenance, its first reading
    assert with_features(frame, CONFIG).loc[[5, 4, 3, 2], "since"].tolist() == [0.0, 60.0, 120.0, 180.0]


def test_failure_labels_look_forward_within_the_horizon():
    frame = pd.DataFrame({"device": ["a"] * 5 + ["b"], "ts": _ts([0, 60, 120, 180, 300, 0]), "x": 1.0})
    failures = pd.DataFrame({"device": ["a", "a"], "ts": _ts([200, 1000])})
    out = with_failure_labels(frame, CONFIG, failures, horizon_hours=100 / 3600)
    assert out["ttf"].tolist()[:5] == [200.0, 140.0, 80.0, 20.0, 700.0]
    assert np.isnan(out["ttf"].iloc[5])
    assert out["label"].tolist() == [0, 0, 1, 1, 0, 0]


def test_clean_sensors_imputes_clips_scales_and_rounds_ints_half_to_even():
    raw = pd.DataFrame({"f": [None, 12.0, -1.0, 7.0], "i": [None, 11, 0, 4]})
    cleaning = {
        "f": {"fill": 5.0, "bounds": [0.0, 10.0], "center": 5.0, "divisor": 2.0, "as_int": False},
        "i": {"fill": 3, "bounds": [0.5, 10.5], "center": None, "divisor": None, "as_int": True},
    }
    out = clean_sensors(raw, cleaning)
    assert out["f"].tolist() == [0.0, 2.5, -2.5, 1.0]
    assert out["i"].tolist() == [3.0, 10.0, 0.0, 4.0]
    zero = clean_sensors(raw, {"f": {"fill": 1.0, "bounds": None, "center": 1.0, "divisor": 0.0}})
    assert zero["f"].tolist() == [0.0, 0.0, 0.0, 0.0]


def test_split_and_sample():
    train, held = split_devices(["d3", "d1", "d2", "d4", "d1"], 0.25, seed=0)
    assert len(held) == 1 and sorted(train + held) == ["d1", "d2", "d3", "d4"]
    assert split_devices(["d1", "d2", "d3", "d4"], 0.25, seed=0) == (train, held)
    frame = pd.DataFrame({"label": [1] * 100 + [0] * 900})
    sample = stratified_sample(frame, 500, seed=0)
    assert len(sample) == 500 and sample["label"].sum() == 50


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """A small simulated fleet, with every feed fault but malformed lines, cleaned by the pipe engine."""
    base = tmp_path_factory.mktemp("fleet")
    spec = ROOT / "conf" / "sensors.toml"
    sim = ["simulate", "--spec", str(spec), "--devices", "12", "--hours", "480", "--seed", "3"]
    assert cli([*sim, "--output", str(base / "sim"), "--interval-s", "300", "--malformed-rate", "0"]) == 0
    out = ["--spec", str(spec), "--input", str(base / "sim" / "sensors.csv"), "--output", str(base / "clean")]
    assert cli(["clean", "--engine", "pipe", *out]) == 0
    return base


def test_card_cleaning_turns_raw_readings_into_the_clean_output(fleet):
    """The vectorized cleaning the stream uses equals the pipe engine's row by row."""
    spec = load_spec(ROOT / "conf" / "sensors.toml")
    sensors = ["temperature", "vibration", "pressure", "rpm", "load"]
    clean, stats = read_clean(fleet / "clean", spec, ["device_id", "ts", *sensors])
    raw = pd.read_csv(fleet / "sim" / "sensors.csv", dtype=str, keep_default_na=False)
    micros = [parse_timestamp(v) for v in raw["ts"]]  # ISO and epoch forms, as the spec allows
    raw["ts"] = pd.to_datetime(pd.Series(micros, dtype="int64") * 1000, utc=True)
    raw = raw.drop_duplicates(["device_id", "ts"])  # the clean output keeps the first of a key
    for s in sensors:  # values the spec calls invalid are nulls before imputation
        lo, hi = spec.column(s).range
        raw[s] = pd.to_numeric(raw[s], errors="coerce").where(lambda v, lo=lo, hi=hi: (v >= lo) & (v <= hi))
    mine = clean_sensors(raw, sensor_cleaning(spec, stats, sensors))
    both = clean.merge(mine, on=["device_id", "ts"], suffixes=("", "_mine"))
    assert len(both) == len(clean) > 10_000
    for s in sensors:
        np.testing.assert_allclose(both[f"{s}_mine"], both[s].astype(float), rtol=1e-9, atol=1e-12)


@pytest.mark.slow
def test_repeats_with_a_failure_log_is_a_spec_error(fleet, tmp_path, capsys):
    """[model] repeats pools per-reading predictions; a fleet's choice is per event on one split."""
    spec = tmp_path / "sensors.toml"
    spec.write_text(
        (ROOT / "conf" / "sensors.toml").read_text().replace("folds = 4", "folds = 3\nrepeats = 2")
    )
    sim = fleet / "sim"
    args = ["train", "--spec", str(spec), "--input", str(fleet / "clean"), "--model", str(tmp_path / "m")]
    assert cli([*args, "--failures", str(sim / "failures.csv"), "--threads", "1"]) == 2
    assert "model.repeats" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_train_on_a_fleet_holds_out_devices_and_keeps_the_cleaning(fleet, tmp_path):
    spec = tmp_path / "sensors.toml"
    text = (ROOT / "conf" / "sensors.toml").read_text()
    text = text.replace('candidates = ["logistic", "hgb"]', 'candidates = ["logistic"]')
    spec.write_text(text.replace("folds = 4", "folds = 3"))
    sim = fleet / "sim"
    args = ["train", "--spec", str(spec), "--input", str(fleet / "clean"), "--model", str(tmp_path / "m")]
    logs = ["--failures", str(sim / "failures.csv"), "--maintenance", str(sim / "maintenance.csv")]
    assert cli([*args, *logs, "--threads", "1"]) == 0
    model = load_model(tmp_path / "m")
    card = model.card
    devices = [f"dev-{i:05d}" for i in range(12)]
    assert len(card["holdout_devices"]) == 3 and set(card["holdout_devices"]) <= set(devices)
    assert card["devices"] == 9
    # three devices, a reading every 5 minutes, less each one's first 59 ([features] warmup = 60)
    assert card["metrics"]["holdout"]["n"] == 3 * (480 * 12 - 59)
    assert set(card["cleaning"]) == {"temperature", "vibration", "pressure", "rpm", "load"}
    assert card["label"]["horizon_hours"] == 24.0
    assert json.loads(json.dumps(card["baseline"]["holdout"]))["n"] == card["metrics"]["holdout"]["n"]
    assert [d["path"] for d in card["training_data"]] == [
        str(fleet / "clean"),
        str(sim / "failures.csv"),
        str(sim / "maintenance.csv"),
    ]
    # alerting chosen per event on the out-of-fold predictions, for the spec's objective
    alerting = card["alerting"]
    assert alerting["objective"] == {
        "max_false_per_device_day": 0.02,
        "window_hours": 72.0,
        "min_lead_hours": 1.0,
        "repeat_hours": 71.0,
    }
    assert alerting["model"] == "logistic" and alerting["quiet"] in ("30 minutes", "2 hours", "6 hours")
    assert card["threshold"] == alerting["threshold"]
    oof = card["metrics"]["out_of_fold_events"]
    assert oof == alerting["out_of_fold_events"] and alerting["failures_behind"] == oof["judged"]
    assert oof["threshold"] == card["threshold"] and oof["quiet_hours"] == alerting["quiet_hours"]
    assert card["baseline"]["oof_events"]["quiet_hours"] == alerting["quiet_hours"]
    assert card["metrics"]["holdout_events"]["quiet_hours"] == alerting["quiet_hours"]
    # `evaluate` on a fleet judges per event with the card's threshold and quiet, baseline beside
    out = tmp_path / "eval"
    args = ["evaluate", "--spec", str(spec), "--model", str(tmp_path / "m"), "--input", str(fleet / "clean")]
    assert cli([*args, *logs, "--output", str(out)]) == 0
    doc = json.loads((out / "metrics.json").read_text())
    e = doc["events"]
    assert (e["threshold"], e["quiet_hours"]) == (card["threshold"], alerting["quiet_hours"])
    assert e["judged"] + e["unjudged"] == e["failures"] == len(pd.read_csv(sim / "failures.csv"))
    assert len(pd.read_csv(out / "alerts.csv")) == e["alerts"]
    assert doc["baseline"]["events"]["failures"] == e["failures"] and doc["n"] == doc["baseline"]["test"]["n"]
    # a spec's [stream] quiet overrides the card's, in `evaluate` as in the stream: 10,000 hours
    # is longer than the 480 h history, so no episode ever ends: a device alerts again only once
    # its alarm has stood for [alerts] repeat_hours (71 h in conf/sensors.toml)
    spec.write_text(spec.read_text() + '\n[stream]\nquiet = "10000 hours"\n')
    assert cli([*args, *logs, "--output", str(tmp_path / "eval-quiet")]) == 0
    doc = json.loads((tmp_path / "eval-quiet" / "metrics.json").read_text())
    assert (
        doc["quiet_hours"]
        == doc["events"]["quiet_hours"]
        == doc["baseline"]["events"]["quiet_hours"]
        == 10000
    )
    alerts = pd.read_csv(tmp_path / "eval-quiet" / "alerts.csv", parse_dates=["ts"])
    gaps = alerts.sort_values(["device_id", "ts"]).groupby("device_id")["ts"].diff().dropna()
    assert len(alerts) == doc["events"]["alerts"] and len(gaps) and (gaps >= pd.Timedelta(hours=71)).all()
    assert doc["events"]["threshold"] == card["threshold"]


def test_evaluate_takes_the_quiet_the_stream_takes():
    from sensorpipe.core.spec import StreamConfig
    from sensorpipe.model.evaluate import stream_quiet_us

    card = {"alerting": {"quiet": "6 hours", "quiet_hours": 6.0}}
    assert stream_quiet_us(StreamConfig(), card) == 6 * 3_600_000_000
    assert stream_quiet_us(StreamConfig(quiet="45 minutes"), card) == 45 * 60_000_000
    assert stream_quiet_us(StreamConfig(), {}) == 30 * 60_000_000


def test_label_section_needs_exactly_one_rule(tmp_path):
    from sensorpipe.core.spec import SpecError
    from sensorpipe.model.labels import label_config

    text = (ROOT / "conf" / "sensors.toml").read_text()
    for bad, key in (
        ("horizon_hours = 24\nrul_max = 3", "label"),
        ("horizon_hours = -1", "label.horizon_hours"),
    ):
        path = tmp_path / "s.toml"
        path.write_text(text.replace("horizon_hours = 24 ", bad + " "))
        with pytest.raises(SpecError) as err:
            label_config(load_spec(path))
        assert err.value.key == key


@pytest.mark.slow
def test_spark_training_sees_the_rows_pandas_sees(fleet, tmp_path, spark):
    """jobs/train.py (features on Spark, rows to the driver) and the pandas path train on the
    same rows with the same held-out devices, so they agree on every count and, up to the
    order in which rows reach scikit-learn, on the model. The spec is conf/sensors.toml with
    [features.health]: both fit the same load coefficient k."""
    from argparse import Namespace

    from jobs.train import train as spark_train

    spec = tmp_path / "sensors.toml"
    text = (ROOT / "conf" / "sensors.toml").read_text()
    text = text.replace('candidates = ["logistic", "hgb"]', 'candidates = ["logistic"]')
    spec.write_text(text.replace("folds = 4", "folds = 3"))
    sim = fleet / "sim"
    logs = {"failures": str(sim / "failures.csv"), "maintenance": str(sim / "maintenance.csv")}
    args = Namespace(spec=str(spec), input=str(fleet / "clean"), model=str(tmp_path / "spark"), **logs)
    _, by_spark = spark_train(spark, args)
    pandas_args = [
        "train",
        "--spec",
        str(spec),
        "--input",
        str(fleet / "clean"),
        "--model",
        str(tmp_path / "pd"),
    ]
    assert cli([*pandas_args, "--failures", logs["failures"], "--maintenance", logs["maintenance"]]) == 0
    by_pandas = load_model(tmp_path / "pd").card
    for key in ("rows", "devices", "label", "holdout_devices", "cleaning"):
        assert by_spark[key] == by_pandas[key], key
    health = by_spark["feature_config"]["health"], by_pandas["feature_config"]["health"]
    assert health[0]["k"] == pytest.approx(health[1]["k"], rel=1e-9) and health[0]["k"] > 0
    assert {**health[0], "k": 0} == {**health[1], "k": 0}  # the same scale and windows
    assert by_spark["engine"] == "spark" and "sample" not in by_spark
    # both choose the alerting per event on the same out-of-fold predictions (jobs/train.py
    # passes the failure log as the pandas path does): the same choice, the same event counts
    a, b = by_spark["alerting"], by_pandas["alerting"]
    assert (a["model"], a["quiet"], a["failures_behind"]) == (b["model"], b["quiet"], b["failures_behind"])
    assert a["threshold"] == pytest.approx(b["threshold"], rel=1e-6)
    assert by_spark["threshold"] == a["threshold"] and a["objective"] == b["objective"]
    count = ("failures", "judged", "caught", "missed", "by_mode", "alerts", "false_alerts")
    for part in ("out_of_fold_events", "baseline_out_of_fold_events"):
        assert {k: a[part][k] for k in count} == {k: b[part][k] for k in count}, part
    assert a["out_of_fold_events"]["judged"] > 0
    # conf/sensors.toml sets alert levels: both deploy the model OR the indicators' alarm
    assert a["model_alone_out_of_fold_events"]["caught"] == b["model_alone_out_of_fold_events"]["caught"]
    assert load_model(tmp_path / "pd").estimator.levels == (4.7, 12.0)
    held = by_spark["metrics"]["holdout_events"], by_pandas["metrics"]["holdout_events"]
    assert {k: held[0][k] for k in count} == {k: held[1][k] for k in count}
    for split in ("holdout", "out_of_fold"):
        a, b = by_spark["metrics"][split], by_pandas["metrics"][split]
        assert a["n"] == b["n"]
        assert a["roc_auc"] == pytest.approx(b["roc_auc"], abs=1e-6)


def test_spark_alerting_rows_are_whole_devices_within_max_rows(spark):
    """jobs/train.py judges the alerting on whole device timelines: every training row when
    they fit in max_rows (None: the frame itself), else every row of some devices."""
    from jobs.train import event_rows

    rows = [("a", i) for i in range(50)] + [("b", i) for i in range(40)] + [("c", i) for i in range(30)]
    df = spark.createDataFrame(rows, ["device_id", "n"])
    assert event_rows(df, 120, 120, 0, "device_id") == (None, None)
    whole, note = event_rows(df, 120, 80, 0, "device_id")
    sizes = whole.groupby("device_id").size().to_dict()
    # a device is kept with all its rows or not at all, in a seeded order, skipping one that
    # does not fit: 50 + 40 > 80, so whatever the order it is a and c (80) or b and c (70)
    assert sizes in ({"a": 50, "c": 30}, {"b": 40, "c": 30})
    assert sum(sizes.values()) <= 80 and f"{sum(sizes.values())} of 120 rows" in note
