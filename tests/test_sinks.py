"""The stream's sinks (streaming/sinks.py) and their one reader (sensorpipe/store/sinks.py):
a batch is visible whole or not at all, a replayed batch replaces its own files, compaction
keeps the rows and what a crash leaves is no part of the sink. Driven on the session's
local[2] Spark, without a streaming query: the writer's steps called one by one, crashes
made by failing one of them."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import types as T

from harness.models import events
from harness.paths import SPEC
from sensorpipe.core.spec import load_spec
from sensorpipe.sim.landing import Landing
from sensorpipe.spark.hfs import HadoopFS
from sensorpipe.store import sinks as layout
from sensorpipe.store.sinks import read_frame
from streaming.score_stream import make_context, run_available_now
from streaming.sinks import (
    COMPACT_FILES,
    COMPACTING,
    Sink,
    commit_batch,
    commit_rows,
    merge_in_background,
    merging,
    settle,
)

SCHEMA = T.StructType(
    [
        T.StructField("device_id", T.StringType()),
        T.StructField("ts", T.TimestampType()),
        T.StructField("value", T.DoubleType()),
        T.StructField("batch_id", T.LongType()),
    ]
)


def rows_of(batch_id: int, n: int = 6) -> list[tuple]:
    return [
        (f"dev-{i % 3}", datetime(2026, 11, 1, batch_id, i), batch_id + i / 10, batch_id) for i in range(n)
    ]


def write(spark, sink: Sink, batch_id: int) -> None:
    """A batch of 6 rows in 2 partitions: 2 part files, as the state's 2 tasks write them."""
    commit_batch(spark.createDataFrame(rows_of(batch_id), SCHEMA).repartition(2), sink, batch_id)


def listed(path) -> pd.DataFrame:
    """What a plain listing reader sees (pandas / pyarrow on the directory; the old reader)."""
    return pd.read_parquet(path) if any(path.glob("*.parquet")) else pd.DataFrame()


def ordered(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["batch_id", "ts", "device_id"]).reset_index(drop=True)


class Crash(Exception):
    """A kill -9 at that point: nothing after it runs."""


@pytest.fixture
def sink(spark, tmp_path):
    return Sink(HadoopFS(spark), str(tmp_path / "scored"))


def test_a_batch_not_committed_is_not_seen(spark, sink, tmp_path, monkeypatch):
    path = tmp_path / "scored"
    write(spark, sink, 0)
    # batch 1 crashes after its files are in the directory, before the manifest names them
    monkeypatch.setattr(Sink, "_swap", lambda self, files, retired: (_ for _ in ()).throw(Crash()))
    with pytest.raises(Crash):
        write(spark, sink, 1)
    monkeypatch.undo()
    assert len(list(path.glob("batch-0000000001-*.parquet"))) == 2  # there, on disk
    assert sorted(listed(path)["batch_id"].unique()) == [0, 1]  # a listing sees batch 1
    assert read_frame(path)["batch_id"].tolist() == [0] * 6  # the reader does not

    # the restarted job: the new writer deletes the leftovers, the replayed batch 1 commits whole
    again = Sink(HadoopFS(spark), str(path))
    write(spark, again, 1)
    got = ordered(read_frame(path))
    assert got["batch_id"].tolist() == [0] * 6 + [1] * 6
    pd.testing.assert_frame_equal(ordered(listed(path)), got)  # nothing left over
    assert not (path / "_staging").exists()


def test_a_crash_in_the_middle_of_the_moves(spark, sink, tmp_path, monkeypatch):
    """One part file moved, the other not: the reader sees neither."""
    path = tmp_path / "scored"
    write(spark, sink, 0)
    rename, moved = HadoopFS.rename, []

    def once(self, src, dst):
        if moved:
            raise Crash()
        moved.append(dst)
        rename(self, src, dst)

    monkeypatch.setattr(HadoopFS, "rename", once)
    with pytest.raises(Crash):
        write(spark, sink, 1)
    monkeypatch.undo()
    assert 6 < len(listed(path)) < 12  # part of batch 1 to a listing
    assert read_frame(path)["batch_id"].tolist() == [0] * 6


