"""Per-device health indicators (sensorpipe.model.health) against values worked out by hand,
and against tests/reference_features.py (the contract again, in plain Python) on a fleet."""

from __future__ import annotations

import tomllib

import numpy as np
import pandas as pd
import pytest
from reference_features import features_by_definition

from sensorpipe.core.spec import SpecError, parse_spec
from sensorpipe.model.features import FeatureConfig, clean_sensors, feature_config, fitted, with_features
from sensorpipe.model.health import HealthConfig, fitted_levels

HEALTH = HealthConfig(
    "wear", "speed", "drift", "load", min_speed=50.0, fit_hours=3, recent_hours=1,
    baseline_hours=3, baseline_min=2, k=0.5,
)  # fmt: skip


def curve(tau: float) -> float:
    """y of a bearing with c = 2, a = 0.5 and r = 1/300 per hour (both on the fit's grid)."""
    return 2.0 * (1.0 + 4.0 * (0.5 + tau / 300.0) ** 4)


def test_the_fit_finds_the_healthy_level_of_a_curve_on_its_grid():
    tau = np.arange(200.0)
    lc = fitted_levels(tau, np.log([curve(t) for t in tau]))
    assert np.exp(lc[[2, 50, 199]]) == pytest.approx([2.0, 2.0, 2.0], rel=1e-9)


def test_a_prefix_does_not_depend_on_what_follows():
    tau = np.arange(60.0)
    ly = np.log([curve(t) for t in tau])
    ly[40:] += 1.0  # a jump later on
    assert np.exp(fitted_levels(tau[:30], ly[:30])[-1]) == pytest.approx(2.0, rel=1e-9)
    assert fitted_levels(tau, ly)[29] == fitted_levels(tau[:30], ly[:30])[-1]


def toy() -> pd.DataFrame:
    """Device a: readings at :00 and :30 of hours 0-3 and at 4:00. y = wear / speed follows
    the curve by hour; z = drift - 0.5 load is 96, 98, 90, 94 by hour (hour 2's reading at
    :30 is a stopped machine, left out); the drift is stored scaled: (kPa - 100) / 2."""
    ts, wear, speed, drift, load = [], [], [], [], []
    z = {0: (95.0, 97.0), 1: (98.0, 98.0), 2: (90.0, 500.0), 3: (94.0, 94.0), 4: (50.0,)}
    for h, zs in z.items():
        for i, zi in enumerate(zs):
            stopped = (h, i) == (2, 1)
            ts.append(pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(hours=h, minutes=30 * i))
            speed.append(0.0 if stopped else 100.0)
            wear.append(100.0 * curve(h) * (9.0 if stopped else 1.0))
            load.append(10.0)
            drift.append((zi + 0.5 * 10.0 - 100.0) / 2.0)
    return pd.DataFrame({"dev": "a", "ts": ts, "wear": wear, "speed": speed, "drift": drift, "load": load})


SCALED = HealthConfig(**{**HEALTH.__dict__, "scale": (("drift", 100.0, 2.0),)})


def config(health=SCALED) -> FeatureConfig:
    return FeatureConfig("dev", "ts", ("wear",), (1,), health=health)


def batch(frame: pd.DataFrame, f: FeatureConfig, maintenance=None) -> pd.DataFrame:
    return with_features(frame, f, maintenance)


def reference(frame: pd.DataFrame, f: FeatureConfig, maintenance=None) -> pd.DataFrame:
    return features_by_definition(frame, {}, f, maintenance)


ENGINES = pytest.mark.parametrize("engine", [batch, reference])


@ENGINES
def test_indicators_per_reading_from_the_hours_before_it(engine):
    out = engine(toy(), config())
    # wear_level: fitted once 3 hours have medians; hour 3 sees hours 0-2: y(2) / 2
    # = 1 + 4 (0.5 + 2/300)^4 = 1.2636024; hour 4 sees hours 0-3: 1 + 4 (0.51)^4 = 1.27060804
    assert out["wear_level"].tolist() == pytest.approx(
        [1.0] * 6 + [1.2636024, 1.2636024, 1.27060804], rel=1e-6
    )
    # drift_drop: the median of the last 3 hourly medians (at least 2) minus the latest:
    # after hour 0 one median (undefined: 0.0); after 1: 97 - 98; after 2: 96 - 90; after 3: 94 - 94
    assert out["drift_drop"].tolist() == pytest.approx([0.0, 0.0, 0.0, 0.0, -1.0, -1.0, 6.0, 6.0, 0.0])


