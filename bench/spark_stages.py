"""Where jobs/clean.py spends its time: its jobs and stages, read back from Spark's event log.

  .venv/bin/python bench/spark_stages.py [--rows N | --input PATH] [--spec SPEC] [--naive] [--conf K=V] [--keep-log DIR]
      [--output DIR]

Runs jobs.clean.clean in this process under a local[*] session built from conf/spark-defaults.conf
(as spark-submit gets it) with the event log on, then prints the session start, every job (with the
driver-side time before it) and stage (call site, seconds, tasks, task metrics), the SQL queries,
and the cached frame's columns and size. Input: bench/data/sensors-<rows>.csv, as bench/clean.py's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from clean import ROOT, SPEC, dataset

CONF = ROOT / "conf"
METRICS = {  # stage accumulables -> (column, scale)
    "internal.metrics.executorRunTime": ("task s", 1e3),
    "internal.metrics.executorCpuTime": ("cpu s", 1e9),
    "internal.metrics.jvmGCTime": ("gc s", 1e3),
    "internal.metrics.input.bytesRead": ("in MB", 1e6),
    "internal.metrics.shuffle.read.localBytesRead": ("shuf rd MB", 1e6),
    "internal.metrics.shuffle.write.bytesWritten": ("shuf wr MB", 1e6),
    "internal.metrics.output.bytesWritten": ("out MB", 1e6),
    "internal.metrics.diskBytesSpilled": ("spill MB", 1e6),
}
SQL_START = "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart"
SQL_END = "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionEnd"


def start_session(log_dir: str, extra: list[str]):
    """local[*] with the project's spark-defaults.conf and log4j2 settings, the event log, extra confs."""
    os.environ["PYSPARK_SUBMIT_ARGS"] = (
        f"--master local[*] --properties-file {CONF / 'spark-defaults.conf'} "
        f"--driver-java-options -Dlog4j2.configurationFile={CONF / 'log4j2.properties'} pyspark-shell"
    )
    from pyspark.sql import SparkSession  # noqa: PLC0415 (the import is part of the start-up timed)

    confs = {
        "spark.eventLog.enabled": "true",
        "spark.eventLog.dir": f"file://{log_dir}",
        "spark.eventLog.compress": "false",
        "spark.eventLog.rolling.enabled": "false",
        "spark.eventLog.logBlockUpdates.enabled": "true",
        "spark.ui.showConsoleProgress": "false",
        **dict(kv.split("=", 1) for kv in extra),
    }
    return SparkSession.builder.appName("sensorpipe-clean-stages").config(map=confs).getOrCreate()


def read_events(log_dir: str) -> list[dict]:
    events = []
    for path in sorted(p for p in Path(log_dir).rglob("*") if p.is_file() and not p.name.startswith(".")):
        with open(path, encoding="utf-8") as f:
            events += [json.loads(line) for line in f if line.strip()]
    return events


def short(site: str) -> str:
    """'collect at /work/main/jobs/lines.py:40' -> 'collect at jobs/lines.py:40'."""
    return site.replace(f"{ROOT}/", "")


def stage_rows(events: list[dict]) -> dict[int, dict]:
    stages = {}
    for e in (e for e in events if e["Event"] == "SparkListenerStageCompleted"):
        info = e["Stage Info"]
        start, end = info["Submission Time"] / 1e3, info["Completion Time"] / 1e3
        metrics = {a.get("Name"): a.get("Value") for a in info.get("Accumulables", [])}
        row = {"stage": info["Stage ID"], "name": short(info["Stage Name"]), "tasks": info["Number of Tasks"]}
        row.update(start=start, seconds=end - start)
        row.update({label: float(metrics.get(name) or 0) / scale for name, (label, scale) in METRICS.items()})
        stages[row["stage"]] = row
    return stages


def job_rows(events: list[dict], stages: dict[int, dict], queries: dict[int, dict]) -> list[dict]:
    """Jobs in order, each named by its call site (a write: by its query), stages renamed alike."""
    jobs = {}
    for e in events:
        if e["Event"] == "SparkListenerJobStart":
            props = e.get("Properties") or {}
            query = queries.get(int(props.get("spark.sql.execution.id", -1)), {})
            site = short(props.get("callSite.short", "?"))
            site = query.get("what", site) if site[0] in "?$" else site  # a write: no Python call site
            ran = [s for s in e["Stage IDs"] if s in stages]
            for s in ran:
                stages[s]["name"] = site
            skipped = len(e["Stage IDs"]) - len(ran)
            job = {"job": e["Job ID"], "sql": query.get("id", ""), "site": site, "stages": ran}
            jobs[e["Job ID"]] = {**job, "skipped": skipped, "start": e["Submission Time"] / 1e3}
        elif e["Event"] == "SparkListenerJobEnd":
            jobs[e["Job ID"]]["end"] = e["Completion Time"] / 1e3
    return sorted(jobs.values(), key=lambda j: j["job"])


