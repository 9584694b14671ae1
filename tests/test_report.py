"""`sensorpipe report`: the page built from small real runs, checked as text and in a
real headless Chromium (every image decoded, no console error, no request leaving the file).

Real runs made here: a tiny simulated fleet plus hand-written records cleaned by the pipe
engine; a C-MAPSS model trained on 20 units (one candidate, 3 folds) and evaluated. The
stream output is fabricated to its contract (metrics.jsonl, scored/, alerts/ Parquet).
Set SENSORPIPE_SCREENSHOT=PATH to keep the screenshot (e.g. out/report-screenshot.png).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from browser import CHROMIUM, Browser

from conftest import ROOT, SHARED
from sensorpipe.cli import main as cli

SENSORS = ROOT / "conf" / "sensors.toml"
CMAPSS = SHARED / "cmapss"

# 10 records: 6 clean; rejected: 1 malformed (7 fields), 1 missing device_id,
# 1 invalid rpm (rpm rejects invalid values), 1 duplicate key. One null temperature.
HAND = """device_id,ts,model,temperature,vibration,pressure,rpm,load
dev-a,2026-11-01T00:00:00Z,M100,50.0,2.0,380.0,1200,55.0
dev-a,2026-11-01T00:01:00Z,M100,51.0,2.1,381.0,1210,56.0
dev-a,2026-11-01T00:02:00Z,M100,,2.2,382.0,1220,57.0
dev-b,2026-11-01T00:00:00Z,M200,60.0,3.0,390.0,2400,70.0
dev-b,2026-11-01T00:01:00Z,M200,61.0,3.1,391.0,2410,71.0
dev-b,2026-11-01T00:01:00Z,M200,61.0,3.1,391.0,2410,71.0
,2026-11-01T00:03:00Z,M200,61.0,3.1,391.0,2410,71.0
dev-c,2026-11-01T00:00:00Z,M300,40.0,1.0,300.0,abc,30.0
dev-c,2026-11-01T00:01:00Z,M300,41.0,1.1,301.0,810
dev-c,2026-11-01T00:02:00Z,M300,42.0,1.2,302.0,800,31.0
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """Small real outputs of every run the report reads. One cleaning run of two files: a
    fault-free simulated fleet (4 devices x 12 h x 60 readings = 2,880 valid rows, unique
    keys) and the 10 hand-written records, so 2,890 rows in, 2,886 clean, 4 rejected."""
    tmp = tmp_path_factory.mktemp("report")
    raw = tmp / "raw"
    sim = [
        "simulate",
        "--spec",
        str(SENSORS),
        "--devices",
        "4",
        "--hours",
        "12",
        "--clean",
        "--output",
        str(tmp / "sim"),
    ]
    assert cli(sim) == 0
    raw.mkdir()
    shutil.copyfile(tmp / "sim" / "sensors.csv", raw / "a-fleet.csv")
    (raw / "b-hand.csv").write_text(HAND, encoding="utf-8")
    clean = subprocess.Popen(  # in the background while the model trains: the test has to stay short
        [sys.executable, "-m", "sensorpipe.cli", "clean", "--engine", "pipe", "--spec", str(SENSORS)]
        + ["--input", str(raw), "--output", str(tmp / "clean")],
        stdout=subprocess.DEVNULL,
        cwd=ROOT,
    )
    try:
        _train_small_model(tmp)
    finally:
        assert clean.wait(timeout=300) == 0
    stream, history = _stream_fixture(tmp)
    return {"tmp": tmp, "clean": tmp / "clean", "stream": stream, "history": history}


def _train_small_model(tmp: Path) -> None:
    """A real registry version and evaluation, cheap: 20 training units, one candidate, 3 folds."""
    spec = (ROOT / "conf" / "cmapss.toml").read_text(encoding="utf-8")
    spec = re.sub(r"(?m)^candidates = .*$", 'candidates = ["logistic"]', spec)
    spec = re.sub(r"(?m)^folds = \d+", "folds = 3", spec)
    (tmp / "cmapss.toml").write_text(spec, encoding="utf-8")
    with open(CMAPSS / "train_FD001.txt", encoding="utf-8") as src:
        units = [line for line in src if int(line.split()[0]) <= 20]
    (tmp / "train20.txt").write_text("".join(units), encoding="utf-8")
    common = ["--spec", str(tmp / "cmapss.toml"), "--model", str(tmp / "model")]
    assert cli(["train", *common, "--input", str(tmp / "train20.txt"), "--threads", "1"]) == 0
    test = ["--input", str(CMAPSS / "test_FD001.txt"), "--truth", str(CMAPSS / "RUL_FD001.txt")]
    assert cli(["evaluate", *common, *test, "--output", str(tmp / "eval")]) == 0


