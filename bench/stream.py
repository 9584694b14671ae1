"""Streaming job throughput and latency on local[2]: the simulator feeds it at rising rates.

  .venv/bin/python bench/stream.py [--rates 1000,5000,20000,50000,100000] [--duration 30]
      [--devices 1000] [--drain 60] [--watermark "2 minutes"] [--buckets 8] [--compact-files 16]
      [--write bench/RESULTS-stream.md]

Per rate: the job (`spark-submit streaming/score_stream.py` with its default trigger, 250 ms, its own process
group) starts on an empty landing directory and is warmed by one small file; then
`sensorpipe simulate --stream LANDING --rate R --duration D --start now --clean` feeds it
(one file a second, or every --file-interval seconds) while the job runs, and after the feed the job gets up to --drain
seconds to catch up before it is killed. Measured:
- processed rows/s: lines the job's batches read (metrics.jsonl, observedMetrics) between
  the first file landing and the end of the feed, over that span; input rows/s the same
  for the lines landed;
- backlog: lines landed but not yet in a committed batch, at mid-feed and at its end
  (growing = the job falls behind);
- latency: per scored row, the time its batch's rows became readable (the sinks' manifests
  committed: metrics.jsonl's `committed_at`; the batch from the row's batch_id) minus the
  mtime of the landing file it arrived in (p50/p95); the same for alert rows (the batch of the
  scored row that opened the alert); p95 again for the files landed in the feed's second
  half, when the job is warm (with the median batch time of the second half of the batches);
  and that warm alert p95 once more up to the batch's commit file in Spark's checkpoint
  (checkpoint/commits/<id>), which comes after the batch's compaction, if any, and Spark's
  own commit (the only latency this bench measured before 12-05).
A reading is held back until its bucket's newest event time less the watermark delay
(conf/sensors.toml [stream], 2 minutes of event time; --watermark and --buckets run the job
with a copy of the spec that sets them) reaches it; with --start now the simulator's event
time runs at 60 * rate / devices times wall-clock speed, so that hold is 2 * devices / rate
seconds of wall time for 2 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow.json as pj  # noqa: E402

from harness.faults import tick  # noqa: E402
from harness.paths import SPEC  # noqa: E402
from harness.stream_job import Job, JobDied, batches, snapshot, wait_for  # noqa: E402
from sensorpipe.sim.landing import land  # noqa: E402
from sensorpipe.store import sinks  # noqa: E402
from streaming.config import duration_us  # noqa: E402


def landed(landing: Path) -> pd.DataFrame:
    """device_id, ts, arrival (file mtime, epoch s) of every simulator line."""
    frames = []
    for path in sorted(landing.glob("events-*.jsonl")):
        t = pj.read_json(path).select(["device_id", "ts"]).to_pandas()
        frames.append(t.assign(arrival=path.stat().st_mtime, file=path.name))
    frame = pd.concat(frames, ignore_index=True)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True).dt.tz_localize(None).astype("datetime64[us]")
    return frame


def commit_times(out: Path) -> dict[int, float]:
    d = out / "checkpoint" / "commits"
    return {int(p.name): p.stat().st_mtime for p in d.iterdir() if p.name.isdigit()}


def sink_rows(out: Path, sink: str, columns: tuple = ("batch_id",)) -> pd.DataFrame:
    """device_id, ts (and `columns`) of the rows of the files a sink's manifest names."""
    cols = ["device_id", "ts", *columns]
    frames = [pd.read_parquet(p, columns=cols) for p in sinks.files(out / sink) or []]
    if not frames:
        return pd.DataFrame(columns=cols)
    frame = pd.concat(frames, ignore_index=True)
    ts = pd.to_datetime(frame["ts"])
    frame["ts"] = (ts.dt.tz_convert("UTC").dt.tz_localize(None) if ts.dt.tz else ts).astype("datetime64[us]")
    return frame


