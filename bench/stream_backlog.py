"""The scoring stream against a naive stateless Structured Streaming job on one pre-landed feed.

  .venv/bin/python bench/stream_backlog.py [--events 400000] [--files 4] [--devices 1000]
      [--rounds 1] [--cold-files 12] [--per-batch FILES] [--work DIR] [--write bench/RESULTS-stream.md]

The feed: --events simulator events (clean, 1,000 devices, seed 1) in --files landing files
of equal size, written once. Each round runs, one after the other on copies of it:
- naive: spark-submit of this file's `naive` job: `readStream.schema(S).json(LANDING)` (S the
  spec's columns with Spark types) -> Parquet, available-now; its recentProgress;
- ours: spark-submit streaming/score_stream.py --available-now (the spec's defaults, the
  drain round included); its OUT/metrics.jsonl.
Busy rate = input rows over the summed triggerExecution durations of the query's batches
(the issue's measure); the ratio is ours / naive. With --per-batch FILES both jobs read at most
FILES files a batch, and "steady rows/s" counts only the batches after the first that read a
full batch (not ours' last, drain round): both jobs warm (JIT-compiled, workers up), what a
stream that runs for days sees. Wall s is the spark-submit from start to exit,
job cpu s the CPU seconds (user + sys) of its whole process tree over that time (the JVM, the
Python driver and workers): on a shared machine the load-independent figure.

Cold start (goal 4, --cold-files > 0): a fresh job on --cold-files files of one reading per
device each (one event-time minute apart), --available-now --max-files-per-trigger 1: one
file a batch. First batch s against the median of the others (the "x steady" column).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NAIVE = "naive"  # argv[1] when spark-submit runs this file as the naive job


def naive_job(spec_path: str, landing: str, out: str, max_files: str = "") -> None:
    """The stateless job a user would write: JSON with a schema -> Parquet, available-now."""
    from pyspark.sql import SparkSession  # noqa: PLC0415
    from pyspark.sql import types as T  # noqa: PLC0415

    from sensorpipe.core.spec import load_spec  # noqa: PLC0415

    types = {"timestamp": T.TimestampType(), "float": T.DoubleType(), "int": T.LongType()}
    spec = load_spec(spec_path)
    schema = T.StructType([T.StructField(c.name, types.get(c.type, T.StringType())) for c in spec.columns])
    spark = SparkSession.builder.appName("naive-stream").getOrCreate()
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    reader = spark.readStream.schema(schema)
    reader = reader.option("maxFilesPerTrigger", int(max_files)) if max_files else reader
    query = (
        reader.json(landing)
        .writeStream.format("parquet")
        .option("path", f"{out}/data")
        .option("checkpointLocation", f"{out}/checkpoint")
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    Path(out, "progress.json").write_text(json.dumps([json.loads(p.json) for p in query.recentProgress]))
    spark.stop()


def make_feed(landing: Path, events: int, files: int, devices: int) -> int:
    from harness.paths import SPEC  # noqa: PLC0415
    from sensorpipe.core.spec import load_spec  # noqa: PLC0415
    from sensorpipe.sim.feed import EventStream  # noqa: PLC0415
    from sensorpipe.sim.landing import land  # noqa: PLC0415
    from sensorpipe.sim.text import CLEAN  # noqa: PLC0415

    landing.mkdir(parents=True)
    stream, after = EventStream(load_spec(SPEC), devices, seed=1, rates=CLEAN), 0
    for k in range(files):
        n = events * (k + 1) // files - events * k // files
        after = land(landing / f"events-{k:06d}.jsonl", stream.take(n), after)
    return events


CPU: dict[str, float] = {}  # the last run's CPU seconds (user + sys of the job's process tree)


def run(cmd: list[str], log: Path, env: dict) -> float:
    """Run a job to its end; its wall seconds (its CPU seconds in CPU["last"])."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    with open(log, "ab") as fh:
        fh.write(f"\n=== {time.strftime('%H:%M:%S')} {shlex.join(cmd)}\n".encode())
        subprocess.run(
            cmd, env=env, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT, check=True
        )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU["last"] = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return time.monotonic() - started