def _stream_fixture(tmp: Path) -> tuple[Path, Path]:
    """A stream output laid out by hand, for the page's figures (the real job's output is
    test_stream_section_of_a_real_run's): 3 devices x 180 readings in sinks without a
    manifest (read as the Parquet files they list), 3 alerts on 2 devices, 10 progress lines
    with the "sensorpipe" object streaming/sinks.py adds (one line without it), one line that
    is not JSON and one batch reported twice (a replay: the first report does not count)."""
    out, history = tmp / "stream", tmp / "history"
    for d in (out / "scored", out / "alerts", history):
        d.mkdir(parents=True)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    ts = pd.date_range(start, periods=180, freq="1min", tz="UTC")
    rng = np.random.default_rng(0)
    frames = []
    for i, device in enumerate(("dev-1", "dev-2", "dev-3")):
        drift = np.linspace(0, 25, 180) if device == "dev-1" else np.zeros(180)
        frames.append(
            pd.DataFrame(
                {
                    "device_id": device,
                    "ts": ts,
                    "temperature": 50 + drift + rng.normal(0, 1, 180),
                    "vibration": 2 + drift / 10 + rng.normal(0, 0.1, 180),
                    "pressure": 380 + rng.normal(0, 3, 180),
                    "rpm": np.full(180, 1200 + 600 * i),
                    "load": 55 + rng.normal(0, 2, 180),
                    "probability": np.clip(0.05 + drift / 26 + rng.uniform(0, 0.03, 180), 0, 1),
                }
            )
        )
    scored = pd.concat(frames, ignore_index=True)
    scored.iloc[:270].to_parquet(out / "scored" / "part-00000.parquet", index=False)
    scored.iloc[270:].to_parquet(out / "scored" / "part-00001.parquet", index=False)
    alerts = pd.DataFrame(
        {
            "device_id": ["dev-1", "dev-1", "dev-2"],
            "ts": pd.to_datetime(
                ["2026-11-01T02:30:00Z", "2026-11-01T02:50:00Z", "2026-11-01T01:00:00Z"], utc=True
            ),
            "probability": [0.91, 0.97, 0.82],
            "top_sensors": [["temperature", "vibration"], ["vibration"], ["load"]],
        }
    )
    alerts.to_parquet(out / "alerts" / "part-00000.parquet", index=False)
    (out / "alerts" / "_SUCCESS").write_text("")
    (history / "failures.csv").write_text(
        "device_id,ts,mode\ndev-1,2026-11-01T03:00:00Z,bearing\ndev-3,2026-11-01T01:30:00Z,cooling\n",
        encoding="utf-8",
    )
    lines = []
    for b in range(10):
        doc = {
            "timestamp": (start + timedelta(seconds=10 * b)).isoformat().replace("+00:00", "Z"),
            "batchId": b,
            "numInputRows": 54,
            "inputRowsPerSecond": 5.4,
            "processedRowsPerSecond": 100.0 + 10 * b,
            "durationMs": {"triggerExecution": 400 + 10 * b, "addBatch": 300},
            "sensorpipe": {
                "alerts": 1 if b in (3, 8) else 0,
                "scored": 54,
                "quarantined": 0,
                "latency_p50_s": 0.8,
                "latency_p95_s": 1.5,
            },
        }
        if b == 9:  # the last batch reports neither its rate nor the sensorpipe object
            del doc["processedRowsPerSecond"], doc["sensorpipe"]
        lines.append(json.dumps(doc))
    lines.insert(4, "{not json")
    # batch 4 reported twice: the replay, the later line, counts
    lines.insert(5, lines[5].replace('"numInputRows": 54', '"numInputRows": 999'))
    (out / "metrics.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out, history


# One landing file written by hand for a real stream run (the stream's model: harness/models.py,
# its alerts: a high 10-reading temperature mean). 57 warm-up readings of dev-hot (2026-10-31
# 23:03-23:59: the spec's [features] warmup = 60 gives a device's first 59 readings no
# probability), then 9 lines, one blank: 65 events in; scored: dev-hot's 57, then 00:00,
# 00:01 (its 58th and 59th: still warming), 00:02 (temperature 118: one alert, one episode)
# and dev-cool 00:00, 00:01 (temperature 40: warming, none); quarantined: a cut line
# (malformed_row), no ts (missing_required), rpm 1.5 (invalid_value).
WARMUP = [
    f'{{"device_id":"dev-hot","ts":"2026-10-31T23:{m:02d}:00Z","temperature":118,"vibration":3,"rpm":1500}}'
    for m in range(3, 60)
]
REAL_EVENTS = WARMUP + [
    '{"device_id":"dev-hot","ts":"2026-11-01T00:00:00Z","temperature":118,"vibration":3,"rpm":1500}',
    '{"device_id":"dev-hot","ts":"2026-11-01T00:01:00Z","temperature":118,"vibration":3,"rpm":1500}',
    '{"device_id":"dev-cool","ts":"2026-11-01T00:00:00Z","temperature":40,"vibration":3,"rpm":1500}',
    '{"device_id":"dev-hot","ts":"2026-11-01T00:02:00Z","temperature":1',
    "",
    '{"device_id":"dev-cool","temperature":40}',
    '{"device_id":"dev-cool","ts":"2026-11-01T00:01:00Z","temperature":40,"vibration":3,"rpm":1500}',
    '{"device_id":"dev-cool","ts":"2026-11-01T00:02:00Z","rpm":1.5}',
    '{"device_id":"dev-hot","ts":"2026-11-01T00:02:00Z","temperature":118,"vibration":3,"rpm":1500}',
]


def test_stream_section_of_a_real_run(spark, stream_model, tmp_path):
    """The streaming job run in-process (available-now, local[2]) on REAL_EVENTS, then the
    report's stream section rendered from what it wrote."""
    from harness.paths import SPEC  # noqa: PLC0415 (the stream's tests run on the fleet's spec)
    from sensorpipe.core.spec import load_spec  # noqa: PLC0415
    from sensorpipe.report.stream import stream_section  # noqa: PLC0415
    from sensorpipe.sim.landing import Landing  # noqa: PLC0415
    from streaming.score_stream import make_context, run_available_now  # noqa: PLC0415

    spec, out = load_spec(SPEC), tmp_path / "stream"
    Landing(tmp_path / "in").put(("\n".join(REAL_EVENTS) + "\n").encode())
    started = datetime.now(UTC)
    ctx = make_context(spec, str(stream_model))
    run_available_now(spark, spec, ctx, str(tmp_path / "in"), str(out), echo=lambda m: None)
    finished = datetime.now(UTC)
    section = stream_section(out, None)
    summary = text_of(section.summary)
    # the files batch and the drain batch (it releases 00:02 of both devices, held by the watermark)
    assert re.search(r"^2 micro-batches over \d+ s, 65 rows, median [\d,.]+ rows/s processed; ", summary), (
        summary
    )
    assert "; 62 scored, 3 quarantined; " in summary
    assert "1 alerts on 1 devices" in summary
    assert re.search(r"batch duration median [\d.]+ s, p95 [\d.]+ s", summary)
    # latency: from each batch's scored event times (2026-10-31 23:03 to 11-01 00:02) to its commit
    p95 = float(
        re.search(r"latency p95 median ([\d,.]+) s \(event time to commit\)", summary)[1].replace(",", "")
    )
    earliest, latest = datetime(2026, 10, 31, 23, 3, tzinfo=UTC), datetime(2026, 11, 1, 0, 2, tzinfo=UTC)
    assert (started - latest).total_seconds() <= p95 <= (finished - earliest).total_seconds()
    body = text_of(section.body)
    assert "First 1 of 1 alerts" in body and "dev-hot 2026-11-01 00:0" in body
    assert "dev-hot: 60 scored readings" in section.body  # the trace's caption


@pytest.fixture(scope="module")
def page(runs) -> Path:
    out = runs["tmp"] / "report.html"
    args = ["report", "--clean", str(runs["clean"]), "--model", str(runs["tmp"] / "model")]
    args += ["--evaluation", str(runs["tmp"] / "eval"), "--stream", str(runs["stream"])]
    # the hand-made history dir doubles as the feed's truth: failures.csv in the same format
    args += ["--history", str(runs["history"]), "--truth", str(runs["history"]), "--output", str(out)]
    assert cli(args) == 0
    return out


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace(" ,", ",")


def test_summary_states_the_known_numbers(page):
    html = page.read_text(encoding="utf-8")
    summary = text_of(html.split('<div class="summary">', 1)[1].split("</header>", 1)[0])
    assert "2,890 rows in, 2,886 clean (99.86 %), 4 rejected: " in summary
    for reason in ("duplicate_key 1", "invalid_value 1", "malformed_row 1", "missing_required 1"):
        assert reason in summary
    assert "logistic version" in summary and "20 devices" in summary
    assert "n = 100" in summary  # the test set: one row per test unit
    assert "10 micro-batches over 90 s, 540 rows, median 140.0 rows/s processed" in summary
    assert "latency p95 median 1.50 s" in summary
    # 3 devices scored 00:00-02:59 (0.4 device-days): both failures are unjudged, as no device was
    # watched for the 72 h before them; dev-2's alert has no failure after it: false
    assert "3 alerts on 2 devices; against the feed's truth: 0 of 0 failures caught, 2 unjudged;" in summary
    assert "1 false alerts (2.682 per device-day over 0.4 device-days)" in summary


def test_details(page):
    text = text_of(page.read_text(encoding="utf-8"))
    assert re.search(r"temperature 1 1 \d", text), "1 null (a hand-written record), 1 imputed"
    assert "First 3 of 3 alerts" in text
    assert "dev-1 2026-11-01 02:30:00 0.910 temperature, vibration bearing 0.5 h later" in text
    assert "dev-2 2026-11-01 01:00:00 0.820 load none recorded" in text


def test_evaluation_row_is_counted_from_the_predictions(page, runs):
    """The test-set table's first row: precision, recall and F1 counted here from the
    evaluation's predictions.csv, against RUL_FD001.txt read here."""
    truth = [int(x) for x in (CMAPSS / "RUL_FD001.txt").read_text().split()]
    pred = pd.read_csv(runs["tmp"] / "eval" / "predictions.csv")
    assert pred["rul"].tolist() == truth and pred["label"].sum() == 25  # 25 of 100 fail within 30 cycles
    assert (pred["label"] == (pred["rul"] <= 30)).all()
    threshold = json.loads((runs["tmp"] / "eval" / "metrics.json").read_text())["threshold"]
    assert (pred["predicted"] == (pred["probability"] >= threshold)).all()
    hits, alerted = int((pred["label"] & pred["predicted"]).sum()), int(pred["predicted"].sum())
    counted = " ".join(f"{v:.3f}" for v in (hits / alerted, hits / 25, 2 * hits / (alerted + 25)))
    text = text_of(page.read_text(encoding="utf-8"))
    assert f"sensorpipe logistic (threshold {threshold:.3f}) {counted} baseline: " in text


def test_self_contained(page):
    html = page.read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)=["']?(?!["']|data:|#)""", html), "only data: URIs and in-page links"
    assert "http://" not in html and "https://" not in html
    assert page.stat().st_size < 3_000_000


def test_parquet_clean_output_is_sampled(runs, tmp_path):
    """A Spark-style output: Parquet parts beside .crc files; at most N rows per part are read."""
    from sensorpipe.report.data import clean_sample  # noqa: PLC0415

    out = tmp_path / "spark"
    shutil.copytree(runs["clean"], out, ignore=shutil.ignore_patterns("clean"))
    (out / "clean").mkdir()
    stats = json.loads((out / "stats.json").read_text())
    frame = pd.DataFrame({"temperature": [1.0, 2.0, 3.0, None], "rpm": [10, 20, 30, 40]})
    frame.to_parquet(out / "clean" / "part-00000-x.snappy.parquet", index=False)
    frame.to_parquet(out / "clean" / "part-00001-x.snappy.parquet", index=False)
    (out / "clean" / ".part-00000-x.snappy.parquet.crc").write_bytes(b"not parquet")
    (out / "clean" / "_SUCCESS").write_text("")
    sample = clean_sample(out, stats, ["temperature", "rpm"], limit=4)
    assert sample["rpm"].tolist() == [10, 20, 10, 20]  # 2 rows from each of the 2 parts
    assert sample["temperature"].tolist() == [1.0, 2.0, 1.0, 2.0]


def test_absent_inputs_are_said(tmp_path):
    empty = tmp_path / "stream"
    empty.mkdir()
    out = tmp_path / "r.html"
    assert cli(["report", "--stream", str(empty), "--output", str(out)]) == 0
    text = text_of(out.read_text(encoding="utf-8"))
    assert "no cleaning run given" in text and "no model given" in text
    assert "no progress metrics" in text and "no alerts output" in text
    assert cli(["report", "--output", str(out)]) == 0
    assert "no stream run given" in text_of(out.read_text(encoding="utf-8"))


@pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="no chromium: `make test` installs it (apt-get install chromium)"
)
def test_in_chromium(page, runs):
    with Browser(width=1280, height=900) as browser:
        browser.open(page)
        images = browser.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt])")
        title = browser.evaluate("document.title")
        summary = browser.evaluate("document.querySelector('.summary').innerText")
        shot = browser.screenshot(runs["tmp"] / "report-screenshot.png")
        keep = os.environ.get("SENSORPIPE_SCREENSHOT")
        if keep:  # and the whole page, for a reader
            browser.screenshot(runs["tmp"] / "report-full.png", full_page=True)
    assert title == "sensorpipe run report"
    # distributions, 4 model plots, throughput, alert timeline, traces of dev-1 and dev-2
    assert len(images) == 9, images
    assert all(complete and width > 0 for complete, width, _ in images), images
    assert browser.errors == []
    assert all(url.startswith(("file:", "data:")) for url in browser.requests), browser.requests
    assert "Data quality" in summary and "3 alerts on 2 devices" in summary
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if keep:
        Path(keep).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, keep)
        shutil.copyfile(runs["tmp"] / "report-full.png", Path(keep).with_name(Path(keep).stem + "-full.png"))


