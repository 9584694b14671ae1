"""Run the cleaning as a chain of Hadoop Streaming jobs, on real Hadoop or the pipe engine.

  0 count      map-only   physical lines per split (for exact reject line numbers)
  1 validate   map+reduce parse, validate, reject; de-duplicate on the record key
  2 stats      map+combine+reduce  counts, moments, vocabularies, exact quantiles
  3 transform  map-only   impute, clip, scale, encode with the fitted stats -> clean/
  4 rejects    map-only   reject JSON lines -> rejects/
  5 tally      map-only   the imputed and clipped values of pass 3, counted again
report.json's figures are count records that the passes write as output (validate's row
accounting, summed through the stats pass; the tally's counts), read from the committed
outputs: the same on every engine, whatever the client logs. A figure missing fails the run.
Hadoop's own counters only go into report.json's `counters`, as the client logged them.
Every script and the core package travel with -files, as on a cluster. The driver's file
work goes through a sensorpipe.store: local, or with hdfs:// input and output (--engine
hadoop) HDFS through pydoop; the shipped files stay local, as -files wants them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from mapreduce.figures import read_stats, read_tally, split_table
from sensorpipe.core.inputs import InputError
from sensorpipe.core.output import report_document, write_json
from sensorpipe.core.rows import carried_columns, make_layout, stored_columns
from sensorpipe.core.spec import Spec, load_spec
from sensorpipe.store import hdfs
from sensorpipe.store.base import Store
from sensorpipe.store.local import LocalStore

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parent / "sensorpipe"
SCRIPTS = [
    "mrlib.py",
    "count_mapper.py",
    "validate_mapper.py",
    "dedup_reducer.py",
    "stats_mapper.py",
    "stats_combiner.py",
    "stats_reducer.py",
    "transform_mapper.py",
    "rejects_mapper.py",
    "tally_mapper.py",
]
DEFAULT_SPLIT = 32 * 1024 * 1024
log = logging.getLogger(__name__)


@dataclass
class Step:
    name: str
    mapper: str
    inputs: list[str]
    output: str
    reducer: str | None = None
    combiner: str | None = None
    reducers: int = 2
    key_fields: int = 3
    partition_fields: int = 2
    verbatim: bool = False  # map-only output lines are written exactly as printed


def part_lines(directory):
    """The text lines of a local job output's part-* files, in part order."""
    return LocalStore().part_lines(str(directory))


def file_store(engine: str, input_path: str, out: str) -> Store:
    """Where a run's files live: locally, or on HDFS when --input and --output are hdfs://."""
    remote = hdfs.is_hdfs(input_path), hdfs.is_hdfs(out)
    if not any(remote):
        return LocalStore()
    if not all(remote):
        raise InputError(
            f"{input_path} -> {out}: an hdfs:// run needs both --input and --output on HDFS "
            "(upload with `sensorpipe hdfs put`)"
        )
    if engine != "hadoop":
        raise InputError(f"{input_path}: --engine {engine} reads local files; use --engine hadoop or spark")
    return hdfs.HdfsStore()


def build_manifest(spec, paths: list[str], header_of=None) -> dict:
    """Each input file with its header (header_of: a store's read_header, by default the
    local one); the carried columns all files must agree on."""
    header_of = header_of or LocalStore().read_header
    files, carried = [], None
    for path in paths:
        header, offset, _ = header_of(path, spec)
        if header is not None:
            if carried is None:
                carried = carried_columns(spec, header)
            make_layout(spec, header, path, carried)  # raises LayoutError naming file/column
        files.append({"path": path, "header": header, "header_offset": offset})
    return {"files": files, "carried": carried or []}


def ship(files_dir: Path) -> list[str]:
    """Copy the scripts and zip the core package into files_dir; return what -files ships."""
    files_dir.mkdir(parents=True)
    for name in SCRIPTS:
        shutil.copy(HERE / name, files_dir / name)
    with zipfile.ZipFile(files_dir / "sensorpipe.zip", "w") as z:
        z.write(PACKAGE / "__init__.py", "sensorpipe/__init__.py")
        for py in sorted((PACKAGE / "core").glob("*.py")):
            z.write(py, f"sensorpipe/core/{py.name}")
    return [str(files_dir / n) for n in SCRIPTS + ["sensorpipe.zip", "job.json"]]


@dataclass
class Plan:
    """What a run reads: the spec, the input files, and job.json, the document every script
    reads (the manifest, then each pass's results: the count pass's splits, the stats)."""

    spec: Spec
    paths: list[str]
    columns: list  # the stored columns (sensorpipe.core.rows.stored_columns)
    job: dict


def plan(spec: Spec, input_path: str, store: Store) -> Plan:
    """List the inputs and read their headers: a layout error fails the run before any pass."""
    paths = store.list_inputs(input_path)
    manifest = build_manifest(spec, paths, store.read_header)
    job = {
        "spec_text": Path(spec.path).read_text(encoding="utf-8"),
        "spec_path": spec.path,
        "spec_sha256": spec.sha256,
        **manifest,
        "splits": {},
    }
    return Plan(spec, paths, stored_columns(spec, manifest["carried"]), job)


