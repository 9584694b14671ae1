"""The Structured Streaming job in-process on the session's local[2] Spark: files land in a
temporary directory, each run is available-now (no sleeps), the sinks are read back."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F
from reference_features import features_by_definition

from harness.models import CLEANING, events, events_frame
from harness.paths import SPEC
from sensorpipe.core.spec import load_spec
from sensorpipe.model.classifier import score
from sensorpipe.model.registry import cached_model
from sensorpipe.sim.landing import Landing
from sensorpipe.store.sinks import read_frame
from streaming.restarts import make_drain_dir, request_drain, state_keys
from streaming.score_stream import make_context, run_available_now, scored_events

HAND = [  # one device, hand-counted reasons
    '{"device_id":"dev-a","ts":"2026-11-01T00:00:00Z","temperature":60,"rpm":1500}',  # ok
    '{"device_id":"dev-a","ts":"2026-11-01T00:01:00Z","temperature":6',  # malformed_row (cut)
    "{'device_id':'dev-a','ts':'2026-11-01T00:01:00Z'}",  # malformed_row (single quotes)
    "[1, 2]",  # malformed_row (not an object)
    '{"device_id":"dev-a","temperature":50}',  # missing_required (no ts)
    '{"device_id":null,"ts":"2026-11-01T00:02:00Z"}',  # missing_required
    '{"device_id":"dev-a","ts":"2026-11-01T00:03:00Z","rpm":1.5}',  # invalid_value (rpm rejects)
    '{"device_id":"dev-a","ts":"yesterday"}',  # invalid_value
    '{"device_id":"dev-a","ts":"2026-11-01T00:00:00Z","temperature":99}',  # duplicate_key of line 1
    '{"device_id":"dev-a","ts":"2026-11-01T00:04:00Z","temperature":999}',  # ok (out of range: null)
    '{"device_id":"dev-a","ts":1793491320}',  # ok (epoch seconds, 00:02)
    "",
    '{"device_id":"dev-a","ts":"2026-11-01T00:10:00+00:00"}',  # ok: watermark 00:08 after this file
]
HAND_2 = [  # the second run: two files in one batch
    '{"device_id":"dev-a","ts":"2026-11-01T00:30:00Z"}',  # ok
    '{"device_id":"dev-a","ts":"2026-11-01T00:05:00Z"}',  # late (before 00:08)
    '{"device_id":"dev-a","ts":"2026-11-01T00:10:00Z"}',  # duplicate_key (scored by the first run)
    '{"device_id":"dev-a","ts":"2026-11-01T00:20:00Z","temperature":80}',  # ok: the first copy
]
HAND_3 = ['{"device_id":"dev-a","ts":"2026-11-01T00:20:00Z","temperature":90}']  # duplicate_key


@pytest.fixture(scope="module")
def ctx(stream_model):
    return make_context(load_spec(SPEC), str(stream_model), worker_columns=True)


def run(spark, ctx, landing, out):
    """One --available-now run: the files there, then the drain of what devices hold."""
    run_available_now(spark, load_spec(SPEC), ctx, str(landing), str(out), echo=lambda m: None)


def read(out, sink: str) -> pd.DataFrame:
    return read_frame(out / sink)  # the files its manifest names


def test_quarantine_reasons_lines_and_drain(spark, ctx, tmp_path):
    inbox = Landing(tmp_path / "in")  # events-000000.jsonl, events-000001.jsonl, ...
    inbox.put(("\n".join(HAND) + "\n").encode())
    run(spark, ctx, tmp_path / "in", tmp_path / "out")
    inbox.put(("\n".join(HAND_2) + "\n").encode())
    inbox.put(("\n".join(HAND_3) + "\n").encode())
    run(spark, ctx, tmp_path / "in", tmp_path / "out")
    q = read(tmp_path / "out", "quarantine")
    q["file"] = q["source"].str.rsplit("/", n=1).str[-1]
    got = sorted(zip(q["file"], q["line"], q["reason"]))
    f0, f1, f2 = (f"events-{k:06d}.jsonl" for k in range(3))
    assert got == [
        (f0, 2, "malformed_row"), (f0, 3, "malformed_row"), (f0, 4, "malformed_row"),
        (f0, 5, "missing_required"), (f0, 6, "missing_required"),
        (f0, 7, "invalid_value"), (f0, 8, "invalid_value"), (f0, 9, "duplicate_key"),
        (f1, 2, "late"), (f1, 3, "duplicate_key"), (f2, 1, "duplicate_key"),
    ]  # fmt: skip
    assert q.set_index(["file", "line"]).loc[(f1, 2), "raw"] == HAND_2[1]
    scored = read(tmp_path / "out", "scored").sort_values("ts")
    # each run ends with a drain: everything accepted is scored, 00:10 and 00:30 included
    assert scored["ts"].dt.strftime("%H:%M").tolist() == [
        "00:00",
        "00:02",
        "00:04",
        "00:10",
        "00:20",
        "00:30",
    ]
    assert scored["temperature"].iloc[2] == pytest.approx((70.0 - 70.0) / 10.0)  # 999 -> null -> fill 70
    assert scored["temperature"].iloc[4] == pytest.approx((80.0 - 70.0) / 10.0)  # the first copy of 00:20
    metrics = [json.loads(x) for x in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    assert [m["batchId"] for m in metrics] == [0, 1, 2, 3]  # a run's batch, then its drain
    assert [m["sensorpipe"]["alerts"] is not None for m in metrics] == [True] * 4
    ours = [m["sensorpipe"] for m in metrics]
    assert [m["events"] for m in ours] == [12, 0, 5, 0]  # lines read, not files (nor drain requests)
    assert [m["quarantined_by_reason"] for m in ours] == [
        {"malformed_row": 3, "missing_required": 2, "invalid_value": 2, "duplicate_key": 1},
        {},
        {"duplicate_key": 2, "late": 1},
        {},
    ]
    assert sum(m["scored"] for m in ours) == 6


@pytest.fixture(scope="module")
def fleet_run(spark, ctx, tmp_path_factory):
    """4 devices x 90 readings, clean, in 3 files: the ordered run and, beside it, the same
    events shuffled within each file and a minute's readings moved a file later."""
    tmp = tmp_path_factory.mktemp("fleet")
    data = events(4, 360, seed=9)
    lines = data.decode().splitlines(keepends=True)
    chunks = [lines[i : i + 120] for i in range(0, 360, 120)]
    rng = np.random.default_rng(0)
    ordered = Landing(tmp / "ordered")
    for chunk in chunks:
        ordered.put("".join(chunk).encode())
    run(spark, ctx, tmp / "ordered", tmp / "out")
    moved = [list(c) for c in chunks]
    moved[1] += moved[0][-4:]
    del moved[0][-4:]  # minute 29's readings arrive with the next file, inside the watermark
    shuffled = Landing(tmp / "shuffled")
    for chunk in moved:
        shuffled.put("".join(rng.permutation(chunk)).encode())
    run(spark, ctx, tmp / "shuffled", tmp / "out2")
    return tmp, events_frame(data)