def _live_fixture(tmp: Path) -> tuple[Path, Path]:
    """A stream output and a feed's truth laid out by hand for the live proof: devices A, B, C
    scored hourly over 10 days (2026-11-01 00:00 to 11-11 00:00, 30 device-days). Truth: A
    fails 11-06 12:00 (cooling), B 11-07 00:00 (bearing), C 11-02 00:00 (cooling: C was watched
    only 24 h before it, under the 72 h window: unjudged). Alerts: A 11-06 07:00, 5 h before
    its failure (caught, lead 5.0 h); B 11-02 12:00, 4.5 days before its failure and with none
    within 72 h after it (false; B's failure missed). So 1 of 2 caught, 1 false in 30
    device-days: 0.033 per device-day."""
    out, truth = tmp / "live-stream", tmp / "landing" / "_truth"
    for d in (out / "scored", out / "alerts", truth):
        d.mkdir(parents=True)
    ts = pd.date_range("2026-11-01", "2026-11-11", freq="1h", tz="UTC")
    scored = pd.concat(
        [pd.DataFrame({"device_id": d, "ts": ts, "probability": 0.1}) for d in ("A", "B", "C")],
        ignore_index=True,
    )
    scored.to_parquet(out / "scored" / "part-00000.parquet", index=False)
    alerts = pd.DataFrame(
        {
            "device_id": ["A", "B"],
            "ts": pd.to_datetime(["2026-11-06T07:00:00Z", "2026-11-02T12:00:00Z"], utc=True),
            "probability": [0.9, 0.8],
            "top_sensors": [["temperature"], ["vibration"]],
        }
    )
    alerts.to_parquet(out / "alerts" / "part-00000.parquet", index=False)
    (truth / "failures.csv").write_text(
        "device_id,ts,mode\nA,2026-11-06T12:00:00Z,cooling\nB,2026-11-07T00:00:00Z,bearing\n"
        "C,2026-11-02T00:00:00Z,cooling\n",
        encoding="utf-8",
    )
    return out, truth.parent