def test_a_replayed_batch_replaces_its_own_files(spark, sink, tmp_path):
    path = tmp_path / "scored"
    for b in (0, 1):
        write(spark, sink, b)
    first = {e["name"] for e in sink.files}
    write(spark, sink, 1)  # Spark replays batch 1 (its commit was not logged): same rows
    assert len(read_frame(path)) == 12 and not read_frame(path).duplicated().any()
    names = {e["name"] for e in sink.files}
    assert len(names & first) == 2 and len(names) == 4  # batch 0's files kept, batch 1's new
    on_disk = {p.name for p in path.glob("batch-*.parquet")}
    assert on_disk == names  # the replaced files are gone


def test_compaction_keeps_the_rows(spark, sink, tmp_path):
    path = tmp_path / "scored"
    for b in range(7):
        write(spark, sink, b)
    before = ordered(read_frame(path))
    assert len(sink.files) == 14
    # batch 7 runs: the 14 files of batches 0-6 are committed for good; 4 at a time
    merged = [sink.compact(spark, 7, fanin=4, target=1 << 30) for _ in range(5)]
    assert merged == [True, True, True, False, False]  # 12 of level 0 -> 3 of level 1 (< 4)
    assert [e["level"] for e in sink.files] == [1, 1, 1, 0, 0]
    assert [(e["first"], e["last"]) for e in sink.files] == [(0, 1), (2, 3), (4, 5), (6, 6), (6, 6)]
    pd.testing.assert_frame_equal(ordered(read_frame(path)), before)
    pd.testing.assert_frame_equal(ordered(listed(path)), before)  # the originals are gone
    assert {p.name for p in path.glob("batch-*.parquet")} == {e["name"] for e in sink.files}
    manifest = json.loads((path / layout.MANIFEST).read_text())
    assert [e["name"] for e in manifest["files"]] == [e["name"] for e in sink.files]


def test_compaction_leaves_the_current_batch_and_big_files(spark, sink):
    for b in range(3):
        write(spark, sink, b)
    # in batch 2 only batches 0 and 1 are final: 4 files, below a fan-in of 5
    assert not sink.compact(spark, 2, fanin=5, target=1 << 30)
    assert not sink.compact(spark, 3, fanin=4, target=100)  # every file is "big"
    sizes = [e["bytes"] for e in sink.files]
    # 6 small files, but the first 2 reach the target size: only they are merged
    assert sink.compact(spark, 3, fanin=6, target=sizes[0] + sizes[1])
    assert [(e["first"], e["last"], e["level"]) for e in sink.files][:2] == [(0, 0, 1), (1, 1, 0)]
    assert len(read_frame(sink.path)) == 18
    with pytest.raises(RuntimeError, match="older than a compacted one"):
        write(spark, sink, 0)  # a batch inside a compacted file can never be replayed


def test_batches_commit_while_a_merge_runs(spark, sink, tmp_path, monkeypatch):
    """A merge in the background holds up no batch: batches 3 and 4 commit while the merge of
    0-2 has written its file and not yet swapped the manifest, and the swap keeps them. No
    second merge starts in the sink meanwhile."""
    path = tmp_path / "scored"
    for b in range(3):
        write(spark, sink, b)
    written, go = threading.Event(), threading.Event()
    merged_file = layout.merged_file

    def held(first, last, token):  # the merge's file is written; its swap comes next
        written.set()
        assert go.wait(120)
        return merged_file(first, last, token)

    monkeypatch.setattr(layout, "merged_file", held)
    merge_in_background([sink], spark, 3, 6, 1 << 30)
    try:
        assert written.wait(120)
        write(spark, sink, 3)
        write(spark, sink, 4)
        assert merging(sink.path)
        merge_in_background([sink], spark, 5, 2, 1 << 30)  # due (batch 3's and 4's files): not started
    finally:
        go.set()
        settle(sink.path)
    assert not merging(sink.path)
    assert [(e["level"], e["first"], e["last"]) for e in sink.files] == [(1, 0, 2)] + [(0, 3, 3)] * 2 + [
        (0, 4, 4)
    ] * 2
    frame = read_frame(path)
    assert sorted(frame.groupby("batch_id").size().items()) == [(b, 6) for b in range(5)]
    assert {p.name for p in path.glob("batch-*.parquet")} == {e["name"] for e in sink.files}
    manifest = json.loads((path / layout.MANIFEST).read_text())
    assert [e["name"] for e in manifest["files"]] == [e["name"] for e in sink.files]


