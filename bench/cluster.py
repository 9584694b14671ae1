"""The same cleaning of one generated sensors CSV on Spark local[*], on a Spark standalone cluster
and on YARN, in one run, with the ratios to local mode.

  .venv/bin/python bench/cluster.py [--rows 1000000] [--work DIR] [--write bench/RESULTS-cluster.md]

The clusters are the test suite's, started here on loopback (harness/spark_cluster.py: a master
and two 1-core workers; harness/hadoop_cluster.py: HDFS + YARN in one JVM). Contenders:
- spark local[*]: `sensorpipe clean --engine spark` on the local file;
- spark standalone: the same with `--master spark://...` (the make dist zip and environment
  archive shipped to the executors);
- hadoop on YARN: `sensorpipe clean --engine hadoop --reducers 2` with hdfs:// input (uploaded
  with `sensorpipe hdfs put` first, not timed) and output: five Hadoop Streaming jobs.
Each is timed end to end by wall clock (JVM and job start included) and must report the same
rows in / clean / rejected as the others. Everything shares this machine's cores, so the
ratios say what each engine's overhead costs here, not what more machines would buy.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.clean import dataset  # noqa: E402
from harness.hadoop_cluster import running_hadoop  # noqa: E402
from harness.spark_cluster import running_standalone  # noqa: E402

SPEC = ROOT / "conf" / "sensors.toml"
KEYS = ("rows_in", "rows_clean", "rows_rejected")


def sensorpipe(args: list[str], env: dict | None = None) -> float:
    """Run `sensorpipe ARGS`; its wall-clock seconds (it must succeed)."""
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "sensorpipe.cli", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    if proc.returncode:
        raise RuntimeError(f"sensorpipe {' '.join(args[:3])}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
    return time.perf_counter() - started


def report(out: str, env: dict | None = None) -> dict:
    if out.startswith("hdfs://"):
        text = subprocess.run(
            [sys.executable, "-m", "sensorpipe.cli", "hdfs", "cat", f"{out}/report.json"],
            cwd=ROOT, env=env, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    else:
        text = Path(out, "report.json").read_text(encoding="utf-8")
    return {k: json.loads(text)[k] for k in KEYS}


def run(rows: int, work: Path, echo=print) -> list[dict]:
    src = dataset(rows)
    clean = ["clean", "--spec", str(SPEC)]
    results = []

    def record(name: str, seconds: float, rep: dict, load: float) -> None:
        echo(f"{name}: {seconds:.1f} s {rep}")
        results.append({"engine": name, "seconds": seconds, "load": load, **rep})

    load = os.getloadavg()[0]
    out = str(work / "local")
    seconds = sensorpipe([*clean, "--engine", "spark", "--input", str(src), "--output", out])
    record("spark local[*]", seconds, report(out), load)

    (work / "standalone").mkdir()
    with running_standalone(work / "standalone") as cluster:
        load = os.getloadavg()[0]
        out = str(work / "standalone-out")
        args = [*clean, "--engine", "spark", "--master", cluster.url, "--input", str(src), "--output", out]
        record("spark standalone (2 workers x 1 core)", sensorpipe(args), report(out), load)

    (work / "hadoop").mkdir()
    with running_hadoop(work / "hadoop") as cluster:
        raw, out = cluster.url("/raw/sensors"), cluster.url("/clean/sensors")
        sensorpipe(["hdfs", "put", str(src), raw], cluster.env)
        load = os.getloadavg()[0]
        args = [*clean, "--engine", "hadoop", "--reducers", "2", "--input", raw, "--output", out]
        record(
            "hadoop streaming on YARN (2 reducers)",
            sensorpipe(args, cluster.env),
            report(out, cluster.env),
            load,
        )
    return results


def table(results: list[dict]) -> str:
    base = results[0]["seconds"]
    lines = [
        "| engine | seconds | x local[*] | rows in | clean | rejected | load before |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['engine']} | {r['seconds']:.1f} | {r['seconds'] / base:.2f} | {r['rows_in']:,} "
            f"| {r['rows_clean']:,} | {r['rows_rejected']:,} | {r['load']:.1f} |"
        )
    same = len({tuple(r[k] for k in KEYS) for r in results}) == 1
    lines.append("")
    lines.append(f"Same rows in / clean / rejected on every engine: {'yes' if same else 'NO'}.")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--work", help="working directory (default: a temporary one)")
    ap.add_argument("--write", help="append the table, date, machine and command to this Markdown file")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sensorpipe-cluster-bench-") as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        results = run(args.rows, work)
    text = table(results)
    print(text)
    if args.write:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        head = f"\n## {stamp}\n\nMachine: nproc {os.cpu_count()}. Command:\n\n    .venv/bin/python bench/cluster.py --rows {args.rows}\n\n"
        with open(args.write, "a", encoding="utf-8") as fh:
            fh.write(head + text + "\n")
    return 0 if "NO" not in text.splitlines()[-1] else 1


if __name__ == "__main__":
    sys.exit(main())
