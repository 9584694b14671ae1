"""`make demo`: a fleet's telemetry from simulation to live alerts, each step a `sensorpipe`
command run as its own process group (Ctrl-C stops them all), its output passed through.

    python -m sensorpipe.demo [--out DIR] [--devices N] [--days D] [--stream-seconds S]

1 simulate a history -> 2 clean it on Hadoop Streaming -> 3 and on Spark, and compare ->
4 features and training (held-out metrics) -> 5 the streaming job scores a live feed ->
6 the HTML report. Steps 5 and 6 live in sensorpipe/demo_stream.py.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import shutil
import sys
import time
from pathlib import Path

from sensorpipe.demo_procs import Processes, ignore_interrupts, on_sigterm_raise_interrupt, python_module

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "conf" / "sensors.toml"
MARKER = ".sensorpipe-demo"  # only a directory the demo made is emptied by the next run
STEPS = 6


class StepFailed(RuntimeError):
    pass


class Demo:
    """The run's output directory, its clock and its child processes."""

    def __init__(self, out: Path, procs: Processes):
        self.out, self.procs, self.t0, self.step_t0 = out, procs, time.monotonic(), 0.0

    def say(self, msg: str = "") -> None:
        print(msg, flush=True)

    def step(self, n: int, title: str) -> None:
        self.step_t0 = time.monotonic()
        elapsed = int(self.step_t0 - self.t0)
        self.say(f"\n[{n}/{STEPS}] {title}   (elapsed {elapsed // 60}:{elapsed % 60:02d})")

    def done(self, msg: str) -> None:
        self.say(f"      => {msg} ({time.monotonic() - self.step_t0:.1f} s)")

    def sensorpipe(self, name: str, *args) -> None:
        """One CLI command, run to completion; a non-zero exit fails the demo."""
        rc = self.procs.run(name, python_module("sensorpipe.cli", *args))
        if rc:
            raise StepFailed(f"`sensorpipe {args[0]}` exited with {rc}")


def prepare_out(out: Path) -> Path:
    out = out.absolute()
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise StepFailed(f"{out} exists and is not a demo output directory: pass another --out")
        shutil.rmtree(out)  # a stream restarted on an old checkpoint and landing dir would resume it
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by `python -m sensorpipe.demo`; the next demo run empties it\n")
    return out


def simulate(d: Demo, args) -> None:
    every = f"one reading per {args.interval_s} s"
    d.step(1, f"simulate {args.devices} machines over {args.days:g} days, {every}")
    sim = d.out / "sim"
    d.sensorpipe(
        "simulate",
        *("simulate", "--spec", SPEC, "--devices", args.devices, "--hours", args.days * 24),
        *("--interval-s", args.interval_s, "--seed", args.seed, "--output", sim),
    )
    m = json.loads((sim / "manifest.json").read_text())
    d.done(f"{m['counts']['rows']:,} rows (with faults), {sum(m['failures'].values())} failures -> {sim}")


def clean(d: Demo, engine: str, n: int) -> dict:
    what = {"hadoop": "Hadoop Streaming (local job runner)", "spark": "Spark (spark-submit jobs/clean.py)"}
    d.step(n, f"clean with {what[engine]}")
    out = d.out / f"clean-{engine}"
    job = ["--spec", SPEC, "--input", d.out / "sim" / "sensors.csv", "--output", out]
    job += ["--format", "csv"] if engine == "spark" else []  # CSV, to compare with Hadoop's
    d.sensorpipe(engine, "clean", "--engine", engine, *job)
    r = json.loads((out / "report.json").read_text())
    d.done(f"{r['rows_in']:,} rows in = {r['rows_clean']:,} clean + {r['rows_rejected']:,} rejected")
    return r


def compare(d: Demo, reports: dict) -> None:
    r = reports["hadoop"]
    for reason, n in r["rejected_by_reason"].items():
        d.say(f"      rejected {reason:<17} {n:>8,}")
    d.say("      imputed  " + json.dumps({k: v for k, v in r["imputed"].items() if v}))
    d.say("      clipped  " + json.dumps({k: v for k, v in r["clipped"].items() if v}))
    n, differ = compare_clean(d.out / "clean-hadoop", d.out / "clean-spark")
    same = not differ and all(reports["spark"][k] == r[k] for k in ("rows_in", "rows_clean", "rows_rejected"))
    d.say(f"      Hadoop Streaming and Spark agree on every clean row ({n:,}): {'yes' if same else 'NO'}")
    if not same:
        raise StepFailed(f"the engines disagree on {differ:,} clean rows")


