"""`sensorpipe simulate`: determinism, fault rates, failure signatures, maintenance, the
history cleaning with the project, stream files that only ever appear whole, and the feed's
truth (failures.csv, maintenance.csv) as a history writes it."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT
from mapreduce.runner import clean
from sensorpipe.cli import main as cli
from sensorpipe.core.rows import split_fields
from sensorpipe.core.spec import load_spec
from sensorpipe.model.features import feature_config
from sensorpipe.model.history import read_log
from sensorpipe.sim.feed import EventStream, run_stream
from sensorpipe.sim.fleet import ffill_ids
from sensorpipe.sim.history import write_history
from sensorpipe.sim.text import CLEAN, Format, Rates, mangle
from sensorpipe.sim.truth import Truth

SPEC = ROOT / "conf" / "sensors.toml"
COLUMNS = ["device_id", "ts", "model", "temperature", "vibration", "pressure", "rpm", "load"]
NULLS = {"", "NA", "N/A", "null", "NULL", "NaN", "?"}
HOUR = pd.Timedelta(hours=1)
BUSY = Rates(*(0.01 for _ in range(6)))  # a feed with 1% of every fault


@pytest.fixture(scope="module")
def spec():
    return load_spec(SPEC)


@pytest.fixture(scope="module")
def fleet(spec, tmp_path_factory):
    """50 machines for 30 days at 5-minute readings, without feed faults."""
    out = tmp_path_factory.mktemp("fleet")
    write_history(spec, out, 50, 720, seed=11, interval_s=300, rates=CLEAN)
    df = pd.read_csv(out / "sensors.csv", dtype={"device_id": str})
    df["ts"] = pd.to_datetime(df.ts, format="%Y-%m-%dT%H:%M:%SZ")
    events = {n: pd.read_csv(out / f"{n}.csv", parse_dates=["ts"]) for n in ("failures", "maintenance")}
    for e in events.values():
        e["ts"] = e.ts.dt.tz_localize(None)
    running = {dev: g[g.rpm > 0] for dev, g in df.groupby("device_id")}
    return df, running, events["failures"], events["maintenance"]


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _out_of_order(ts: list) -> int:
    """Readings whose time (ISO-8601 or epoch seconds) is earlier than one read before them."""
    s = pd.Series([str(t) for t in ts])
    epoch = s.str.isdigit()
    iso = pd.to_datetime(s.where(~epoch), format="%Y-%m-%dT%H:%M:%SZ")
    seconds = np.where(epoch, pd.to_numeric(s.where(epoch)), iso.to_numpy("datetime64[s]").astype(np.int64))
    return int((seconds[1:] < np.maximum.accumulate(seconds)[:-1]).sum())


# -- pure pieces, values by hand


def test_ffill_ids_carries_the_latest_mark():
    ids = ffill_ids(2, 5, np.array([0, 1, 0]), np.array([2, 0, 4]))
    assert ids.tolist() == [[0, 0, 2, 2, 4], [3, 3, 3, 3, 3]]


def test_format_rounds_values_into_their_text(spec):
    csv, js = Format(spec, "csv", 3), Format(spec, "json", 3)
    codes = csv.codes("temperature", np.array([63.456, -50.0, 1000.0, 0.0]))
    assert csv.tables["temperature"].take(codes).to_pylist() == ["63.46", "-50", "400", "0"]
    assert js.tables["temperature"].take(codes[:1]).to_pylist() == ['"temperature":63.46']
    assert js.tables["device_id"][2].as_py() == '{"device_id":"dev-00002"'
    assert js.tables["load"][-1].as_py() == '"load":null}\n'  # the null token, last column
    assert csv.tables["rpm"].take(csv.codes("rpm", np.array([1499.6]))).to_pylist() == ["1500"]


def test_mangled_lines_are_malformed():
    line = "dev-00001,2026-11-01T00:00:00Z,M100,63.46,2.1,300.5,1500,60\n"
    assert mangle(line, 0, "csv", ",") == "dev-00001\n"
    assert mangle(line, 4 * 3, "csv", ",") == "dev-00001,2026-11-01T00:00:00Z,M100,63.46\n"
    assert mangle(line, 1, "csv", ",") == "dev-00001;2026-11-01T00:00:00Z;M100;63.46;2.1;300.5;1500;60\n"
    assert mangle(line, 2, "csv", ",") == line[:-1] + ",60\n"
    assert mangle(line, 3, "csv", ",") == '"' + line
    event = '{"device_id":"d","ts":"2026-11-01T00:00:00Z","load":60}\n'
    assert mangle(event, 0, "json", ",") == '{"dev\n'  # a tenth of the line
    assert mangle(event, 9, "json", ",") == '{"device_id":"d","ts":\n'  # four tenths
    assert mangle(event, 1, "json", ",") == '{"device_id":"d","load":60}\n'
    assert mangle(event, 2, "json", ",") == "{'device_id':'d','ts':'2026-11-01T00:00:00Z','load':60}\n"


# -- history


def test_same_seed_same_bytes_other_seed_other_bytes(spec, tmp_path):
    names = ("sensors.csv", "failures.csv", "maintenance.csv", "manifest.json")
    runs = {}
    for run, seed in (("a", 7), ("b", 7), ("c", 8)):
        write_history(spec, tmp_path / run, 5, 12, seed=seed, rates=BUSY)
        runs[run] = [(tmp_path / run / n).read_bytes() for n in names]
    assert runs["a"] == runs["b"]
    assert runs["a"][0] != runs["c"][0]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(names)  # no temp files


def test_rows_and_faults_at_their_rates(spec, tmp_path):
    m = write_history(spec, tmp_path, 20, 48, seed=3, rates=BUSY)
    c = m["counts"]
    readings = 20 * 48 * 60
    assert c["readings"] == readings
    lines = _lines(tmp_path / "sensors.csv")
    assert lines[0] == ",".join(COLUMNS)
    assert len(lines) - 1 == c["rows"] == readings + c["duplicates"]
    for fault in ("missing", "malformed", "spikes", "duplicates", "late"):
        assert 0.6 * 0.01 * readings < c[fault] < 1.4 * 0.01 * readings, fault
    assert 0.3 * 0.01 * readings < c["stuck"] < 2.0 * 0.01 * readings
    assert 0 < c["spikes_out_of_range"] < 0.4 * c["spikes"]
    rows = [split_fields(line, ",") for line in lines[1:]]
    good = [r for r in rows if r is not None and len(r) == len(COLUMNS)]
    assert len(rows) - len(good) == c["malformed"]
    tokens = sum(v in NULLS for r in good for v in r)
    assert 0.8 * c["missing"] < tokens < 1.2 * c["missing"]
    epoch = sum(r[1].isdigit() for r in good)
    assert 0.3 * c["duplicates"] < epoch < 0.7 * c["duplicates"]
    assert 0.9 * c["late"] <= _out_of_order([r[1] for r in good]) <= c["late"] + c["duplicates"]


def test_stuck_sensors_repeat_a_value_and_leave_the_physics_alone(spec, tmp_path):
    """Feed faults draw from their own generator: a feed with stuck sensors differs from the
    clean one exactly in the stuck readings, each a repeat of the reading before it."""
    sensors = ["temperature", "vibration", "pressure", "rpm", "load"]
    m = write_history(spec, tmp_path / "stuck", 2000, 3, seed=2, rates=replace(CLEAN, stuck=0.02))
    write_history(spec, tmp_path / "clean", 2000, 3, seed=2, rates=CLEAN)  # 2 windows of 131 steps
    stuck, clean_ = (pd.read_csv(tmp_path / run / "sensors.csv") for run in ("stuck", "clean"))
    changed = stuck[sensors] != clean_[sensors]
    assert 0.9 * m["counts"]["stuck"] <= changed.to_numpy().sum() <= m["counts"]["stuck"]
    assert 0.01 * 360_000 < m["counts"]["stuck"] < 0.03 * 360_000
    before = stuck.groupby("device_id")[sensors].shift()
    assert (stuck[sensors][changed] == before[changed]).to_numpy().sum() == changed.to_numpy().sum()


def test_clean_flag_writes_no_faults(tmp_path):
    assert (
        cli(
            [
                "simulate",
                "--spec",
                str(SPEC),
                "--devices",
                "4",
                "--hours",
                "6",
                "--output",
                str(tmp_path),
                "--clean",
            ]
        )
        == 0
    )
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["counts"] == {"readings": 1440, "rows": 1440} | dict.fromkeys(
        ("missing", "malformed", "stuck", "spikes", "spikes_out_of_range", "duplicates", "late"), 0
    )
    rows = [line.split(",") for line in _lines(tmp_path / "sensors.csv")[1:]]
    assert len(rows) == 1440 and all(len(r) == 8 and not NULLS & set(r) for r in rows)
    assert [r[1] for r in rows] == sorted(r[1] for r in rows)


def test_history_cleans_with_the_project(spec, tmp_path):
    m = write_history(spec, tmp_path / "raw", 10, 24, seed=5, rates=BUSY)
    report = clean(
        str(SPEC), str(tmp_path / "raw" / "sensors.csv"), str(tmp_path / "out"), echo=lambda _: None
    )
    assert report["rows_in"] == m["counts"]["rows"] == report["rows_clean"] + report["rows_rejected"]
    assert report["rejected_by_reason"] == {
        "malformed_row": m["counts"]["malformed"],
        "missing_required": 0,
        "invalid_value": 0,
        "duplicate_key": m["counts"]["duplicates"],
    }


# -- the fleet's physics, seen through the history CSV


def _window(running: dict, dev: str, start, end) -> pd.DataFrame:
    d = running[dev]
    return d[(d.ts >= start) & (d.ts < end)]


def _baseline(running, maintenance, dev, ts) -> pd.DataFrame:
    """The device's day after its last maintenance at least two days before ts, else its first day."""
    done = maintenance[(maintenance.device_id == dev) & (maintenance.ts < ts - 48 * HOUR)].ts
    start = done.max() if len(done) else running[dev].ts.min()
    return _window(running, dev, start, start + 24 * HOUR)