@ENGINES
def test_a_maintenance_starts_a_new_segment_for_the_wear_fit_only(engine):
    maint = pd.DataFrame({"dev": ["a"], "ts": [pd.Timestamp("2026-01-01 03:10", tz="UTC")]})
    out = engine(toy(), config(), maintenance=maint)
    # the reading at 3:00 is before the maintenance; 3:30 and 4:00 are in a segment of 1 hour
    assert out["wear_level"].tolist()[6:] == pytest.approx([1.2636024, 1.0, 1.0], rel=1e-6)
    # drift_drop runs over the device's hours whatever the segment: hour 3 has two medians
    # (94 before, 94 after); the last before hour 4 is the later one: median(90, 94, 94) - 94
    assert out["drift_drop"].tolist()[6:] == pytest.approx([6.0, 6.0, 0.0])


def fleet(seed: int = 1) -> pd.DataFrame:
    """Three devices, a reading every 10 minutes for 80 hours (device c starts 7 h late and
    pauses for 5 h): bearings wearing at different rates, a stopped machine now and then,
    the pressure falling on one device, some readings missing."""
    rng = np.random.default_rng(seed)
    parts = []
    for dev, start, rate, fall in (("a", 0, 1 / 400, 0.0), ("b", 0, 1 / 150, 25.0), ("c", 7, 0.0, 0.0)):
        t = np.arange(start * 6, 480)
        t = t[(rng.random(len(t)) > 0.05) & ~((dev == "c") & (t >= 200) & (t < 230))]
        tau = t / 6.0
        rpm = np.where(rng.random(len(t)) < 0.08, 0.0, 1400.0 + 200.0 * rng.random(len(t)))
        wear = 0.002 * (1 + 4 * (0.2 + rate * tau) ** 4) * rpm * (1 + 0.1 * rng.random(len(t)))
        load = 40.0 + 40.0 * rng.random(len(t))
        pressure = (
            300.0 + 0.6 * load - fall * np.clip(tau - 60.0, 0.0, None) / 20.0 + rng.normal(0, 1.5, len(t))
        )
        ts = pd.Timestamp("2026-03-01 00:03", tz="UTC") + pd.to_timedelta(t * 10, unit="min")
        parts.append(
            pd.DataFrame(
                {
                    "device_id": dev,
                    "ts": ts,
                    "vibration": wear,
                    "rpm": rpm,
                    "pressure": pressure,
                    "load": load,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def test_the_indicators_equal_their_definition_on_a_fleet():
    """with_features against tests/reference_features.py on a fleet with a maintenance, on
    scaled (z-score) vibration and pressure, with k and the scale fitted from the data."""
    raw = fleet()
    cleaning = {
        "vibration": {"fill": 0.0, "bounds": None, "center": 4.0, "divisor": 2.5},
        "pressure": {"fill": 0.0, "bounds": None, "center": 320.0, "divisor": 8.0},
    }
    health = HealthConfig(
        "vibration", "rpm", "pressure", "load", min_speed=100.0, fit_hours=12, recent_hours=3,
        baseline_hours=24, baseline_min=6,
    )  # fmt: skip
    f = FeatureConfig("device_id", "ts", ("vibration", "pressure"), (3,), health=health)
    maint = pd.DataFrame(
        {"device_id": ["a", "c"], "ts": pd.to_datetime(["2026-03-02 10:20", "2026-03-04 00:00"], utc=True)}
    )
    cleaned = clean_sensors(raw, cleaning)
    f = fitted(f, cleaned, cleaning, maint)
    assert f.health.scale == (("vibration", 4.0, 2.5), ("pressure", 320.0, 8.0))
    got = with_features(cleaned, f, maint).sort_values(["device_id", "ts"], ignore_index=True)
    expected = features_by_definition(raw, cleaning, f, maint)
    assert got["ts"].tolist() == expected["ts"].tolist()
    assert (expected["wear_level"] > 1.5).sum() > 100 and (expected["drift_drop"] > 5.0).sum() > 50
    for name in ("wear_level", "drift_drop", "since"):
        np.testing.assert_allclose(
            got[name].to_numpy(float), expected[name].to_numpy(float), rtol=1e-9, atol=1e-9
        )


def test_fitting_takes_k_from_a_within_device_regression_and_the_scale_from_the_card():
    hours = pd.date_range("2026-01-01", periods=4, freq="h", tz="UTC")
    frame = pd.DataFrame(
        {
            "dev": ["a"] * 4 + ["b"] * 4,
            "ts": list(hours) * 2,
            "wear": 1.0,
            "speed": 100.0,
            # device a: drift = 3 load + 10, device b: drift = 3 load - 50, on other loads
            "load": [(x - 50.0) / 10.0 for x in (10.0, 20.0, 30.0, 40.0, 60.0, 70.0, 90.0, 80.0)],
            "drift": [40.0, 70.0, 100.0, 130.0, 130.0, 160.0, 220.0, 190.0],
        }
    )
    cleaning = {"load": {"center": 50.0, "divisor": 10.0}, "wear": {"center": None, "divisor": None}}
    h = fitted(config(HealthConfig("wear", "speed", "drift", "load")), frame, cleaning).health
    assert h.scale == (("load", 50.0, 10.0),)
    assert h.k == pytest.approx(3.0)


SPEC = """
[dataset]
name = "t"
key = ["dev", "ts"]
[[columns]]
name = "dev"
type = "string"
[[columns]]
name = "ts"
type = "{ts}"
[[columns]]
name = "v"
type = "float"
[[columns]]
name = "s"
type = "float"
[[columns]]
name = "t"
type = "float"
[features]
sensors = ["v", "s"]
windows = [2]
[features.health]
wear = "v"
speed = "s"
drift = "v"
load = "{load}"
{extra}
"""


@pytest.mark.parametrize(
    "ts, load, extra, key",
    [
        ("int", "s", "", "features.health"),
        ("timestamp", "dev", "", "features.health.load"),
        ("timestamp", "s", "fit_hours = 0", "features.health.fit_hours"),
        ("timestamp", "s", "colour = 1", "features.health.colour"),
        ("timestamp", "t", "", "features.health.load"),  # numeric, not among the sensors
    ],
)
def test_bad_health_sections_name_the_key(ts, load, extra, key):
    spec = parse_spec(tomllib.loads(SPEC.format(ts=ts, load=load, extra=extra)), "t.toml")
    with pytest.raises(SpecError) as err:
        feature_config(spec)
    assert err.value.key == key


def test_the_card_round_trip_keeps_the_fitted_parameters():
    c = config()
    assert FeatureConfig.from_dict(c.to_dict()) == c
    assert c.names[-2:] == ["wear_level", "drift_drop"]


def test_the_alarm_alerts_where_an_indicator_reaches_its_level_whatever_the_model_says():
    from sklearn.dummy import DummyClassifier  # noqa: PLC0415

    from sensorpipe.model.rule import IndicatorAlarm  # noqa: PLC0415

    # the model says 0.25 everywhere; wear (column 0) alerts at 4.7, drift (column 1) at 12
    x = np.array([[1.0, 0.0], [4.7, 0.0], [4.69, 11.99], [1.0, 12.0], [9.0, 30.0]])
    y = np.array([0, 0, 0, 1])
    est = IndicatorAlarm(DummyClassifier(strategy="prior"), (0, 1), (4.7, 12.0)).fit(x[:4], y)
    assert est.predict_proba(x)[:, 1].tolist() == [0.25, 1.0, 0.25, 1.0, 1.0]
    drift_only = IndicatorAlarm(DummyClassifier(strategy="prior"), (0, 1), (np.inf, 12.0)).fit(x[:4], y)
    assert drift_only.predict_proba(x)[:, 1].tolist() == [0.25, 0.25, 0.25, 1.0, 1.0]


def test_alert_levels_come_from_the_spec_and_survive_the_registry(tmp_path):
    from sklearn.dummy import DummyClassifier  # noqa: PLC0415

    from sensorpipe.model.classifier import Model  # noqa: PLC0415
    from sensorpipe.model.registry import load_model, save_model  # noqa: PLC0415
    from sensorpipe.model.rule import levels, with_alarm  # noqa: PLC0415

    spec = parse_spec(tomllib.loads(SPEC.format(ts="timestamp", load="s", extra="alert_drop = 12")), "t.toml")
    features = feature_config(spec)
    assert levels(features) == (float("inf"), 12.0)
    assert levels(config()) is None and with_alarm("m", config()) == "m"  # no levels: the model as it is
    n = len(features.names)
    x = np.zeros((4, n))
    x[:, -2:] = [[1.0, 0.0], [1.0, 12.5], [9.0, 0.0], [1.0, 11.0]]  # wear_level, drift_drop
    est = with_alarm(DummyClassifier(strategy="prior"), features).fit(x, [0, 0, 0, 1])
    save_model(Model(est, features, 0.5), tmp_path, {"note": "t"})  # skops: a reviewed type
    assert load_model(tmp_path).estimator.predict_proba(x)[:, 1].tolist() == [0.25, 1.0, 0.25, 0.25]
    assert load_model(tmp_path).estimator.n_features_in_ == n  # checked against the card's features


@pytest.mark.parametrize("extra", ["alert_wear = 0", 'alert_drop = "12"', "alert_wear = true"])
def test_bad_alert_levels_name_the_key(extra):
    spec = parse_spec(tomllib.loads(SPEC.format(ts="timestamp", load="s", extra=extra)), "t.toml")
    with pytest.raises(SpecError) as err:
        feature_config(spec)
    assert err.value.key == f"features.health.{extra.split()[0]}"