def batched_rows(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scored, alerts) rows with the batch that wrote them: a scored row's batch_id column; an
    alert is a scored row's (the reading that opened it), so it takes that row's batch. Files
    merged by the sinks' compaction keep their rows' batch ids, so the job may compact."""
    scored = sink_rows(out, "scored").rename(columns={"batch_id": "batch"})
    alerts = sink_rows(out, "alerts", ()).merge(scored, on=["device_id", "ts"], how="inner")
    return scored, alerts


def latencies(
    rows: pd.DataFrame, arrivals: pd.DataFrame, commits: dict[int, float], since: float = -np.inf
) -> np.ndarray:
    """Commit time of each row's batch minus its landing file's arrival (files landed from `since` on)."""
    joined = rows.merge(arrivals[["device_id", "ts", "arrival"]], on=["device_id", "ts"], how="inner")
    joined = joined[joined["batch"].isin(list(commits)) & (joined["arrival"] >= since)]
    return (joined["batch"].map(commits) - joined["arrival"]).to_numpy(dtype=float)


def progress(out: Path) -> pd.DataFrame:
    """Per batch: end time (epoch s), lines read and when the sinks named its rows (`committed`,
    epoch s; NaN from a job before 12-05), from metrics.jsonl (last line per batch)."""
    rows = []
    path = out / "metrics.jsonl"
    for line in path.read_text().splitlines() if path.exists() else []:
        doc = json.loads(line)
        start = datetime.fromisoformat(doc["timestamp"].replace("Z", "+00:00")).timestamp()
        seconds = doc.get("durationMs", {}).get("triggerExecution", 0) / 1000
        lines = doc.get("observedMetrics", {}).get("sensorpipe", {}).get("events", 0)
        at = doc.get("sensorpipe", {}).get("committed_at")
        committed = datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp() if at else np.nan
        rows.append(
            {
                "batch": doc["batchId"],
                "end": start + seconds,
                "lines": lines,
                "seconds": seconds,
                "committed": committed,
            }
        )
    frame = pd.DataFrame(rows, columns=["batch", "end", "lines", "seconds", "committed"])
    return frame.drop_duplicates("batch", keep="last").sort_values("batch")


def run_rate(
    work: Path, model: Path, code: Path, rate: int, duration: float, devices: int, drain: float,
    trigger: str | None = None, file_interval: float = 1.0, spec: Path = SPEC, watermark_s: float = 120.0,
    compact_files: int | None = None, confs: dict | None = None,
) -> dict:  # fmt: skip
    landing, out = work / "landing", work / "out"
    landing.mkdir(parents=True)
    warm_ts = pd.Timestamp.now(tz="UTC").tz_localize(None).floor("min") - pd.Timedelta(minutes=30)
    # sorts after the simulator's names; read first anyway
    land(landing / "events-999999.jsonl", tick(devices, warm_ts))
    # the sinks' compaction: the job's default unless --compact-files (0: off, as before 12-05)
    confs = dict(confs or {})
    if compact_files is not None:
        confs["spark.sensorpipe.sinks.compactFiles"] = compact_files
    job = Job.start(
        spec, model, landing, out, work / "job.log", code=code, max_files=None, trigger=trigger, confs=confs
    )  # fmt: skip
    try:
        wait_for(lambda: batches(out, "commits") >= 1, 900, "the warm-up batch", job)
        (landing / "events-999999.jsonl").rename(landing / ".warm-up.jsonl")
        load_before = os.getloadavg()[0]
        sim = [
            sys.executable,
            "-m",
            "sensorpipe.cli",
            "simulate",
            "--spec",
            str(SPEC),
            "--devices",
            str(devices),
        ]
        sim += ["--stream", str(landing), "--rate", str(rate), "--duration", str(duration), "--start", "now"]
        sim += ["--clean", "--seed", "1", "--file-interval", str(file_interval)]
        fed = time.time()
        subprocess.run(sim, check=True, cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True)
        feed_end = time.time()
        arrivals = landed(landing)
        total = len(arrivals)
        last_file = arrivals["arrival"].max()
        deadline = time.monotonic() + drain

        def caught_up() -> bool:
            p = progress(out)
            return p["lines"].sum() - 1 * devices >= total or time.monotonic() > deadline

        wait_for(caught_up, drain + 5, "the job to catch up", job, poll=1.0)
        load_after = os.getloadavg()[0]
    finally:
        job.kill()
    hold = watermark_s / 60 * devices / rate
    return measure(out, arrivals, devices, fed, feed_end, last_file, load_before, load_after, rate, hold)


def measure(out, arrivals, devices, fed, feed_end, last_file, load_before, load_after, rate, hold) -> dict:
    p = progress(out)
    p = p[p["batch"] > 0]  # batch 0 is the warm-up file
    first = arrivals["arrival"].min()
    span = max(last_file - first, 1e-9)
    in_feed = p[p["end"] <= last_file]

    def backlog(t: float) -> int:
        return int((arrivals["arrival"] <= t).sum() - p.loc[p["end"] <= t, "lines"].sum())

    # the batch's rows are readable once the sinks' manifests name them (`committed`, the job's
    # clock); Spark's commit file comes after the batch's compaction, if any, and Spark's own commit
    commits = p.dropna(subset=["committed"]).set_index("batch")["committed"].to_dict()
    spark_commits = commit_times(out)
    scored, alerts = batched_rows(out)
    scored, alerts = scored[scored["batch"] > 0], alerts[alerts["batch"] > 0]
    lat = latencies(scored, arrivals, commits)
    alert_lat = latencies(alerts, arrivals, commits)
    # the feed's second half: a fresh JVM's first batches run 2-3x slower (JIT, Python workers)
    lat2 = latencies(scored, arrivals, commits, first + span / 2)
    alert_lat2 = latencies(alerts, arrivals, commits, first + span / 2)
    alert_spark2 = latencies(alerts, arrivals, spark_commits, first + span / 2)
    caught = p["end"].max() if len(p) else float("nan")
    return {
        "rate": rate,
        "load": f"{load_before:.1f} / {load_after:.1f}",
        "landed": len(arrivals),
        "input rows/s": len(arrivals) / span,
        "processed rows/s": in_feed["lines"].sum() / span,
        "job rows/s busy": p["lines"].sum() / max(p["seconds"].sum(), 1e-9),
        "backlog mid": backlog(first + span / 2),
        "backlog end": backlog(last_file),
        "read by job": int(p["lines"].sum()),
        "drain s": caught - last_file if p["lines"].sum() >= len(arrivals) else float("nan"),
        "scored": len(scored),
        "p50 scored s": _pct(lat, 50),
        "p95 scored s": _pct(lat, 95),
        "alerts": len(alert_lat),
        "p50 alert s": _pct(alert_lat, 50),
        "p95 alert s": _pct(alert_lat, 95),
        "warm p95 scored s": _pct(lat2, 95),
        "warm p95 alert s": _pct(alert_lat2, 95),
        "warm p95 alert s to Spark's commit": _pct(alert_spark2, 95),
        "median batch s": float(p["seconds"].iloc[len(p) // 2 :].median()) if len(p) else float("nan"),
        "hold s": hold,
        "batches": len(p),
    }


def _pct(x: np.ndarray, q: float) -> float:
    return float(np.percentile(x, q)) if len(x) else float("nan")


def table(results: list[dict]) -> str:
    cols = list(max(results, key=len))
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in results:
        r = {c: row.get(c, "") for c in cols}
        cells = [
            f"{v:,.0f}" if isinstance(v, int) else f"{v:,.2f}" if isinstance(v, float) else str(v)
            for v in r.values()
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="1000,5000,20000,50000,100000")
    ap.add_argument("--duration", type=float, default=30.0, help="seconds the simulator feeds at each rate")
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--drain", type=float, default=60.0, help="seconds the job may take to catch up after")
    ap.add_argument("--work", help="working directory (default: a new one under bench/data)")
    ap.add_argument(
        "--trigger", help="the job's micro-batch interval (default: the job's own, 250ms; 0s: back to back)"
    )
    ap.add_argument("--file-interval", type=float, default=1.0, help="seconds between the simulator's files")
    ap.add_argument(
        "--watermark",
        help="the job's [stream] watermark, e.g. \"10 seconds\" (default: the spec's, 2 minutes)",
    )
    ap.add_argument(
        "--buckets",
        type=int,
        help="the job's [stream] buckets (default: the spec's; unset there, one per core)",
    )
    ap.add_argument(
        "--compact-files",
        type=int,
        help="the job's spark.sensorpipe.sinks.compactFiles (default: its own, 16; 0: no compaction)",
    )
    ap.add_argument(
        "--conf",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a Spark property for the job, e.g. spark.eventLog.enabled=true (repeatable)",
    )
    ap.add_argument("--write", help="append the table, date, machine and command to this Markdown file")
    args = ap.parse_args()
    from harness.models import make_model  # noqa: PLC0415

    work = Path(args.work or ROOT / "bench" / "data" / f"stream-{time.strftime('%Y%m%d-%H%M%S')}")
    work.mkdir(parents=True, exist_ok=False)
    make_model(work / "model")
    code = snapshot(work / "code")  # one version of the job for every rate
    spec, watermark_s = SPEC, duration_us(args.watermark or "2 minutes") / 1e6
    if args.watermark or args.buckets:
        spec = work / "sensors.toml"
        keys = [f'watermark = "{args.watermark}"'] * bool(args.watermark)
        keys += [f"buckets = {args.buckets}"] * bool(args.buckets)
        spec.write_text(SPEC.read_text() + "\n[stream]\n" + "\n".join(keys) + "\n")
    results = []
    for rate in (int(r) for r in args.rates.split(",")):
        try:
            r = run_rate(
                work / f"rate-{rate}", work / "model", code, rate, args.duration, args.devices, args.drain,
                args.trigger, args.file_interval, spec, watermark_s, args.compact_files,
                dict(c.split("=", 1) for c in args.conf),
            )  # fmt: skip
        except JobDied as exc:  # a row that says so, and the next rate
            reason = next((x for x in str(exc).splitlines() if "Error:" in x), "see job.log")
            r = {
                "rate": rate,
                "load": f"{os.getloadavg()[0]:.1f}",
                "landed": "job died: " + reason.strip()[:120],
            }
        results.append(r)
        print(table([r]).splitlines()[-1], flush=True)
    text = table(results)
    print(text)
    if args.write:
        head = (
            f"\n## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n\n"
            f"Machine: nproc {os.cpu_count()}, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
            f" (at the end; per row: before / after the feed). Command:\n\n"
            f"    .venv/bin/python bench/stream.py {shlex.join(sys.argv[1:])}\n\n"
        )
        with open(args.write, "a", encoding="utf-8") as fh:
            fh.write(head + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