def _roughness(run: pd.DataFrame) -> float:
    """Spread of vibration from one reading to the next; blind to changes of regime."""
    return run.vibration.diff().abs().median()


def test_both_failure_modes_occur_with_their_signatures(fleet):
    _, running, failures, maintenance = fleet
    modes = failures["mode"].value_counts()
    assert modes["bearing"] >= 5 and modes["cooling"] >= 5
    for f in failures.itertuples():
        base = _baseline(running, maintenance, f.device_id, f.ts)
        if f.mode == "bearing":  # vibration and its spread rise
            before = _window(running, f.device_id, f.ts - 24 * HOUR, f.ts)
            assert before.vibration.mean() > 1.5 * base.vibration.mean(), f
            assert _roughness(before) > 2.0 * _roughness(base), f
        else:  # temperature rises against what the load explains
            slope, level = np.polyfit(base.load, base.temperature, 1)
            before = _window(running, f.device_id, f.ts - 6 * HOUR, f.ts)
            excess = (before.temperature - level - slope * before.load).mean()
            assert excess - (base.temperature - level - slope * base.load).mean() > 4.0, f


def test_repair_brings_vibration_back_to_baseline(fleet):
    _, running, failures, maintenance = fleet
    checked = 0
    for f in failures[failures["mode"] == "bearing"].itertuples():
        repaired = maintenance[(maintenance.device_id == f.device_id) & (maintenance.ts > f.ts)].ts.min()
        after = _window(running, f.device_id, repaired, repaired + 6 * HOUR)
        if pd.isna(repaired) or after.empty:
            continue
        worn = _window(running, f.device_id, f.ts - 6 * HOUR, f.ts).vibration.mean()
        first_day = _window(
            running, f.device_id, running[f.device_id].ts.min(), running[f.device_id].ts.min() + 24 * HOUR
        )
        assert after.vibration.mean() < 0.7 * worn, f
        assert after.vibration.mean() < 1.4 * first_day.vibration.mean(), f
        checked += 1
    assert checked >= 5
    repaired = 0  # the next maintenance after a failure is its repair
    for f in failures.itertuples():
        later = maintenance[(maintenance.device_id == f.device_id) & (maintenance.ts > f.ts)]
        if len(later):
            assert later.sort_values("ts").kind.iloc[0] == "repair", f
            repaired += 1
    kinds = maintenance["kind"].value_counts()
    assert kinds["repair"] == repaired and kinds["planned"] > 0