def batch_rows(docs: list[dict], rows_of) -> list[tuple[int, float]]:
    """(input rows, trigger seconds) per progress report, the last report of each batch id."""
    last = {}
    for doc in docs:
        last[(doc.get("id"), doc.get("runId"), doc["batchId"])] = doc
    return [(rows_of(d), d.get("durationMs", {}).get("triggerExecution", 0) / 1000) for d in last.values()]


def ours_batches(out: Path) -> list[tuple[int, float]]:
    docs = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines() if x.strip()]
    # numInputRows counts what the source read: whole files (wholetext) and the drain round's
    # ticks; the events a batch read are in the job's observed metric
    return batch_rows(docs, lambda d: d.get("observedMetrics", {}).get("sensorpipe", {}).get("events", 0))


def naive_batches(out: Path) -> list[tuple[int, float]]:
    return batch_rows(json.loads((out / "progress.json").read_text()), lambda d: d.get("numInputRows", 0))


def figures(name: str, batches: list[tuple[int, float]], events: int, wall: float) -> dict:
    seconds = [s for _, s in batches]
    busy = sum(seconds)
    rest = sorted(seconds[1:])
    steady = rest[len(rest) // 2] if rest else float("nan")
    biggest = max((r for r, _ in batches), default=0)
    full = [(r, s) for r, s in batches[1:] if r >= biggest / 2]  # not the first, nor a drain round
    return {
        "job": name,
        "events": events,
        "batches": len(batches),
        "busy s": busy,
        "rows/s busy": events / busy if busy else float("nan"),
        "steady rows/s": sum(r for r, _ in full) / sum(s for _, s in full) if full else float("nan"),
        "first batch s": seconds[0] if seconds else float("nan"),
        "median other s": steady,
        "x steady": seconds[0] / steady if rest and steady else float("nan"),
        "wall s": wall,
        "job cpu s": CPU.get("last", float("nan")),
        "load": f"{os.getloadavg()[0]:.1f}",
    }


def ours_cmd(spec, model, landing, out, max_files: int | None) -> list[str]:
    from sensorpipe.spark.launch import spark_submit_command  # noqa: PLC0415

    args = ["--spec", str(spec), "--model", str(model), "--input", str(landing), "--output", str(out)]
    args += ["--available-now"] + (["--max-files-per-trigger", str(max_files)] if max_files else [])
    return spark_submit_command("streaming/score_stream.py", args, "local[2]")


def naive_cmd(spec, landing, out, max_files: int | None = None) -> list[str]:
    from sensorpipe.spark.launch import spark_submit_command  # noqa: PLC0415

    cmd = spark_submit_command("streaming/score_stream.py", [], "local[2]")
    args = [str(spec), str(landing), str(out), str(max_files or "")]
    return [*cmd[:-1], str(Path(__file__).resolve()), NAIVE, *args]


def cold_feed(landing: Path, files: int, devices: int) -> None:
    import pandas as pd  # noqa: PLC0415

    from harness.faults import tick  # noqa: PLC0415
    from sensorpipe.sim.landing import land  # noqa: PLC0415

    landing.mkdir(parents=True)
    start, after = pd.Timestamp("2026-01-01"), 0
    for k in range(files):
        after = land(landing / f"events-{k:06d}.jsonl", tick(devices, start + pd.Timedelta(minutes=k)), after)


def main() -> int:
    from stream import table  # noqa: PLC0415 (bench/stream.py: the same table; imported here, not for the naive job)

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=400_000)
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=1, help="naive, ours: this many times, interleaved")
    ap.add_argument("--cold-files", type=int, default=12, help="cold-start files (0: skip)")
    ap.add_argument(
        "--per-batch", type=int, help="at most this many files a batch, both jobs (steady rows/s)"
    )
    ap.add_argument("--work", help="working directory (default: a new one under bench/data)")
    ap.add_argument("--write", help="append the tables, date, load and command to this Markdown file")
    args = ap.parse_args()
    from harness.models import make_model  # noqa: PLC0415
    from harness.paths import SPEC  # noqa: PLC0415
    from harness.stream_job import snapshot  # noqa: PLC0415
    from sensorpipe.spark.launch import spark_env  # noqa: PLC0415

    work = Path(args.work or ROOT / "bench" / "data" / f"backlog-{time.strftime('%Y%m%d-%H%M%S')}")
    work.mkdir(parents=True, exist_ok=False)
    make_model(work / "model")
    code = snapshot(work / "code")
    env = spark_env()
    env["PYTHONPATH"] = os.pathsep.join([str(code), env["PYTHONPATH"]])
    log = work / "jobs.log"
    feed = work / "feed"
    events = make_feed(feed, args.events, args.files, args.devices)
    print(
        f"feed: {events:,} events in {args.files} files, {args.devices} devices; load {os.getloadavg()[0]:.1f}"
    )

    def ours(landing: Path, out: Path, max_files=None, warm_up=True) -> float:
        cmd = ours_cmd(SPEC, work / "model", landing, out, max_files)
        at = next(i for i, c in enumerate(cmd) if c.endswith("streaming/score_stream.py"))
        cmd[at] = str(code / "streaming/score_stream.py")
        cmd[at:at] = [] if warm_up else ["--conf", "spark.sensorpipe.stream.warmUp=false"]
        return run(cmd, log, env)

    results = []
    for r in range(args.rounds):
        for name in ("naive", "ours"):
            landing, out = work / f"{name}-{r}" / "landing", work / f"{name}-{r}" / "out"
            shutil.copytree(feed, landing)
            for src in feed.iterdir():  # same mtimes: the same file order
                shutil.copystat(src, landing / src.name)
            if name == "naive":
                wall = run(naive_cmd(SPEC, landing, out, args.per_batch), log, env)
                row = figures(name, naive_batches(out), events, wall)
            else:
                wall = ours(landing, out, max_files=args.per_batch)
                row = figures(name, ours_batches(out), events, wall)
            results.append(row)
            print(table([row]).splitlines()[-1], flush=True)
    naive_rates = [x["rows/s busy"] for x in results if x["job"] == "naive"]
    our_rates = [x["rows/s busy"] for x in results if x["job"] == "ours"]
    ratios = [o / n for o, n in zip(our_rates, naive_rates, strict=True)]
    cpu = [o["job cpu s"] / n["job cpu s"] for o, n in zip(results[1::2], results[::2], strict=True)]
    text = (
        table(results)
        + "\n\nratio ours / naive (rows/s busy), per round: "
        + ", ".join(f"{x:.2f}" for x in ratios)
    )
    text += "; job CPU s ours / naive: " + ", ".join(f"{x:.2f}" for x in cpu)
    if args.per_batch:
        steady = [
            o["steady rows/s"] / n["steady rows/s"] for o, n in zip(results[1::2], results[::2], strict=True)
        ]
        text += "; steady rows/s ours / naive: " + ", ".join(f"{x:.2f}" for x in steady)
    cold = []
    if args.cold_files:
        cold_landing = work / "cold-feed"
        cold_feed(cold_landing, args.cold_files, args.devices)
        for name in ("naive", "ours, no warm-up", "ours"):
            landing, out = (
                work / f"cold-{name}".replace(",", "").replace(" ", "-") / x for x in ("landing", "out")
            )
            shutil.copytree(cold_landing, landing)
            for src in cold_landing.iterdir():
                shutil.copystat(src, landing / src.name)
            n = args.cold_files * args.devices
            if name == "naive":
                wall = run(naive_cmd(SPEC, landing, out), log, env)
                row = figures("cold naive (all files, 1 batch)", naive_batches(out), n, wall)
            else:
                wall = ours(landing, out, max_files=1, warm_up=name == "ours")
                row = figures(f"cold {name} (1 file a batch)", ours_batches(out), n, wall)
            cold.append(row)
            print(table([row]).splitlines()[-1], flush=True)
        text += "\n\n" + table(cold)
    print()
    print(text)
    if args.write:
        head = (
            f"\n## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC (bench/stream_backlog.py)\n\n"
            f"Machine: nproc {os.cpu_count()}, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
            f" at the end. Command:\n\n    .venv/bin/python bench/stream_backlog.py {shlex.join(sys.argv[1:])}\n\n"
        )
        with open(args.write, "a", encoding="utf-8") as fh:
            fh.write(head + text + "\n")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == NAIVE:
        naive_job(*sys.argv[2:6])
        sys.exit(0)
    sys.exit(main())
