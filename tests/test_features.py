"""Rolling features and labels (sensorpipe.model.features) against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT
from sensorpipe.core.spec import SpecError, load_spec, parse_spec
from sensorpipe.model.classifier import best_cut
from sensorpipe.model.features import (
    FeatureConfig,
    _full_windows,
    _partial_windows,
    feature_config,
    with_features,
    without_warming,
)
from sensorpipe.model.labels import rul_max, with_labels
from sensorpipe.model.thresholds import max_f1


def config(windows=(2,), sensors=("x",)) -> FeatureConfig:
    return FeatureConfig("unit", "cycle", tuple(sensors), tuple(windows))


def column(frame: pd.DataFrame, name: str) -> list[float]:
    return [round(v, 12) for v in frame[name].tolist()]


def test_window_of_two_on_one_device():
    frame = pd.DataFrame({"unit": [1, 1, 1], "cycle": [1, 2, 3], "x": [1.0, 2.0, 4.0]})
    out = with_features(frame, config())
    assert column(out, "x_mean_2") == [1.0, 1.5, 3.0]
    assert column(out, "x_std_2") == [0.0, 0.5, 1.0]
    assert column(out, "x_min_2") == [1.0, 1.0, 2.0]
    assert column(out, "x_max_2") == [1.0, 2.0, 4.0]
    assert column(out, "x_slope_2") == [0.0, 1.0, 2.0]
    assert column(out, "x_delta_2") == [0.0, 1.0, 2.0]
    assert column(out, "since") == [0.0, 1.0, 2.0]


def test_window_of_three_uses_what_there_is_at_the_start():
    frame = pd.DataFrame({"unit": [7] * 4, "cycle": [1, 2, 3, 4], "x": [1.0, 2.0, 4.0, 4.0]})
    out = with_features(frame, config(windows=(3,)))
    assert column(out, "x_mean_3") == [1.0, 1.5, round(7 / 3, 12), round(10 / 3, 12)]
    # (1, 2, 4): deviations -4/3, -1/3, 5/3 -> variance (16 + 1 + 25) / 27 = 14/9
    assert column(out, "x_std_3") == [0.0, 0.5, round(math.sqrt(14 / 9), 12), round(math.sqrt(8 / 9), 12)]
    # slope of (1, 2, 4) on i = (0, 1, 2): (-1*1 + 0*2 + 1*4) / 2 = 1.5; (2, 4, 4): 1.0
    assert column(out, "x_slope_3") == [0.0, 1.0, 1.5, 1.0]
    assert column(out, "x_delta_3") == [0.0, 1.0, 3.0, 2.0]


def test_slope_is_per_reading_and_since_counts_from_the_first_cycle():
    frame = pd.DataFrame({"unit": [1, 1, 1], "cycle": [3, 4, 6], "x": [1.0, 2.0, 4.0]})
    out = with_features(frame, config(windows=(3,)))
    assert column(out, "x_slope_3") == [0.0, 1.0, 1.5]
    assert column(out, "since") == [0.0, 1.0, 3.0]


def test_devices_do_not_share_windows_and_the_index_is_kept():
    frame = pd.DataFrame(
        {"unit": [2, 1, 2, 1], "cycle": [2, 2, 1, 1], "x": [30.0, 3.0, 10.0, 1.0]},
        index=["a", "b", "c", "d"],
    )
    out = with_features(frame, config())
    assert list(out.index) == ["d", "b", "c", "a"]
    assert column(out, "x_mean_2") == [1.0, 2.0, 10.0, 20.0]
    assert column(out, "x_slope_2") == [0.0, 2.0, 0.0, 20.0]
    assert column(out, "since") == [0.0, 1.0, 0.0, 1.0]


def test_constant_readings_give_exact_zeros():
    frame = pd.DataFrame({"unit": [1] * 5, "cycle": range(5), "x": [8138.62] * 5})
    out = with_features(frame, config(windows=(3,)))
    for stat in ("std", "slope", "delta"):
        assert (out[f"x_{stat}_3"] == 0.0).all()


def test_feature_names_are_ordered_and_complete():
    names = config(windows=(2, 5), sensors=("a", "b")).names
    assert names[:2] == ["a", "b"] and names[-1] == "since"
    assert names[2:8] == ["a_mean_2", "a_std_2", "a_min_2", "a_max_2", "a_slope_2", "a_delta_2"]
    assert len(names) == 2 + 2 * 2 * 6 + 1


def test_null_readings_are_refused():
    frame = pd.DataFrame({"unit": [1, 1], "cycle": [1, 2], "x": [1.0, np.nan]})
    with pytest.raises(ValueError, match="non-null"):
        with_features(frame, config())


def test_labels_count_remaining_life_down_to_the_last_cycle():
    frame = pd.DataFrame({"unit": [1] * 5 + [2] * 2, "cycle": [1, 2, 3, 4, 5, 1, 2]})
    out = with_labels(frame, config(), rul_max=2)
    assert out["rul"].tolist() == [4, 3, 2, 1, 0, 1, 0]
    assert out["label"].tolist() == [0, 0, 1, 1, 1, 1, 1]


def test_cmapss_spec_sections():
    spec = load_spec(ROOT / "conf" / "cmapss.toml")
    cfg = feature_config(spec)
    assert (cfg.device, cfg.order) == ("unit", "cycle")
    assert "s11" in cfg.sensors and "s1" not in cfg.sensors
    assert rul_max(spec) == 30


SPEC = {"dataset": {"name": "t", "key": ["unit", "cycle"]}, "columns": [
    {"name": "unit", "type": "int"}, {"name": "cycle", "type": "int"}, {"name": "x", "type": "float"},
    {"name": "tag", "type": "string"}]}  # fmt: skip


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"sensors": ["x"], "windows": [0]}, "features.windows"),
        ({"sensors": ["tag"], "windows": [3]}, "features.sensors[0]"),
        ({"sensors": ["x"], "windows": [3], "lag": 1}, "features.lag"),
        ({"sensors": ["x"], "windows": [3], "order": "ts"}, "features.order"),
        ({"sensors": ["x"], "windows": [3], "warmup": 0}, "features.warmup"),
        ({"sensors": ["x"], "windows": [3], "warmup": 4}, "features.warmup"),
        ({"sensors": ["x"], "windows": [3], "warmup": "full"}, "features.warmup"),
    ],
)
def test_bad_feature_sections_name_the_key(section, key):
    spec = parse_spec({**SPEC, "features": section}, "t.toml")
    with pytest.raises(SpecError, match=rf"t\.toml: {key.replace('[', '.').replace(']', '.')}"):
        feature_config(spec)


def test_defaults_come_from_the_key_and_label_is_checked():
    spec = parse_spec(
        {**SPEC, "features": {"sensors": ["x"], "windows": [3, 3, 2]}, "label": {"rul_max": -1}}
    )
    assert feature_config(spec) == FeatureConfig("unit", "cycle", ("x",), (2, 3))
    with pytest.raises(SpecError, match="label.rul_max"):
        rul_max(spec)


def test_best_cut_finds_the_rule_in_either_direction():
    y = np.array([0, 0, 1, 1])
    assert best_cut(np.array([1.0, 2.0, 3.0, 4.0]), y) == (1.0, 3.0, "above")
    assert best_cut(np.array([4.0, 3.0, 2.0, 1.0]), y) == (1.0, 2.0, "below")
    # ties: a cut cannot split equal values; 2 >= 2 catches one negative -> F1 = 4/5
    assert best_cut(np.array([1.0, 2.0, 2.0, 3.0]), y) == (0.8, 2.0, "above")


def test_max_f1_is_the_best_cut():
    # cuts: 0.8 -> F1 2/3; 0.4 -> 1/2; 0.35 -> 4/5; 0.1 -> 2/3
    y = np.array([0, 0, 1, 1])
    assert max_f1(y, np.array([0.1, 0.4, 0.35, 0.8])) == 0.35


@pytest.mark.parametrize("n", [1, 2, 10, 60])
def test_full_window_path_equals_the_masked_path(n):
    """The plain path for rows with n readings behind them adds the same numbers in the same
    order as the masked path does for them: equal to the last bit, constant windows included."""
    rng = np.random.default_rng(n)
    x = np.r_[rng.normal(size=150), np.full(80, 2.5)]
    pos = np.arange(len(x))
    at = np.arange(n - 1, len(x))
    plain, masked = _full_windows(x, n, "x", at), _partial_windows(x, pos, n, "x", at)
    assert plain.keys() == masked.keys()
    for key in plain:
        assert np.array_equal(plain[key], masked[key]), key
    assert plain[f"x_std_{n}"][-1] == 0.0 and plain[f"x_slope_{n}"][-1] == 0.0


def test_a_devices_first_readings_are_warming_until_the_longest_window_is_full():
    """windows [10, 60], warmup 60: readings 1..59 of each device are warming (their windows are
    still filling), the 60th is the first a model sees; training and judging drop the rest."""
    cfg = FeatureConfig("unit", "cycle", ("x",), (10, 60), warmup=60)
    frame = pd.DataFrame({"unit": [1] * 70 + [2] * 3, "cycle": [*range(70), 0, 1, 2], "x": 1.0})
    frame.loc[1, "x"] = 1e6  # a huge spike at the device's second reading
    out = with_features(frame, cfg)
    assert out["warming"].tolist() == [True] * 59 + [False] * 11 + [True] * 3
    assert without_warming(out)["cycle"].tolist() == list(range(59, 70))
    # the default (warmup 1) warms nothing: run-to-failure series such as C-MAPSS start fresh
    assert not with_features(frame, config(windows=(10, 60)))["warming"].any()


def test_warmup_comes_from_the_spec_and_the_shipped_fleet_spec_waits_for_full_windows():
    spec = parse_spec({**SPEC, "features": {"sensors": ["x"], "windows": [3, 2], "warmup": 3}})
    assert feature_config(spec) == FeatureConfig("unit", "cycle", ("x",), (2, 3), warmup=3)
    shipped = feature_config(load_spec(ROOT / "conf" / "sensors.toml"))
    assert shipped.warmup == max(shipped.windows) == 60
    assert feature_config(load_spec(ROOT / "conf" / "cmapss.toml")).warmup == 1


def test_a_maintenance_log_with_only_later_entries_leaves_since_from_the_first_reading():
    """The stream's case: a device's maintenance comes after every reading of the batch (asof
    finds none; pandas returned tz-naive NaT, which the origin could not be compared with)."""
    t0 = pd.Timestamp("2026-11-01", tz="UTC")
    frame = pd.DataFrame({"d": ["a", "a"], "ts": [t0, t0 + pd.Timedelta(hours=1)], "v": [1.0, 2.0]})
    later = pd.DataFrame({"d": ["a"], "ts": [t0 + pd.Timedelta(hours=5)]})
    out = with_features(frame, FeatureConfig("d", "ts", ("v",), (2,)), later)
    assert column(out, "since") == [0.0, 3600.0]
