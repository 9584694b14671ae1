"""`make demo`: generate messy telemetry, clean it on real Hadoop Streaming, on the pipe
engine and on Spark, check that the three agree, and print what happened.

    python -m sensorpipe.demo [--rows N] [--out DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from pathlib import Path

from sensorpipe.launch import run_spark
from sensorpipe.synth import write_csv

ROOT = Path(__file__).resolve().parent.parent


def say(msg: str) -> None:
    print(msg, flush=True)


def read_clean(out: Path) -> list[list[str]]:
    return sorted(row for p in sorted((out / "clean").glob("part-*")) for row in csv.reader(p.open()))


def same_rows(a: list[list[str]], b: list[list[str]]) -> bool:
    def close(x: str, y: str) -> bool:
        if x == y:
            return True
        try:
            return math.isclose(float(x), float(y), rel_tol=1e-9)
        except ValueError:
            return False

    return len(a) == len(b) and all(len(r) == len(s) and all(map(close, r, s)) for r, s in zip(a, b))


def main(argv: list[str] | None = None) -> int:
    from mapreduce.runner import clean  # noqa: PLC0415 (engines load on demand)

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--out", default=str(ROOT / "out" / "demo"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    spec = ROOT / "conf" / "sensors.toml"
    raw = out / "raw" / "sensors.csv"
    raw.parent.mkdir(parents=True, exist_ok=True)
    say(f"[1/4] simulating {args.rows:,} readings from 500 machines (with faults) -> {raw}")
    write_csv(str(raw), args.rows, devices=500, seed=42, fault_rate=0.03)
    reports = {}
    for i, engine in enumerate(("hadoop", "pipe"), start=2):
        say(f"[{i}/4] cleaning with --engine {engine}")
        t0 = time.time()
        reports[engine] = clean(str(spec), str(raw), str(out / engine), engine=engine, echo=say)
        say(f"      {engine}: {time.time() - t0:.1f}s")
    say("[4/4] cleaning with --engine spark (spark-submit jobs/clean.py, local mode)")
    t0 = time.time()
    job = ["--spec", str(spec), "--input", str(raw), "--output", str(out / "spark"), "--format", "csv"]
    if run_spark("jobs/clean.py", job):
        say("spark run failed")
        return 1
    say(f"      spark: {time.time() - t0:.1f}s")
    hadoop_rows = read_clean(out / "hadoop")
    agree = same_rows(hadoop_rows, read_clean(out / "pipe")) and same_rows(
        hadoop_rows, read_clean(out / "spark")
    )
    r = reports["hadoop"]
    say("\nrows in {rows_in:,} = clean {rows_clean:,} + rejected {rows_rejected:,}".format(**r))
    for reason, n in r["rejected_by_reason"].items():
        say(f"  rejected {reason:<17} {n:>8,}")
    say("  imputed  " + json.dumps({k: v for k, v in r["imputed"].items() if v}))
    say("  clipped  " + json.dumps({k: v for k, v in r["clipped"].items() if v}))
    say(f"\nHadoop Streaming, the pipe engine and Spark agree on every clean row: {'yes' if agree else 'NO'}")
    say(f"outputs: {out}/hadoop/{{clean,rejects,stats.json,report.json}}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
