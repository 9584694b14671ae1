"""The demo's batch steps: simulate a history, clean it on Hadoop Streaming and on Spark and
compare the two, then features and training. Where Hadoop Streaming cannot run (an installed
wheel, no `hadoop` on PATH) the pipe engine, the same streaming scripts through local pipes,
stands in for it."""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
from pathlib import Path

from sensorpipe.demo.session import SPEC, Demo, StepFailed

CHECKOUT_HADOOP = Path(__file__).resolve().parents[2] / "conf" / "hadoop" / "lib"  # `make setup`'s jars
NAMES = {"hadoop": "Hadoop Streaming", "pipe": "The pipe engine", "spark": "Spark"}


def first_engine(lib: Path = CHECKOUT_HADOOP) -> str:
    """hadoop when Hadoop Streaming can run here (a `hadoop` command on PATH, or a source
    checkout's streaming jar), else pipe."""
    if shutil.which("hadoop") or any(lib.glob("hadoop-streaming-*.jar")):
        return "hadoop"
    return "pipe"


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
    what = {
        "hadoop": "Hadoop Streaming (local job runner)",
        "pipe": "the pipe engine (Hadoop Streaming's scripts through local pipes: no Hadoop here)",
        "spark": "Spark (spark-submit jobs/clean.py)",
    }
    d.step(n, f"clean with {what[engine]}")
    out = d.out / f"clean-{engine}"
    job = ["--spec", SPEC, "--input", d.out / "sim" / "sensors.csv", "--output", out]
    job += ["--format", "csv"] if engine == "spark" else []  # CSV, to compare with Hadoop's (pipe's)
    d.sensorpipe(engine, "clean", "--engine", engine, *job)
    r = json.loads((out / "report.json").read_text())
    d.done(f"{r['rows_in']:,} rows in = {r['rows_clean']:,} clean + {r['rows_rejected']:,} rejected")
    return r


def compare(d: Demo, reports: dict) -> None:
    """reports: the first engine's (hadoop or pipe), then Spark's."""
    first = next(iter(reports))
    r = reports[first]
    for reason, n in r["rejected_by_reason"].items():
        d.say(f"      rejected {reason:<17} {n:>8,}")
    d.say("      imputed  " + json.dumps({k: v for k, v in r["imputed"].items() if v}))
    d.say("      clipped  " + json.dumps({k: v for k, v in r["clipped"].items() if v}))
    n, differ = compare_clean(d.out / f"clean-{first}", d.out / "clean-spark")
    same = not differ and all(reports["spark"][k] == r[k] for k in ("rows_in", "rows_clean", "rows_rejected"))
    d.say(f"      {NAMES[first]} and Spark agree on every clean row ({n:,}): {'yes' if same else 'NO'}")
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


def train(d: Demo, args, cleaned: Path) -> None:
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
    job = ["--spec", spec, "--input", cleaned, "--model", d.out / "model"]
    job += ["--failures", sim / "failures.csv", "--maintenance", sim / "maintenance.csv"]
    d.sensorpipe("train", "train", *job, "--threads", args.threads)
    d.done(f"model registered in {d.out / 'model'}")