def clean(
    spec_path: str,
    input_path: str,
    out: str,
    engine: str = "pipe",
    python: str | None = None,
    split_bytes: int = DEFAULT_SPLIT,
    reducers: int = 2,
    workers: int | None = None,
    echo=None,
) -> dict:
    """Clean input_path into out with the Hadoop Streaming scripts; return report.json.
    echo: where the progress lines go (default: the logger, at INFO)."""
    started = time.time()
    spec = load_spec(spec_path)
    store = file_store(engine, input_path, out)
    run_plan = plan(spec, input_path, store)
    python, workers = python or sys.executable, workers or max(2, os.cpu_count() or 2)
    log.debug("[%s] %d input file(s), %d workers, %s", engine, len(run_plan.paths), workers, python)
    with store.staged_output(out) as stage, _local_work(store, stage) as local:
        log.debug("[%s] staging %s, scripts and job.json in %s", engine, stage, local / "files")
        run = _runner(engine, local, ship(local / "files"), python, split_bytes, workers, echo)
        step = _pass_runner(engine, run, local / "files" / "job.json", run_plan.job, echo)
        figures, counters = run_passes(step, store, stage, run_plan, reducers)
        _finish(store, stage)
        report = clean_report(engine, run_plan, figures, counters, time.time() - started)
        store.write_json(f"{stage}/report.json", report)
    return report


def _pass_runner(engine: str, run, job_file: Path, job: dict, echo):
    """run() for one pass, with job.json as it stands written for the scripts first."""

    def step(s: Step) -> dict:
        write_json(job_file, job)
        t0 = time.time()
        counters = run(s)
        seconds = time.time() - t0
        if echo:
            echo(f"[{engine}] {s.name}: done in {seconds:.1f}s")
        else:
            fields = {"engine": engine, "step": s.name, "seconds": round(seconds, 3)}
            log.info("[%s] %s: done in %.1fs", engine, s.name, seconds, extra=fields)
        return counters

    return step


def run_passes(step, store: Store, stage: str, run_plan: Plan, reducers: int) -> tuple[dict, dict]:
    """The six passes in order, each fed what the ones before it found: count -> split
    table, validate, stats -> stats.json and the row accounting, transform -> clean/,
    rejects -> rejects/, tally -> imputed and clipped counts.
    Returns (the report's figures, Hadoop's counters of validate and transform)."""
    work, paths, job = f"{stage}/_work", run_plan.paths, run_plan.job  # _work: the passes' outputs
    rows = f"{work}/rows"
    step(Step("count", "count_mapper.py", paths, f"{work}/count"))
    job["splits"] = split_table(store.part_lines(f"{work}/count"))
    validated = step(
        Step("validate", "validate_mapper.py", paths, rows, reducer="dedup_reducer.py", reducers=reducers)
    )
    step(
        Step(
            "stats",
            "stats_mapper.py",
            [rows],
            f"{work}/stats",
            reducer="stats_reducer.py",
            combiner="stats_combiner.py",
            reducers=reducers,
        )
    )
    job["stats"], accounting = read_stats(store.part_lines(f"{work}/stats"), run_plan.columns, run_plan.spec)
    store.write_json(f"{stage}/stats.json", job["stats"])
    transformed = step(Step("transform", "transform_mapper.py", [rows], f"{stage}/clean", verbatim=True))
    step(Step("rejects", "rejects_mapper.py", [rows], f"{stage}/rejects", verbatim=True))
    step(Step("tally", "tally_mapper.py", [rows], f"{work}/tally"))
    tally = read_tally(store.part_lines(f"{work}/tally"), run_plan.columns, accounting["rows_clean"])
    return {"accounting": accounting, **tally}, {"validate": validated, "transform": transformed}


def _finish(store: Store, stage: str) -> None:
    """Drop the passes' outputs (kept with SENSORPIPE_KEEP_WORK) and Hadoop's .crc files."""
    if not os.environ.get("SENSORPIPE_KEEP_WORK"):
        store.delete(f"{stage}/_work")
    store.tidy(stage)


def clean_report(engine: str, run_plan: Plan, figures: dict, counters: dict, seconds: float) -> dict:
    """report.json from the passes' count records (run_passes); Hadoop's counters ride along
    as `counters`, for reading only (empty when the client did not log them)."""
    accounting = figures["accounting"]
    return report_document(
        engine,
        accounting["rows_in"],
        accounting["rows_clean"],
        accounting,
        figures["imputed"],
        figures["clipped"],
        seconds,
        inputs=run_plan.paths,
        counters=counters,
    )


@contextlib.contextmanager
def _local_work(store, stage):
    """Local scratch for the shipped files and the job clients' working directories: inside
    the local stage, or a temporary directory when the run lives on HDFS."""
    if isinstance(store, LocalStore):
        yield Path(stage) / "_work"
        return
    with tempfile.TemporaryDirectory(prefix="sensorpipe-hadoop-") as scratch:
        yield Path(scratch)


def _runner(engine, work: Path, ship_list, python, split_bytes, workers, echo):
    if engine == "pipe":
        from mapreduce import pipe  # noqa: PLC0415

        return lambda s: pipe.run_job(s, str(work / "files"), python, split_bytes, workers)
    if engine == "hadoop":
        from mapreduce import hadoop  # noqa: PLC0415

        def run(s: Step) -> dict:
            cwd = work / f"run-{s.name}"
            cwd.mkdir()
            return hadoop.run_job(s, str(cwd), ship_list, python, split_bytes, workers, echo)

        return run
    raise ValueError(f"unknown engine {engine!r}")