def test_stream_alerts_are_judged_against_the_feeds_truth(tmp_path):
    stream, landing = _live_fixture(tmp_path)
    out = tmp_path / "live.html"
    # the landing directory stands for its _truth/ (where `simulate --stream` writes the truth)
    assert cli(["report", "--stream", str(stream), "--truth", str(landing), "--output", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    summary = text_of(html.split('<div class="summary">', 1)[1].split("</header>", 1)[0])
    assert (
        "against the feed's truth: 1 of 2 failures caught (bearing 0/1, cooling 1/1), lead median 5.0 h,"
        " p10 5.0 h, 1 unjudged; 1 false alerts (0.033 per device-day over 30.0 device-days)"
    ) in summary
    text = text_of(html)
    assert "A cooling 2026-11-06 12:00 caught 2026-11-06 07:00 5.000" in text
    assert "B bearing 2026-11-07 00:00 missed" in text
    assert "C cooling 2026-11-02 00:00 unjudged (watched too briefly)" in text
    assert "First 1 of 1 false alerts" in text and "B 2026-11-02 12:00 0.800" in text
    assert 'alt="alerts and failures per device"' in html


def figures(caught, missed, lead, false):
    """Event figures as sensorpipe.model.events.event_metrics gives them, 30 device-days."""
    modes = {"bearing": {"caught": 0, "missed": missed}, "cooling": {"caught": caught, "missed": 0}}
    return {
        "judged": caught + missed, "caught": caught, "missed": missed, "lead_median_hours": lead,
        "lead_p10_hours": lead, "alerts": caught + false, "false_alerts": false,
        "false_per_device_day": false / 30.0, "device_days": 30.0, "unjudged": 1, "by_mode": modes,
        "window_hours": 72.0, "min_lead_hours": 1.0,
    }  # fmt: skip


def test_event_table_puts_model_and_baseline_side_by_side():
    from sensorpipe.report.model import event_table  # noqa: PLC0415

    html = event_table(
        [("hgb", figures(1, 1, 5.0, 1)), ("baseline", figures(1, 1, 2.0, 3)), ("none", None)], "c"
    )
    text = text_of(html)
    assert "per event hgb baseline " in text and "none" not in text  # a column without figures is left out
    assert "caught 1 1 missed 1 1 lead median (h) 5.000 2.000" in text
    assert "false alerts 1 3 false alerts per device-day 0.033 0.100" in text
    assert "caught: bearing 0 of 1 0 of 1 caught: cooling 1 of 1 1 of 1" in text


def test_a_model_with_alert_levels_is_named_with_them_and_shown_alone_beside():
    """A card whose features set [features.health] alert levels: the deployed figures are
    the model OR the levels', and the model's own out-of-fold figures stand beside them."""
    from sensorpipe.report.model import _card_events, _card_line  # noqa: PLC0415

    card = {
        "model": {"name": "hgb"},
        "feature_config": {"health": {"alert_wear": 4.7, "alert_drop": 12.0}},
        "alerting": {
            "objective": {
                "max_false_per_device_day": 0.02,
                "window_hours": 72.0,
                "min_lead_hours": 1.0,
                "repeat_hours": 71.0,
            },
            "model": "hgb",
            "threshold": 0.4,
            "quiet": "6 hours",
            "rule": "r",
            "failures_behind": 2,
            "out_of_fold_events": figures(2, 0, 30.0, 1),
            "model_alone_out_of_fold_events": figures(1, 1, 20.0, 0),
            "baseline_out_of_fold_events": figures(1, 1, 5.0, 3),
        },  # fmt: skip
    }
    text = text_of(_card_events(card, "hgb"))
    assert "alert levels wear_level &gt;= 4.7 or drift_drop &gt;= 12, whatever the model says" in text
    assert "(window 72 h, min lead 1 h; a standing alarm raised again after 71 h)" in text
    assert (
        "per event hgb OR wear_level &gt;= 4.7 or drift_drop &gt;= 12, out of fold hgb alone, out of fold"
        " baseline, out of fold failures judged 2 2 2 caught 2 1 1 missed 0 1 1"
    ) in text
    assert "per event out of fold (OR wear_level &gt;= 4.7 or drift_drop &gt;= 12): <b>2 of 2" in _card_line(
        card
    )
    card["feature_config"] = {"health": None}
    del card["alerting"]["model_alone_out_of_fold_events"]
    assert "per event hgb, out of fold baseline, out of fold failures judged 2 2 caught 2 1" in text_of(
        _card_events(card, "hgb")
    )