@pytest.mark.parametrize("when", ["before the manifest", "before the deletions"])
def test_a_crash_in_compaction_loses_and_doubles_nothing(spark, sink, tmp_path, monkeypatch, when):
    path = tmp_path / "scored"
    for b in range(3):
        write(spark, sink, b)
    before = ordered(read_frame(path))
    swap = Sink._swap

    def crash(self, files, retired):
        if when == "before the deletions":
            swap(self, files, [])
        raise Crash()

    monkeypatch.setattr(Sink, "_swap", crash)
    with pytest.raises(Crash):
        sink.compact(spark, 3, fanin=6, target=1 << 30)
    monkeypatch.undo()
    assert len(listed(path)) == 36  # a listing sees the merged file and its originals
    pd.testing.assert_frame_equal(ordered(read_frame(path)), before)
    Sink(HadoopFS(spark), str(path)).open()  # the restarted job deletes what is not named
    pd.testing.assert_frame_equal(ordered(listed(path)), before)


def land_four_files(landing) -> None:
    """120 events of 2 devices in 4 landing files of 30."""
    lines = events(2, 120, seed=5).decode().splitlines(keepends=True)
    inbox = Landing(landing)
    for i in range(0, 120, 30):
        inbox.put("".join(lines[i : i + 30]).encode())


def scored_once(path) -> list[dict]:
    """The sink holds the 120 events once and no file beside its manifest's; its entries."""
    scored = read_frame(path)
    assert len(scored) == 120 and not scored.duplicated(["device_id", "ts"]).any()
    manifest = json.loads((path / layout.MANIFEST).read_text())["files"]
    assert sorted(p.name for p in path.glob("batch-*")) == sorted(e["name"] for e in manifest)
    return manifest


def test_a_stream_compacts_its_sinks(spark, stream_model, tmp_path):
    """The job itself, compacting every 2 files: 4 landing files read one a batch, then the
    drain (5 batches, 2 scored files each); every event scored once, files merged, nothing
    left beside the manifest's."""
    spec, out = load_spec(SPEC), tmp_path / "out"
    land_four_files(tmp_path / "in")
    ctx = make_context(spec, str(stream_model))
    spark.conf.set(COMPACT_FILES, "2")
    try:
        run_available_now(spark, spec, ctx, str(tmp_path / "in"), str(out), max_files=1, echo=lambda m: None)
    finally:
        spark.conf.unset(COMPACT_FILES)
    manifest = scored_once(out / "scored")
    assert max(e["level"] for e in manifest) >= 2 and len(manifest) < 10


