"""The stream's pure logic without Spark: alert episodes, the [stream] section, and the
per-device step: its features worked out by hand on a short series, and on longer ones
compared with tests/reference_features.py (the definitions again, in plain Python)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F
from reference_features import features_by_definition

from harness.models import CLEANING, events, events_frame
from harness.paths import SPEC
from sensorpipe.core.spec import SpecError, load_spec, parse_spec
from sensorpipe.model.classifier import Model
from sensorpipe.model.events import Episodes, episodes
from sensorpipe.model.features import FeatureConfig, clean_sensors, with_features
from sensorpipe.model.health import HealthConfig
from sensorpipe.model.registry import ModelIntegrityError, cached_model
from streaming.config import duration_us, stream_config, with_stream
from streaming.logic import BucketState, Context, step
from streaming.restarts import bucket_count, bucket_key, pin_model, pinned_version, read_pin, state_keys
from streaming.score_stream import make_context

MIN = 60_000_000  # one minute in microseconds


def test_one_alert_per_episode():
    t = np.arange(9) * MIN
    p = np.array([0.1, 0.7, 0.9, 0.2, 0.8, 0.1, 0.1, 0.1, 0.6])
    # quiet 2 minutes: the dip at minute 3 is too short; below from minute 5 to 7 ends the episode
    alert, number, state = episodes(t, p, 0.5, 2 * MIN, Episodes())
    assert alert.tolist() == [False, True, False, False, False, False, False, False, True]
    assert number.tolist() == [0, 1, 1, 1, 1, 1, 1, 1, 2]
    assert state == Episodes(2, True, None, 8 * MIN)


def test_episode_state_carries_across_batches():
    _, _, state = episodes(np.array([0, MIN]), np.array([0.9, 0.1]), 0.5, 5 * MIN, Episodes())
    assert state == Episodes(1, True, MIN, 0)
    alert, _, state = episodes(
        np.array([3 * MIN, 6 * MIN, 7 * MIN]), np.array([0.2, 0.3, 0.9]), 0.5, 5 * MIN, state
    )
    assert alert.tolist() == [False, False, True]  # below since minute 1, quiet at minute 6
    assert state == Episodes(2, True, None, 7 * MIN)


def test_a_standing_alarm_is_raised_again_every_repeat():
    t = np.arange(10) * MIN
    p = np.array([0.9, 0.9, 0.9, 0.9, 0.2, 0.9, 0.9, 0.9, 0.9, 0.9])
    # repeat 3 minutes: minute 3 is 3 after the alert at 0; the dip at 4 is shorter than the
    # quiet (5), so the episode opened at 3 is still open at 6, and again at 9
    alert, number, state = episodes(t, p, 0.5, 5 * MIN, Episodes(), repeat_us=3 * MIN)
    assert np.flatnonzero(alert).tolist() == [0, 3, 6, 9]
    assert number.tolist() == [1, 1, 1, 2, 2, 2, 3, 3, 3, 4]
    assert state == Episodes(4, True, None, 9 * MIN)
    # the same readings in two batches, the state between them
    a1, _, mid = episodes(t[:5], p[:5], 0.5, 5 * MIN, Episodes(), repeat_us=3 * MIN)
    assert mid == Episodes(2, True, 4 * MIN, 3 * MIN)
    a2, _, _ = episodes(t[5:], p[5:], 0.5, 5 * MIN, mid, repeat_us=3 * MIN)
    assert np.flatnonzero(np.r_[a1, a2]).tolist() == [0, 3, 6, 9]
    # without a repeat one alert; an episode that ends forgets when it opened
    assert np.flatnonzero(episodes(t, p, 0.5, 5 * MIN, Episodes())[0]).tolist() == [0]
    _, _, closed = episodes(t[:4], np.array([0.9, 0.2, 0.2, 0.2]), 0.5, 2 * MIN, Episodes(), 3 * MIN)
    assert closed == Episodes(1, False, None, None)


def test_threshold_reached_exactly_alerts():
    alert, _, _ = episodes(np.array([0]), np.array([0.5]), 0.5, MIN, Episodes())
    assert alert.tolist() == [True]


def test_stream_section_validated(tmp_path):
    assert stream_config(load_spec(SPEC)).watermark_us == 2 * MIN
    assert duration_us("1.5 hours") == 90 * MIN
    doc = {
        "dataset": {"name": "x"},
        "columns": [{"name": "a", "type": "int"}],
        "stream": {"watermrk": "1 minute"},
    }
    with pytest.raises(SpecError, match="stream.watermrk"):
        stream_config(parse_spec(doc))
    doc["stream"] = {"quiet": "soon"}
    with pytest.raises(SpecError, match="stream.quiet"):
        stream_config(parse_spec(doc))
    for bad in (0, "8", 2.0):
        doc["stream"] = {"buckets": bad}
        with pytest.raises(SpecError, match="stream.buckets"):
            stream_config(parse_spec(doc))
    doc["stream"] = {}
    assert stream_config(parse_spec(doc)).buckets is None  # unset: the job picks at first start
    assert stream_config(with_stream(parse_spec(doc), buckets=3)).buckets == 3


@pytest.fixture(scope="module")
def ctx(stream_model):
    return make_context(load_spec(SPEC), str(stream_model))


def as_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Validated events as the state function receives them."""
    return pd.DataFrame(
        {
            "device_id": frame["device_id"],
            "_order": frame["ts"].astype("int64") // 1000,
            **{s: frame[s].astype(float) for s in ("temperature", "vibration", "pressure", "rpm", "load")},
            "reason": None,
            "raw": "{}",
            "source": "f",
            "line": np.arange(len(frame)),
        }
    )