def test_regime_changes_are_not_failures(fleet):
    _, running, failures, _ = fleet
    healthy = sorted(set(running) - set(failures.device_id))
    assert healthy
    for dev in healthy[:5]:  # idle and heavy hours on machines that never fail
        hourly = running[dev].set_index("ts").load.resample("1h").mean()
        assert (hourly < 40).any() and (hourly > 75).any(), dev


# -- stream


def test_event_stream_is_deterministic_and_chunking_free(spec):
    whole = EventStream(spec, 30, seed=4, rates=BUSY).take(5000)
    parts = EventStream(spec, 30, seed=4, rates=BUSY)
    assert parts.take(1234) + parts.take(3766) == whole
    assert EventStream(spec, 30, seed=5, rates=BUSY).take(5000) != whole
    assert whole.count(b"\n") == 5000


def test_event_stream_lines_are_events_or_malformed(spec):
    events = EventStream(spec, 1000, seed=3, rates=BUSY)
    data = events.take(1)
    data += events.take(events.count["rows"] - 1)  # exactly the first window
    lines = data.decode().splitlines()
    parsed, bad = [], 0
    for line in lines:
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            obj = None
        if isinstance(obj, dict) and list(obj) == COLUMNS:
            parsed.append(obj)
        else:
            bad += 1
    assert bad == events.count["malformed"] > 0
    assert any(o["temperature"] is None for o in parsed) and any(isinstance(o["ts"], int) for o in parsed)
    late = _out_of_order([o["ts"] for o in parsed])  # emitted after later events
    assert 0.9 * events.count["late"] <= late <= events.count["late"] + events.count["duplicates"]


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_run_stream_paces_files_without_sleeping(spec, tmp_path):
    clock = FakeClock()
    events = EventStream(spec, 10, seed=1)
    done = run_stream(
        events, tmp_path, rate=1000, duration=3, file_interval=0.5, clock=clock, sleep=clock.sleep
    )
    assert done["files"] == 6 and done["events"] == 3000 and clock.now == pytest.approx(103.0)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"events-{i:06d}.jsonl" for i in range(6)]
    assert all((tmp_path / n).read_bytes().count(b"\n") == 500 for n in names)
    # landed within a millisecond of each other, yet in mtime order: Spark's file source
    # takes files by mtime (ms), and equal ones in either order
    stamps = [(tmp_path / n).stat().st_mtime_ns for n in names]
    assert all(b - a >= 1_000_000 for a, b in zip(stamps, stamps[1:]))
    run_stream(events, tmp_path, rate=1000, duration=1, file_interval=1, clock=clock, sleep=clock.sleep)
    assert sorted(p.name for p in tmp_path.iterdir())[-1] == "events-000006.jsonl"  # numbering goes on