def compare_clean(a: Path, b: Path) -> tuple[int, int]:
    """(rows, rows that differ) between two CSV cleaning outputs. Rows sort by their line,
    whose first fields are the record key; floats compare to 1e-9 relative."""
    la, lb = _lines(a), _lines(b)
    if len(la) != len(lb):
        return max(len(la), len(lb)), abs(len(la) - len(lb))
    return len(la), sum(1 for x, y in zip(la, lb) if x != y and not _same_row(x, y))


def _lines(out: Path) -> list[str]:
    return sorted(line for p in sorted((out / "clean").glob("part-*")) for line in p.read_text().splitlines())


def _same_row(x: str, y: str) -> bool:
    def close(u: str, v: str) -> bool:
        try:
            return u == v or math.isclose(float(u), float(v), rel_tol=1e-9)
        except ValueError:
            return False

    r, s = next(csv.reader([x])), next(csv.reader([y]))
    return len(r) == len(s) and all(map(close, r, s))


def train(d: Demo, args) -> None:
    d.step(4, "features and training (pandas, scikit-learn; held-out devices)")
    spec, text = SPEC, SPEC.read_text()
    given = re.search(r"(?m)^max_rows\s*=\s*(\d+)", text)
    if args.max_rows and given and args.max_rows < int(given.group(1)):
        spec = d.out / "sensors-demo.toml"  # conf/sensors.toml with a smaller training sample
        spec.write_text(text[: given.start(1)] + str(args.max_rows) + text[given.end(1) :])
        d.say(
            f"      for time: a copy of the spec trains on at most {args.max_rows:,} rows (a stratified"
            f" sample; {SPEC.name} says {int(given.group(1)):,}) -> {spec}"
        )
    sim = d.out / "sim"
    job = ["--spec", spec, "--input", d.out / "clean-hadoop", "--model", d.out / "model"]
    job += ["--failures", sim / "failures.csv", "--maintenance", sim / "maintenance.csv"]
    d.sensorpipe("train", "train", *job, "--threads", args.threads)
    d.done(f"model registered in {d.out / 'model'}")


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The demo's options, shared with `sensorpipe demo`."""
    ap.add_argument("--out", default=str(ROOT / "out" / "demo"), help="emptied first if a demo wrote it")
    ap.add_argument("--devices", type=int, default=30, help="machines in the fleet")
    ap.add_argument("--days", type=float, default=30.0, help="days of history")
    ap.add_argument("--interval-s", type=int, default=300, help="seconds between a machine's readings")
    ap.add_argument("--seed", type=int, default=0, help="the history's seed (the live feed's: seed + 1)")
    ap.add_argument("--max-rows", type=int, default=100_000, help="training rows at most (0: the spec's)")
    # One thread: OpenMP's spinning threads crawl on a machine whose cores are taken.
    ap.add_argument("--threads", type=int, default=1, help="native threads for training")
    ap.add_argument("--stream-seconds", type=float, default=60.0, help="how long the live feed runs")
    ap.add_argument("--rate", type=float, default=400.0, help="live events per second")
    ap.add_argument("--trigger", default="2s", help="the streaming job's micro-batch interval")


def run(args: argparse.Namespace) -> int:
    from sensorpipe.demo_stream import report, stream  # noqa: PLC0415

    on_sigterm_raise_interrupt()
    procs = Processes()
    try:
        d = Demo(prepare_out(Path(args.out)), procs)
        procs.log_dir = d.out / "logs"
        d.say(f"sensorpipe demo -> {d.out}")
        simulate(d, args)
        reports = {"hadoop": clean(d, "hadoop", 2), "spark": clean(d, "spark", 3)}
        compare(d, reports)
        train(d, args)
        stream(d, args, 5)
        path = report(d, 6)
    except KeyboardInterrupt:
        ignore_interrupts()
        print("\ndemo: interrupted; stopping its processes", file=sys.stderr, flush=True)
        procs.stop_all()
        print("demo: stopped", file=sys.stderr, flush=True)
        return 130
    except StepFailed as exc:
        procs.stop_all()
        print(f"demo: failed: {exc}", file=sys.stderr, flush=True)
        return 1
    elapsed = int(time.monotonic() - d.t0)
    d.say(f"\ndone in {elapsed // 60}:{elapsed % 60:02d}. Open the report: {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(ap)
    return run(ap.parse_args(argv))


if __name__ == "__main__":
    # Run as a script this file is __main__; demo_stream imports sensorpipe.demo: one module.
    from sensorpipe.demo import main as demo_main

    sys.exit(demo_main())