def run_steps(ctx, batches: list[pd.DataFrame]) -> pd.DataFrame:
    model, _ = cached_model(ctx.model)
    st, outs, wm = BucketState.empty(ctx), [], 0
    for rows in batches:
        out, st = step(ctx, model, rows, st, wm)
        st = BucketState.unpack(st.pack())  # as Spark's state store keeps it between batches
        outs.append(out)
        wm = max(wm, int(rows["_order"].max()) - 2 * MIN)  # Spark: the next batch's watermark
    return pd.concat([o for o in outs if len(o)], ignore_index=True)


SMALL = FeatureConfig("device_id", "ts", ("temperature",), (2,))
# fill 70, clip to 20 .. 120, then (x - 70) / 10
TEMPERATURE = {"temperature": {"fill": 70.0, "bounds": [20.0, 120.0], "center": 70.0, "divisor": 10.0}}


class Quarter:
    """An estimator that gives every reading the probability 0.25 (below the threshold)."""

    def predict_proba(self, x):
        return np.tile([0.75, 0.25], (len(x), 1))


def hand_rows(readings: list[tuple[str, int, float]]) -> pd.DataFrame:
    """(device, minute, raw temperature) -> validated rows as the state function receives them."""
    return pd.DataFrame(
        {
            "device_id": [d for d, _, _ in readings],
            "_order": [m * MIN for _, m, _ in readings],
            "temperature": [t for _, _, t in readings],
            "reason": None,
            "raw": "{}",
            "source": "f",
            "line": np.arange(len(readings)),
        }
    )


# Two devices, window 2, three batches. Cleaned, (x - 70) / 10 after a null -> fill 70 and
# 999 -> clip 120: dev-a 80, 100, null, 999 -> 1, 3, 0, 5; dev-b 90, 60 -> 2, -1.
HAND_BATCHES = [
    [("dev-a", 1, 100.0), ("dev-a", 0, 80.0)],  # arriving newest first
    [("dev-b", 2, 90.0), ("dev-a", 2, np.nan)],
    [("dev-a", 3, 999.0), ("dev-b", 3, 60.0)],
]
HAND_FEATURES = [  # device, minute: x, mean, std, min, max, slope, delta (window 2), since (s)
    ("dev-a", 0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0),  # window (1)
    ("dev-a", 1, 3.0, 2.0, 1.0, 1.0, 3.0, 2.0, 2.0, 60.0),  # (1, 3): deviations -1, 1; slope 2 per reading
    ("dev-a", 2, 0.0, 1.5, 1.5, 0.0, 3.0, -3.0, -3.0, 120.0),  # (3, 0): deviations 1.5, -1.5
    # (0, 5): deviations -2.5, 2.5; slope (-0.5 * -2.5 + 0.5 * 2.5) / (0.25 + 0.25) = 5; since
    # from minute 0, which the state no longer holds (it keeps 2 readings a device)
    ("dev-a", 3, 5.0, 2.5, 2.5, 0.0, 5.0, 5.0, 5.0, 180.0),
    ("dev-b", 2, 2.0, 2.0, 0.0, 2.0, 2.0, 0.0, 0.0, 0.0),  # its own first reading
    ("dev-b", 3, -1.0, 0.5, 1.5, -1.0, 2.0, -3.0, -3.0, 60.0),  # (2, -1)
]
HAND_COLUMNS = [
    "temperature",
    *(f"temperature_{s}_2" for s in ("mean", "std", "min", "max", "slope", "delta")),
]