def test_cli_stream_files_appear_only_complete(tmp_path):
    landing, seen, stop = tmp_path / "landing", {}, threading.Event()

    def watch():  # every file, the first time it is visible, is whole
        while True:
            for p in landing.glob("events-*.jsonl") if landing.exists() else ():
                if p.name not in seen:
                    data = p.read_bytes()
                    seen[p.name] = (data.endswith(b"\n"), data.count(b"\n"))
            if stop.wait(0.002):  # a look every 2 ms (files land every 250 ms), not a spinning core
                return

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        argv = ["simulate", "--spec", str(SPEC), "--devices", "20", "--stream", str(landing)]
        assert cli(argv + ["--rate", "2000", "--duration", "1", "--file-interval", "0.25"]) == 0
    finally:
        stop.set()
        watcher.join()
    assert sorted(p.name for p in landing.iterdir()) == [
        "_truth",
        *(f"events-{i:06d}.jsonl" for i in range(4)),
    ]
    assert seen and all(v == (True, 500) for v in seen.values())


def test_cli_usage_errors(tmp_path, capsys):
    base = ["simulate", "--spec", str(SPEC), "--devices", "3"]
    assert cli(base + ["--output", str(tmp_path / "h")]) == 2
    assert "--hours" in capsys.readouterr().err
    assert cli(base + ["--stream", str(tmp_path / "s")]) == 2
    assert cli(base + ["--output", str(tmp_path / "h"), "--hours", "1", "--late-rate", "2"]) == 2
    assert cli(base + ["--output", str(tmp_path / "h"), "--hours", "1", "--truth", str(tmp_path / "t")]) == 2
    assert "--truth is for a feed" in capsys.readouterr().err
    assert cli(base + ["--stream", str(tmp_path / "s"), "--rate", "9", "--rul", "RUL_FD001.txt"]) == 2
    assert "--rul needs --replay" in capsys.readouterr().err
    assert not (tmp_path / "h").exists() and not (tmp_path / "t").exists() and not (tmp_path / "s").exists()
    extra = tmp_path / "extra.toml"
    extra.write_text(SPEC.read_text() + '\n[[columns]]\nname = "humidity"\ntype = "float"\n')
    assert (
        cli(
            [
                "simulate",
                "--spec",
                str(extra),
                "--devices",
                "3",
                "--hours",
                "1",
                "--output",
                str(tmp_path / "h"),
            ]
        )
        == 2
    )
    assert "humidity" in capsys.readouterr().err