def query_rows(events: list[dict]) -> dict[int, dict]:
    """SQL executions: what (the action's call site), start, seconds, the cached columns if any."""
    queries = {}
    for e in events:
        if e["Event"] == SQL_START:
            plan = e.get("physicalPlanDescription", "")
            cached = re.search(r"\) InMemoryRelation\nArguments: \[([^\]]*)\]", plan)
            queries[e["executionId"]] = {
                "id": e["executionId"],
                "what": short(e.get("description", "")),
                "start": e["time"] / 1e3,
                "cached": re.sub(r"#\d+L?", "", cached.group(1)) if cached else None,
            }
        elif e["Event"] == SQL_END and e["executionId"] in queries:
            queries[e["executionId"]]["seconds"] = e["time"] / 1e3 - queries[e["executionId"]]["start"]
    return queries


def cached_bytes(events: list[dict]) -> tuple[float, float]:
    """The largest memory and disk size each cached block reached, summed (MB)."""
    peak: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for e in events:
        if e["Event"] == "SparkListenerBlockUpdated":
            info = e["Block Updated Info"]
            p = peak[info["Block ID"]]
            p[0], p[1] = max(p[0], info["Memory Size"]), max(p[1], info["Disk Size"])
    return sum(p[0] for p in peak.values()) / 1e6, sum(p[1] for p in peak.values()) / 1e6


def print_table(head: list[str], rows: list[list]) -> None:
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" if h in ("call site", "query") else "---:" for h in head) + "|")
    for r in rows:
        print("| " + " | ".join(f"{c:,.1f}" if isinstance(c, float) else str(c) for c in r) + " |")
    print()


def print_jobs(jobs: list[dict], t0: float) -> None:
    rows, last = [], t0
    for j in jobs:
        ids = ", ".join(map(str, j["stages"])) + (f" (+{j['skipped']} skipped)" if j["skipped"] else "")
        rows.append(
            [j["job"], j["sql"], j["site"], j["start"] - t0, j["start"] - last, j["end"] - j["start"], ids]
        )
        last = j["end"]
    print_table(["job", "sql", "call site", "at s", "driver s before", "seconds", "stages"], rows)


def report(events: list[dict], t0: float, timings: dict[str, float]) -> None:
    stages, queries = stage_rows(events), query_rows(events)
    jobs = job_rows(events, stages, queries)
    busy = sum(j["end"] - j["start"] for j in jobs)
    session, clean, stop = timings["session"], timings["clean"], timings["stop"]
    print(
        f"session start (JVM, SparkContext, imports) {session:.1f} s, clean() {clean:.1f} s, stop() {stop:.1f} s"
    )
    print(f"within clean(): jobs running {busy:.1f} s, driver-side between jobs {clean - busy:.1f} s\n")
    print_jobs(jobs, t0)
    labels = [label for label, _ in METRICS.values()]
    rows = [
        [s["stage"], s["name"], s["start"] - t0, s["seconds"], s["tasks"], *[s[k] for k in labels]]
        for s in sorted(stages.values(), key=lambda s: s["stage"])
    ]
    print_table(["stage", "call site", "at s", "seconds", "tasks", *labels], rows)
    print_table(
        ["sql", "query", "at s", "seconds"],
        [[q["id"], q["what"], q["start"] - t0, q.get("seconds", 0.0)] for q in queries.values()],
    )
    mem, disk = cached_bytes(events)
    print("cached frame's columns:", next((q["cached"] for q in queries.values() if q["cached"]), None))
    print(f"cached frame's peak size: {mem:,.0f} MB in memory, {disk:,.0f} MB on disk")


def run(args, src: str, log_dir: Path, out: Path) -> tuple[dict, float, dict]:
    """clean() under a fresh session: its report, when it started, and the timings around it."""
    t0 = time.time()
    spark = start_session(str(log_dir), args.conf)
    started = time.time()
    if args.naive:
        import tomllib  # noqa: PLC0415

        from spark_naive import naive_clean  # noqa: PLC0415 (needs pyspark, imported with the session)

        with open(args.spec, "rb") as f:
            rows = naive_clean(spark, tomllib.load(f), src, str(out))
        result = {"rows_in": rows, "rows_clean": rows}
    else:
        from jobs.clean import clean  # noqa: PLC0415 (needs pyspark, imported with the session)

        result = clean(spark, args.spec, src, str(out))
    ended = time.time()
    spark.stop()
    return result, started, {"session": started - t0, "clean": ended - started, "stop": time.time() - ended}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--input", help="a CSV to clean instead of the generated one")
    ap.add_argument("--spec", default=str(SPEC))
    ap.add_argument("--conf", action="append", default=[], help="KEY=VALUE, a Spark setting to add")
    ap.add_argument("--keep-log", help="copy the event log to this directory")
    ap.add_argument("--output", help="clean()'s output directory, kept (default: a temporary one)")
    ap.add_argument(
        "--naive", action="store_true", help="profile bench/spark_naive.py's job instead of clean()"
    )
    args = ap.parse_args()
    src = args.input or str(dataset(args.rows))
    with tempfile.TemporaryDirectory(prefix="sensorpipe-stages-") as tmp:
        log_dir = Path(tmp, "events")
        log_dir.mkdir()
        result, started, timings = run(args, src, log_dir, Path(args.output or Path(tmp, "out")))
        if args.keep_log:
            shutil.copytree(log_dir, args.keep_log, dirs_exist_ok=True)
        print(f"input {src}: rows_in {result['rows_in']:,}, rows_clean {result['rows_clean']:,}")
        print(f"extra settings: {', '.join(args.conf) or 'none'}\n")
        report(read_events(str(log_dir)), started, timings)


if __name__ == "__main__":
    main()