def test_features_match_batch_row_for_row(ctx, fleet_run):
    tmp, frame = fleet_run
    scored = read(tmp / "out", "scored").sort_values(["device_id", "ts"]).reset_index(drop=True)
    # the features by definition (tests/reference_features.py), not the with_features the job calls
    batch = features_by_definition(frame, CLEANING, ctx.features)
    batch["ts"] = batch["ts"].dt.tz_localize(None) if batch["ts"].dt.tz else batch["ts"]
    scored["ts"] = pd.to_datetime(scored["ts"]).dt.tz_localize(None) if scored["ts"].dt.tz else scored["ts"]
    # the run ends with a drain: every reading is scored
    assert len(scored) == len(frame) == 4 * 90 and not scored.duplicated(["device_id", "ts"]).any()
    expected = batch.merge(scored[["device_id", "ts"]], on=["device_id", "ts"]).sort_values(
        ["device_id", "ts"]
    )
    for name in ctx.features.names:
        np.testing.assert_allclose(scored[name], expected[name], rtol=1e-9, atol=1e-12, err_msg=name)
    # a device's first readings (the spec's warmup: 60 of its 90) have no probability and no
    # alert; the others the probability of the batch's features
    assert ctx.features.warmup == 60 and expected["warming"].sum() == 4 * 59
    warming = expected["warming"].to_numpy(dtype=bool)
    assert scored["probability"].isna().to_numpy().tolist() == warming.tolist()
    model, _ = cached_model(ctx.model)
    batch_p = score(expected[~warming], model).to_numpy()
    np.testing.assert_allclose(scored["probability"][~warming], batch_p, rtol=1e-9, atol=1e-12)
    alerts = read(tmp / "out", "alerts")
    first_scored = expected[~warming].groupby("device_id")["ts"].min()
    opened = pd.to_datetime(alerts["ts"], utc=True).dt.tz_localize(None)
    assert (opened >= alerts["device_id"].map(first_scored)).all()


def test_arrival_order_within_watermark_changes_nothing(fleet_run):
    tmp, _ = fleet_run
    key = ["device_id", "ts"]
    a = read(tmp / "out", "scored").drop(columns="batch_id").sort_values(key).reset_index(drop=True)
    b = read(tmp / "out2", "scored").drop(columns="batch_id").sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_model_loaded_once_per_worker(spark, ctx, fleet_run, tmp_path):
    tmp, frame = fleet_run
    make_drain_dir(spark, str(tmp_path))  # a drain request in the first batch: all is scored in it
    request_drain(spark, str(tmp_path), "device_id", sorted(frame["device_id"].unique()))
    query = (
        scored_events(
            spark,
            load_spec(SPEC),
            ctx,
            str(tmp / "ordered"),
            str(tmp_path),
            state_keys(spark, str(tmp_path), 8),
        )
        .writeStream.format("memory")
        .queryName("stream_model_loads")
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    out = spark.table("stream_model_loads")
    loads = out.groupBy("worker_pid").agg(F.countDistinct("model_load").alias("loads")).collect()
    assert out.where("kind = 'scored'").count() == len(frame)
    assert loads and all(r["loads"] == 1 for r in loads)


def test_restart_adds_nothing_twice(spark, ctx, fleet_run):
    tmp, _ = fleet_run
    out = tmp / "out"
    before = read(out, "scored")
    commits = sorted((out / "checkpoint" / "commits").glob("[0-9]*"), key=lambda p: int(p.name))
    for f in (commits[-1], commits[-1].with_name(f".{commits[-1].name}.crc")):
        f.unlink()  # as if killed after writing the last batch, before committing it
    run(spark, ctx, tmp / "ordered", out)
    after = read(out, "scored")
    assert len(after) == len(before) and not after.duplicated(["device_id", "ts"]).any()
    alerts = read(out, "alerts")
    assert not alerts.duplicated(["device_id", "episode"]).any()
    shutil.rmtree(out / "scored" / "_staging", ignore_errors=True)