def test_replay_interleaves_devices_by_order_and_ends_with_the_file(tmp_path):
    """C-MAPSS lines replayed as events: cycle by cycle across units, values as in the file."""
    from sensorpipe.sim.replay import ReplayStream

    line = "{u} {c} 0.0023 -0.0003 100.0 518.67 643.02 1585.29 1398.21 14.62 21.61 553.90 2388.04 9050.17 1.30 47.20 521.72 2388.03 8125.55 8.4052 0.03 392 2388 100.00 38.86 23.3735\n"
    raw = tmp_path / "test.txt"
    raw.write_text("".join(line.format(u=u, c=c) for u, c in ((1, 1), (1, 2), (1, 3), (2, 1), (2, 2))))
    events = ReplayStream(load_spec(ROOT / "conf" / "cmapss.toml"), raw)
    clock = FakeClock()
    landing = tmp_path / "landing"
    done = run_stream(events, landing, rate=2, duration=None, file_interval=1, clock=clock, sleep=clock.sleep)
    assert done["events"] == 5 and done["files"] == 3
    got = [json.loads(x) for p in sorted(landing.glob("events-*.jsonl")) for x in p.read_text().splitlines()]
    assert [(e["unit"], e["cycle"]) for e in got] == [(1, 1), (2, 1), (1, 2), (2, 2), (1, 3)]
    first = got[0]
    assert first["setting1"] == 0.0023 and first["s2"] == 643.02 and first["s17"] == 392
    assert isinstance(first["cycle"], int) and len(first) == 26


def test_feed_truth_is_the_historys_and_comes_as_it_happens(spec, tmp_path):
    """One device with one window of 65,536 hourly steps: the feed and the history simulate
    the same fleet, so their logs must be the same bytes; and the feed writes a row only once
    it has handed out the readings of its hour (CLEAN: one line per step, in step order)."""
    write_history(spec, tmp_path / "history", 1, 65536, seed=7, interval_s=3600, rates=CLEAN)
    with Truth(tmp_path / "truth") as truth:
        events = EventStream(spec, 1, seed=7, interval_s=3600, rates=CLEAN, truth=truth)
        seen = []
        for _ in range(16):
            newest = json.loads(events.take(4096).splitlines()[-1])["ts"]
            rows = (tmp_path / "truth" / "failures.csv").read_text().splitlines()[1:]
            assert all(r.split(",")[1] <= newest for r in rows)  # ISO-8601 UTC sorts as time
            seen.append(len(rows))
    assert seen == sorted(seen) and 0 < seen[0] < seen[-1]
    for name in ("failures.csv", "maintenance.csv"):
        feed, history = ((tmp_path / d / name).read_text() for d in ("truth", "history"))
        assert feed == history and feed.count("\n") > 20