def test_step_features_worked_by_hand():
    ctx = Context(SMALL, TEMPERATURE, threshold=0.5, quiet_us=5 * MIN, top_k=1, order_is_time=True)
    model = Model(Quarter(), SMALL, threshold=0.5)
    st, outs = BucketState.empty(ctx), []
    for readings in HAND_BATCHES:  # no watermark delay: each batch releases up to its newest minute
        out, st = step(ctx, model, hand_rows(readings), st, 0)
        st = BucketState.unpack(st.pack())
        outs.append(out)
    assert [len(o) for o in outs] == [2, 2, 2]
    assert st.readings.groupby("device_id").size().to_dict() == {"dev-a": 2, "dev-b": 2}
    got = pd.concat(outs).sort_values(["device_id", "_order"])
    assert (got["kind"] == "scored").all() and (got["probability"] == 0.25).all() and not got["alert"].any()
    names = [*HAND_COLUMNS, "since"]
    assert [
        (d, o // MIN, *(float(v) for v in rest))
        for d, o, *rest in got[["device_id", "_order", *names]].itertuples(index=False)
    ] == HAND_FEATURES
    # the reference the longer tests below compare against gives the same values
    raw = hand_rows([r for b in HAND_BATCHES for r in b])
    raw = raw.assign(ts=pd.to_datetime(raw["_order"], unit="us", utc=True))
    ref = features_by_definition(raw, TEMPERATURE, SMALL)
    minutes = (ref["ts"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(minutes=1)
    assert [
        (d, m, *(float(v) for v in rest))
        for d, m, *rest in zip(ref["device_id"], minutes, *(ref[c] for c in names))
    ] == HAND_FEATURES


class Spike:
    """An estimator alarmed by a hot reading: probability 0.99 when the cleaned temperature
    (the first feature) is above 3, else 0.01."""

    def predict_proba(self, x):
        hot = (x[:, 0] > 3).astype(float)
        return np.c_[1 - (0.01 + 0.98 * hot), 0.01 + 0.98 * hot]


def test_a_devices_first_readings_raise_no_alert_even_on_a_huge_spike():
    """windows [10, 60], warmup 60: readings 1..59 of a device are warming, written with no
    probability and no alert, across batches (the state keeps the count); the 60th is scored."""
    cold = FeatureConfig("device_id", "ts", ("temperature",), (10, 60), warmup=60)
    ctx = Context(cold, TEMPERATURE, threshold=0.5, quiet_us=5 * MIN, top_k=1, order_is_time=True)
    model = Model(Spike(), cold, threshold=0.5)
    spikes = {1, 30, 58, 59, 66}  # 999 -> clipped 120 -> cleaned 5: each scored one alarms
    readings = [("dev-a", m, 999.0 if m in spikes else 70.0) for m in range(70)]
    readings += [("dev-b", m, 999.0) for m in range(5)]  # a short-lived device, all spikes
    st, outs = BucketState.empty(ctx), []
    for i in range(0, len(readings), 20):
        out, st = step(ctx, model, hand_rows(readings[i : i + 20]), st, 0)
        st = BucketState.unpack(st.pack())
        outs.append(out)
    got = pd.concat(outs).sort_values(["device_id", "_order"])
    minutes = {d: (g["_order"] // MIN).tolist() for d, g in got.groupby("device_id")}
    assert minutes == {"dev-a": list(range(70)), "dev-b": list(range(5))}
    a, b = got[got["device_id"] == "dev-a"], got[got["device_id"] == "dev-b"]
    assert a["probability"].isna().tolist() == [True] * 59 + [False] * 11
    assert b["probability"].isna().all() and not b["alert"].any()
    # the first scored reading (minute 59) alarms; the episode ends after 5 quiet minutes (65)
    assert (a.loc[a["alert"].astype(bool), "_order"] // MIN).tolist() == [59, 66]


def test_step_matches_features_by_definition_and_ignores_arrival_order(ctx):
    frame = events_frame(events(1, 150, seed=7))
    rows = as_rows(frame)
    batches = [rows.iloc[i : i + 25] for i in range(0, 150, 25)]
    ordered = run_steps(ctx, batches)
    shuffled = [b.sample(frac=1.0, random_state=i) for i, b in enumerate(batches)]
    # and a minute's readings arriving one batch late (inside the 2-minute watermark)
    moved = [
        pd.concat([b.iloc[:-1], batches[i - 1].iloc[-1:]]) if i else b.iloc[:-1]
        for i, b in enumerate(batches)
    ]
    moved[-1] = pd.concat([moved[-1], batches[-1].iloc[-1:]])
    scored = ordered[ordered["kind"] == "scored"]
    assert (ordered["kind"] == "scored").all()
    for other in (run_steps(ctx, shuffled), run_steps(ctx, moved)):
        # the watermark moves with what has arrived, so a run may hold its last readings back
        # longer; every reading both released is identical
        assert (other["kind"] == "scored").all() and len(other) >= len(scored) - 2
        common = other.set_index("_order").index.intersection(scored["_order"])
        pd.testing.assert_frame_equal(
            other.set_index("_order").loc[common], scored.set_index("_order").loc[common], check_dtype=False
        )
    # the last batch releases up to its newest minute (149) less the 2-minute delay: 0..147
    assert len(scored) == 148
    expected = features_by_definition(frame, CLEANING, ctx.features).iloc[: len(scored)]
    for name in ctx.features.names:
        np.testing.assert_allclose(scored[name].to_numpy(), expected[name].to_numpy(), rtol=1e-9, atol=1e-12)


def test_many_devices_in_one_bucket_match_features_by_definition(ctx):
    """Five devices' interleaved, shuffled readings through one bucket's state in 7 batches:
    every released reading has its device's features by definition."""
    frame = events_frame(events(5, 400, seed=5))
    rows = as_rows(frame).sample(frac=1.0, random_state=3)
    rows = rows.sort_values("_order", kind="stable")  # arrival by minute, shuffled inside one
    batches = [rows.iloc[i : i + 60] for i in range(0, len(rows), 60)]
    out = run_steps(ctx, batches)
    assert (out["kind"] == "scored").all()
    assert not out.duplicated(["device_id", "_order"]).any()
    expected = features_by_definition(frame, CLEANING, ctx.features)
    expected = expected.assign(_order=expected["ts"].astype("int64") // 1000).set_index(
        ["device_id", "_order"]
    )
    got = out.set_index(["device_id", "_order"])
    assert len(got) > 300 and got.index.isin(expected.index).all()
    for name in ctx.features.names:
        np.testing.assert_allclose(
            got[name].to_numpy(dtype=float), expected.loc[got.index, name].to_numpy(), rtol=1e-9, atol=1e-12
        )


def test_drain_releases_everything_and_later_older_rows_are_late(ctx):
    model, _ = cached_model(ctx.model)
    rows = as_rows(events_frame(events(2, 10, seed=7)))
    out, st = step(ctx, model, rows, BucketState.empty(ctx), 0)
    # the watermark (0) passes nothing; the newest minute (4) less 2 releases minutes 0 to 2
    minute = (rows["_order"] - rows["_order"].min()) // MIN
    assert sorted(out["_order"]) == sorted(rows.loc[minute <= 2, "_order"])
    assert sorted(st.held()) == ["dev-00000", "dev-00001"]
    drain = rows.iloc[:1].assign(_drain=True)  # releases dev-00000's readings only
    out, st = step(ctx, model, drain, st, 0)
    assert (out["kind"] == "scored").all() and (out["device_id"] == "dev-00000").all()
    assert len(out) == ((rows["device_id"] == "dev-00000") & (minute > 2)).sum()
    assert st.held() == ["dev-00001"]
    first = rows[rows["device_id"] == "dev-00000"]
    older = first.iloc[[2]].assign(_order=first["_order"].iloc[2] + 1)  # within the watermark, but older
    out, st = step(ctx, model, older, st, 0)
    assert out["reason"].tolist() == ["late"]
    again = first.iloc[[0]]  # the same key again: a duplicate of a released reading
    out, st = step(ctx, model, again, st, 0)
    assert out["reason"].tolist() == ["duplicate_key"]


def test_a_zero_delay_holds_nothing_back(ctx):
    """watermark = "0 seconds": a batch releases up to its newest reading, and a reading at
    that same minute arriving later is a duplicate, an older one late."""
    model, _ = cached_model(ctx.model)
    rows = as_rows(events_frame(events(2, 10, seed=7)))  # minutes 0..4 of two devices
    no_delay = replace(ctx, delay_us=0)
    out, st = step(no_delay, model, rows, BucketState.empty(ctx), 0)
    assert len(out) == 10 and (out["kind"] == "scored").all() and st.held() == []
    newest = rows.iloc[[-1]]
    older = newest.assign(_order=newest["_order"] - 1)
    out, st = step(no_delay, model, pd.concat([newest, older]), st, 0)
    assert out["reason"].tolist() == ["duplicate_key", "late"]


def test_model_pinned_in_checkpoint(spark, tmp_path, stream_model):
    registry = tmp_path / "registry"
    shutil.copytree(stream_model, registry)
    out = str(tmp_path / "out")
    where = pinned_version(spark, str(registry), out)
    assert pin_model(spark, out, where, "sha-a", 8) == 8
    # a restart keeps the first version
    assert pinned_version(spark, str(tmp_path / "elsewhere"), out) == where
    with pytest.raises(ModelIntegrityError, match="no longer holds"):
        pin_model(spark, out, where, "sha-b", 8)
    with pytest.raises(ValueError, match="stream.buckets is 4"):
        pin_model(spark, out, where, "sha-a", 4)
    assert pin_model(spark, out, where, "sha-a", None) == 8  # unset on a restart: the pinned count
    assert read_pin(spark, out)["buckets"] == 8
    shutil.rmtree(where)
    with pytest.raises(ModelIntegrityError, match="is gone"):
        pinned_version(spark, str(registry), out)


def test_bucket_count_unset(spark, tmp_path, stream_model):
    """Unset, a fresh output gets one bucket per core of the local master (the suite's local[2]),
    pinned; an output pinned before counts were pinned was started with the old default, 8."""
    where = pinned_version(spark, str(stream_model), str(tmp_path / "a"))
    assert pin_model(spark, str(tmp_path / "a"), where, "sha-a", None) == 2
    assert read_pin(spark, str(tmp_path / "a"))["buckets"] == 2
    with pytest.raises(ValueError, match="stream.buckets is 8, but .* started with 2"):
        pin_model(spark, str(tmp_path / "a"), where, "sha-a", 8)
    legacy = tmp_path / "b" / "checkpoint"
    legacy.mkdir(parents=True)
    (legacy / "model.json").write_text(json.dumps({"version": where, "model_sha256": "sha-a"}))
    assert pin_model(spark, str(tmp_path / "b"), where, "sha-a", None) == 8
    assert pin_model(spark, str(tmp_path / "b"), where, "sha-a", 3) == 3  # as before: a legacy pin takes it
    assert bucket_count(spark, 5) == 5


@pytest.fixture
def shuffle_partitions(spark):
    """Set spark.sql.shuffle.partitions for one test (adaptive execution off, as in a stream:
    it would coalesce the partitions), both restored after it."""
    before = {k: spark.conf.get(k) for k in ("spark.sql.shuffle.partitions", "spark.sql.adaptive.enabled")}
    spark.conf.set("spark.sql.adaptive.enabled", "false")
    yield lambda n: spark.conf.set("spark.sql.shuffle.partitions", str(n))
    for k, v in before.items():
        spark.conf.set(k, v)


@pytest.mark.parametrize("partitions", [2, 3, 4])
def test_state_keys_spread_buckets_evenly(spark, tmp_path, partitions, shuffle_partitions):
    """Spark's own shuffle puts the 8 buckets of 1,000 devices 3-3-2 / 2-2-2-2 / 4-4 into the
    state's partitions, grouped by the key column the stream groups by."""
    shuffle_partitions(partitions)
    keys = state_keys(spark, str(tmp_path / "fresh"), 8)
    assert len(set(keys)) == 8
    devices = spark.range(1000).select(F.format_string("dev-%04d", "id").alias("device"))
    frame = devices.groupBy(bucket_key(F.col("device"), keys).alias("key")).count()
    assert frame.count() == 8
    per_partition = frame.select(F.spark_partition_id().alias("p")).groupBy("p").count().collect()
    assert sorted(r["count"] for r in per_partition) == {2: [4, 4], 3: [2, 3, 3], 4: [2, 2, 2, 2]}[partitions]


def test_state_keys_pinned(spark, tmp_path, stream_model, shuffle_partitions):
    """Keys are written into the pin at first start and read back; an output started before
    keys were pinned (committed batches, no keys) keeps the bucket numbers."""
    out = tmp_path / "out"
    pin_model(spark, str(out), pinned_version(spark, str(stream_model), str(out)), "sha-a", 8)
    shuffle_partitions(2)
    keys = state_keys(spark, str(out), 8)
    shuffle_partitions(4)
    assert state_keys(spark, str(out), 8) == keys  # read from the pin, not recomputed
    old = tmp_path / "old"
    pin_model(spark, str(old), pinned_version(spark, str(stream_model), str(old)), "sha-a", 8)
    (old / "checkpoint" / "commits").mkdir(parents=True)
    (old / "checkpoint" / "commits" / "0").write_text("v1\n")
    assert state_keys(spark, str(old), 8) == list(range(8))


def test_warm_up_lines_are_valid_readings_of_one_device_then_a_malformed_line():
    from sensorpipe.model.features import feature_config  # noqa: PLC0415
    from streaming.warmup import warm_lines  # noqa: PLC0415

    spec = load_spec(SPEC)
    features = replace(feature_config(spec), warmup=1)  # two readings, the first scored once released
    ctx = Context(features, {}, threshold=0.5, quiet_us=0, top_k=3, order_is_time=True)
    values = '"model": "x", "temperature": 100.0, "vibration": 50.0, "pressure": 500.0, "rpm": 10000, "load": 75.0}'
    assert warm_lines(spec, ctx).decode().splitlines() == [
        '{"device_id": "_warm-up", "ts": "2000-01-01T00:00:00Z", ' + values,
        '{"device_id": "_warm-up", "ts": "2000-01-01T00:10:00Z", ' + values,
        "{not json",
    ]
    three = replace(ctx, features=replace(ctx.features, warmup=3))
    lines = warm_lines(spec, three).decode().splitlines()
    stamps = ["2000-01-01T00:00:00Z", "2000-01-01T00:10:00Z", "2000-01-01T00:20:00Z", "2000-01-01T00:30:00Z"]
    assert [json.loads(line)["ts"] for line in lines[:-1]] == stamps
    assert lines[-1] == "{not json"
    assert len(warm_lines(spec, replace(ctx, features=feature_config(spec))).splitlines()) == 60 + 1 + 1


@pytest.mark.parametrize("batches", [24, 96])
def test_health_indicators_through_the_state_equal_the_batch_features(batches, monkeypatch):
    """[features.health] in the stream: two devices, a reading every 10 minutes for 60 hours
    (some of a stopped machine), a maintenance on one, arriving in shuffled batches (24: each
    completes hours of both devices; 96: ~40 minutes each, many complete none). The state
    keeps the completed hours' medians with their indicators and the current hour's readings;
    every released reading's wear_level and drift_drop equal the batch features over the
    whole series. A batch that completes no hour computes no indicator; one state has its
    stored indicators stripped (as a state from before they were kept): computed again."""
    from sensorpipe.model import health as H  # noqa: PLC0415

    computed = []
    indicators = H.hourly_indicators

    def counted(hourly, config):
        computed.append(hourly["device"].nunique())
        return indicators(hourly, config)

    monkeypatch.setattr(H, "hourly_indicators", counted)
    health = HealthConfig(
        "vibration", "rpm", "pressure", "load", min_speed=100.0, fit_hours=6, recent_hours=2,
        baseline_hours=5, baseline_min=2, k=0.8, scale=(("pressure", 100.0, 2.0),),
    )  # fmt: skip
    config = FeatureConfig("device_id", "ts", ("vibration", "rpm", "pressure", "load"), (3,), health=health)
    cleaning = {"pressure": {"fill": 0.0, "bounds": None, "center": 100.0, "divisor": 2.0}}
    rng = np.random.default_rng(4)
    n = 360
    t = np.arange(n) * 10 * MIN
    parts = []
    for dev in ("dev-a", "dev-b"):
        rpm = np.where(rng.random(n) < 0.1, 0.0, 1500.0 + 100 * rng.random(n))
        wear = 2.0 * (1 + 4 * (0.3 + np.arange(n) / 6 / 200) ** 4) * rpm * (1 + 0.05 * rng.random(n))
        load = 50 + 20 * rng.random(n)
        pressure = 300 + 0.8 * load - np.linspace(0, 30, n) + rng.normal(0, 2, n)
        parts.append(
            pd.DataFrame(
                {
                    "device_id": dev,
                    "_order": t,
                    "vibration": wear,
                    "rpm": rpm,
                    "pressure": pressure,
                    "load": load,
                }
            )
        )
    raw = pd.concat(parts, ignore_index=True)
    maint = pd.DataFrame({"device_id": ["dev-b"], "ts": [pd.Timestamp(t[200], unit="us", tz="UTC")]})
    ctx = Context(config, cleaning, 0.5, 5 * MIN, 1, order_is_time=True, maintenance=maint)
    model = Model(Quarter(), config, threshold=0.5)
    rows = raw.assign(reason=None, raw="{}", source="f", line=np.arange(len(raw)))
    st, outs = BucketState.empty(ctx), []
    for i, cut in enumerate(np.array_split(np.arange(len(rows)), batches)):
        batch = rows.sort_values("_order", kind="stable").iloc[cut].sample(frac=1.0, random_state=i)
        out, st = step(ctx, model, batch, st, 0)
        st = BucketState.unpack(st.pack())
        if i == batches // 2:
            st = replace(st, hours=st.hours[["device_id", "segment", "hour", "y", "z"]])
        outs.append(out)
    if batches == 96:
        assert computed.count(0) > 20 and 2 in computed, computed
    got = pd.concat(outs).set_index(["device_id", "_order"]).sort_index()
    assert len(got) == 2 * n and len(st.hours) <= 2 * 60
    cleaned = clean_sensors(raw, cleaning).assign(ts=pd.to_datetime(raw["_order"], unit="us", utc=True))
    batch = with_features(cleaned, config, maint).set_index(["device_id", "_order"]).sort_index()
    assert (batch["wear_level"] > 1.0).sum() > 200 and (batch["drift_drop"] != 0.0).sum() > 200
    for name in ("wear_level", "drift_drop"):
        np.testing.assert_allclose(got[name].to_numpy(float), batch[name].to_numpy(), rtol=1e-12, atol=1e-12)


def test_the_stream_raises_a_standing_alarm_again_across_batches_and_old_states():
    """[alerts] repeat_hours in the state: a device hot for 35 minutes, in batches of 7
    readings, repeat 10 minutes: alerts at 0, 10, 20, 30. A state written before opened_at
    existed (no such column) still loads; its open episode is not repeated until it ends."""
    hot = FeatureConfig("device_id", "ts", ("temperature",), (2,))
    ctx = Context(hot, TEMPERATURE, 0.5, 5 * MIN, 1, order_is_time=True, repeat_us=10 * MIN)
    model = Model(Spike(), hot, threshold=0.5)
    readings = [("dev-a", m, 999.0) for m in range(35)]
    st, outs = BucketState.empty(ctx), []
    for i in range(0, len(readings), 7):
        out, st = step(ctx, model, hand_rows(readings[i : i + 7]), st, 0)
        st = BucketState.unpack(st.pack())
        outs.append(out)
    got = pd.concat(outs)
    assert (got.loc[got["alert"].astype(bool), "_order"] // MIN).tolist() == [0, 10, 20, 30]
    assert got["episode"].tolist() == [1] * 10 + [2] * 10 + [3] * 10 + [4] * 5
    old = replace(st, devices=st.devices.drop(columns="opened_at"))
    out, st = step(ctx, model, hand_rows([("dev-a", m, 999.0) for m in range(35, 50)]), old, 0)
    assert not out["alert"].any() and st.devices["opened_at"].isna().all()