def test_driver_written_files_compact_in_the_same_types(spark, tmp_path):
    """alerts/: pyarrow files of the rows the driver collected; merged by Spark."""
    sink = Sink(HadoopFS(spark), str(tmp_path / "alerts"))
    schema = T.StructType([*SCHEMA.fields[:1], T.StructField("ts", T.TimestampType()), *SCHEMA.fields[2:]])
    for b in range(3):  # the order column comes to the driver as epoch microseconds
        commit_rows(
            [
                (r[0], (r[1] - datetime(1970, 1, 1)) // timedelta(microseconds=1), r[2], r[3])
                for r in rows_of(b, 2)
            ],
            schema,
            sink,
            b,
        )
    before = ordered(read_frame(tmp_path / "alerts"))
    assert sink.compact(spark, 3, fanin=3, target=1 << 30)
    after = ordered(read_frame(tmp_path / "alerts"))
    pd.testing.assert_frame_equal(after, before)
    assert after["ts"].iloc[0] == pd.Timestamp("2026-11-01 00:00:00")


def test_a_sink_from_before_manifests_is_adopted(spark, tmp_path):
    path = tmp_path / "quarantine"
    path.mkdir()
    old = pd.DataFrame({"reason": ["late", "late"], "batch_id": [0, 0]})
    old.to_parquet(path / "batch-0000000000-00000.parquet", index=False)
    assert len(read_frame(path)) == 2  # no manifest: the files listed
    sink = Sink(HadoopFS(spark), str(path))
    assert sink.has_data()
    assert [(e["first"], e["level"]) for e in sink.files] == [(0, 0)]
    assert len(read_frame(path)) == 2
    assert read_frame(tmp_path / "nothing").empty


QUARANTINE_TYPES = (  # quarantine/'s columns as Spark writes them (batch_id a literal: required)
    "reason: string\nraw: string\nsource: string\nline: int64\ndevice_id: string\n"
    "ts: timestamp[ns]\nbatch_id: int64 not null"
)


def test_quarantine_rows_come_back_to_the_driver_under_the_cap(spark, stream_model, tmp_path):
    """quarantine/ from the driver's rows (the default cap) and, with a cap of 2, from Spark:
    batch 0 over the cap (its quarantine computed again), batch 1 over it too (cached, after an
    overflow), batch 2 under it (cached, the driver's rows). The same rows either way, in the
    types Spark writes, and every line counted once."""
    import pyarrow.parquet as pq  # noqa: PLC0415 (this test only)

    good = events(2, 12, seed=5).decode().splitlines(keepends=True)
    bad = {  # file -> its bad lines, after its 4 good ones (lines 5...)
        0: [b"42", b"{}", b'{"device_id":"dev-q","ts":"2026-11-01T00:05:00Z","rpm":"fast"}'],
        1: [b"null", b"[1]", b"{}"],
        2: [b"{oops"],
    }
    reasons = {
        0: ["malformed_row", "missing_required", "invalid_value"],
        1: ["malformed_row"] * 2 + ["missing_required"],
    }
    reasons[2] = ["malformed_row"]
    spec = load_spec(SPEC)
    ctx = make_context(spec, str(stream_model))
    got = {}
    for cap in ("10000", "2"):
        inbox = Landing(tmp_path / cap / "in")
        names = [
            inbox.put("".join(good[4 * k : 4 * k + 4]).encode() + b"\n".join(bad[k]) + b"\n").name
            for k in range(3)
        ]
        spark.conf.set("spark.sensorpipe.sinks.quarantineOnDriver", cap)
        try:
            out = tmp_path / cap / "out"
            run_available_now(spark, spec, ctx, str(inbox.dir), str(out), max_files=1, echo=lambda m: None)
        finally:
            spark.conf.unset("spark.sensorpipe.sinks.quarantineOnDriver")
        q = read_frame(out / "quarantine")
        q["source"] = q["source"].str.rsplit("/", n=1).str[-1].map({n: k for k, n in enumerate(names)})
        got[cap] = q.sort_values(["source", "line"]).reset_index(drop=True)
        expected = [(k, 5 + i, r, bad[k][i].decode(), k) for k in range(3) for i, r in enumerate(reasons[k])]
        assert (
            list(got[cap][["source", "line", "reason", "raw", "batch_id"]].itertuples(index=False))
            == expected
        )
        files = [
            out / "quarantine" / e["name"]
            for e in json.loads((out / "quarantine" / layout.MANIFEST).read_text())["files"]
        ]
        assert {str(pq.read_schema(f).remove_metadata()) for f in files} == {QUARANTINE_TYPES}
        lines = [json.loads(x)["sensorpipe"] for x in (out / "metrics.jsonl").read_text().splitlines()]
        assert sum(x["events"] for x in lines) == 19 and sum(x["quarantined"] for x in lines) == 7
        assert len(read_frame(out / "scored")) == 12
    pd.testing.assert_frame_equal(got["10000"], got["2"])


def test_a_merge_that_fails_in_the_background_fails_the_run(spark, stream_model, tmp_path, monkeypatch):
    """Merges run on a thread of their own while the next batch computes; one that fails
    fails the run as it did inside its batch, and what it leaves is no part of the sinks: the
    restarted job scores every event once."""
    spec, out = load_spec(SPEC), tmp_path / "out"
    land_four_files(tmp_path / "in")
    ctx = make_context(spec, str(stream_model))

    def fail(self, spark, group, level):
        (Path(self.path) / COMPACTING / "left-behind").mkdir(parents=True)
        raise Crash(f"merge of {len(group)} files failed")

    def run() -> None:
        run_available_now(spark, spec, ctx, str(tmp_path / "in"), str(out), max_files=1, echo=lambda m: None)

    spark.conf.set(COMPACT_FILES, "2")
    try:
        monkeypatch.setattr(Sink, "_merge", fail)
        with pytest.raises(Exception, match="merge of 2 files failed"):
            run()
        monkeypatch.undo()
        assert (out / "scored" / COMPACTING).exists()
        run()
    finally:
        spark.conf.unset(COMPACT_FILES)
    assert max(e["level"] for e in scored_once(out / "scored")) >= 1
    assert not (out / "scored" / COMPACTING).exists()