def test_cli_stream_truth_matches_the_events(tmp_path):
    """A month of 20 machines at 10-minute readings in about 3 s. A failure stops its machine:
    rpm 0 at the failure's reading, running the reading before; a repair or planned
    maintenance ends with the machine running again after a stop."""
    landing = tmp_path / "landing"
    argv = ["simulate", "--spec", str(SPEC), "--devices", "20", "--interval-s", "600", "--clean"]
    assert cli([*argv, "--seed", "3", "--rate", "30000", "--duration", "3", "--stream", str(landing)]) == 0
    truth = landing / "_truth"
    assert (truth / "failures.csv").read_text().startswith("device_id,ts,mode\n")
    assert (truth / "maintenance.csv").read_text().startswith("device_id,ts,kind\n")
    config = feature_config(load_spec(SPEC))
    failures, maintenance = (read_log(truth / n, config) for n in ("failures.csv", "maintenance.csv"))
    events = pd.concat(
        pd.read_json(p, lines=True, dtype={"device_id": str}) for p in landing.glob("events-*")
    )
    rpm = events.assign(ts=pd.to_datetime(events["ts"], utc=True)).set_index(["device_id", "ts"])["rpm"]
    before = pd.Timedelta(minutes=10)
    assert len(failures) >= 5 and set(failures["mode"]) == {"bearing", "cooling"}
    assert failures["ts"].max() <= rpm.index.get_level_values("ts").max()
    for dev, ts in zip(failures["device_id"], failures["ts"]):
        assert rpm[(dev, ts)] == 0 and rpm[(dev, ts - before)] > 0
    assert len(maintenance) >= 5 and set(maintenance["kind"]) == {"repair", "planned"}
    for dev, ts in zip(maintenance["device_id"], maintenance["ts"]):
        assert rpm[(dev, ts)] > 0 and rpm[(dev, ts - before)] == 0
    for frame in (failures, maintenance):
        assert frame.equals(frame.sort_values(["ts", "device_id"], kind="stable"))


def test_an_empty_failure_log_labels_every_reading_0():
    from sensorpipe.model.labels import with_failure_labels  # noqa: PLC0415

    config = feature_config(load_spec(SPEC))
    ts = pd.to_datetime(["2026-11-01T00:00:00Z", "2026-11-01T00:01:00Z"], utc=True)
    readings = pd.DataFrame({"device_id": ["a", "a"], "ts": ts})
    empty = pd.DataFrame({"device_id": pd.Series([], dtype=str), "ts": pd.to_datetime([], utc=True)})
    got = with_failure_labels(readings, config, empty, 24.0)
    assert got["label"].tolist() == [0, 0] and got["ttf"].isna().all()


def test_short_history_without_failures_cannot_train(tmp_path, capsys):
    """Two machines for two hours fail nowhere: train says so and exits 1, no traceback."""
    sim, out = tmp_path / "sim", tmp_path / "clean"
    write_history(load_spec(SPEC), sim, 2, 2, seed=0, rates=CLEAN)
    assert (sim / "failures.csv").read_text() == "device_id,ts,mode\n"
    clean(str(SPEC), str(sim / "sensors.csv"), str(out), engine="pipe")
    capsys.readouterr()
    argv = ["train", "--spec", str(SPEC), "--input", str(out), "--failures", str(sim / "failures.csv")]
    assert cli([*argv, "--model", str(tmp_path / "model"), "--threads", "1"]) == 1
    err = capsys.readouterr().err
    assert f"{sim / 'failures.csv'}: none of the 1 training devices fails" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "command, says",
    [
        ("train", "one cleaning output directory"),
        ("evaluate", "RUL_FD001.txt"),
        ("score", "test_FD001.txt"),
        ("stream", "simulate --stream DIR"),
        ("simulate", "--truth out/truth"),
    ],
)
def test_help_says_what_each_input_is_with_an_example(command, says, capsys):
    with pytest.raises(SystemExit):
        cli([command, "--help"])
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps the help lines
    assert says in out and "example" in out


def test_truth_goes_beside_the_feed_by_default():
    from argparse import Namespace  # noqa: PLC0415

    from sensorpipe.sim.command import truth_dir  # noqa: PLC0415

    assert truth_dir(Namespace(truth=None, stream="out/landing", topic=None)) == Path("out/landing/_truth")
    assert truth_dir(Namespace(truth=None, stream=None, topic="telemetry")) == Path("truth-telemetry")
    assert truth_dir(Namespace(truth="t", stream="out/landing", topic=None)) == Path("t")
