"""The pipe engine: Hadoop Streaming's map -> partition -> sort -> combine -> reduce, locally.

It runs the very scripts Hadoop runs, as subprocesses, with what Hadoop gives them:
'offset<TAB>line' records of byte-range splits (a line belongs to the split it starts in),
the map.input.file environment, key-field partitioning and byte-order sorting of keys,
and reporter:counter lines on stderr. Stdlib only; also a script for its own helpers:
  pipe.py feed FILE START END        records of one split, as Hadoop's LineRecordReader
  pipe.py spill K P R PREFIX [COMBINER...]   partition + sort (+ combine) one map's output
  pipe.py merge FILE...              merge sorted spills for one reducer
"""

from __future__ import annotations

import heapq
import logging
import os
import subprocess
import sys
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

MIN_TASKS = 2  # never fewer mappers or reducers: no script may assume it sees all the data
log = logging.getLogger(__name__)


@dataclass
class Split:
    path: str
    start: int
    end: int  # a line starting at a position <= end belongs to this split


@dataclass
class Counters:
    values: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, group: str, name: str, n: int) -> None:
        with self.lock:
            g = self.values.setdefault(group, {})
            g[name] = g.get(name, 0) + n


def plan_splits(paths: list[str], split_bytes: int, tasks: int = MIN_TASKS) -> list[Split]:
    """Byte-range splits; small inputs are cut finer so at least `tasks` mappers run."""
    sizes = [os.path.getsize(p) for p in paths]
    total = sum(sizes)
    size = max(1, min(split_bytes, -(-total // tasks) if total else 1))
    splits = []
    for path, n in zip(paths, sizes):
        if n == 0:
            splits.append(Split(path, 0, -1))
        for start in range(0, n, size):
            splits.append(Split(path, start, min(start + size, n) - 1))
    return splits


def feed(path: str, start: int, end: int, out) -> None:
    """Write 'offset<TAB>line' for every line that starts in [start, end]."""
    with open(path, "rb") as f:
        f.seek(start)
        pos = start
        if start:  # the line containing `start` belongs to the previous split
            f.seek(start - 1)
            pos = start - 1 + len(f.readline())
        while pos <= end:
            line = f.readline()
            if not line:
                break
            out.write(b"%d\t" % pos + (line if line.endswith(b"\n") else line + b"\n"))
            pos += len(line)


def key_of(line: bytes, k: int) -> bytes:
    parts = line.split(b"\t", k)
    return b"\t".join(parts[:k]) if len(parts) > k else line.rstrip(b"\n")


def spill(k: int, p: int, reducers: int, prefix: str, combiner: list[str], stream) -> None:
    """Partition one map output by its first p fields, sort, combine.

    Whole lines are sorted, not just their first k fields: lines with equal keys still end up
    adjacent (they share the prefix 'key<TAB>'), values of a key come in order too (Hadoop
    leaves that order open), and the comparison stays in C.
    """
    parts = [[] for _ in range(reducers)]
    for line in stream:
        parts[zlib.crc32(key_of(line, p)) % reducers].append(line)
    for j, part in enumerate(parts):
        part.sort()
        if combiner and part:
            proc = subprocess.run(combiner, input=b"".join(part), stdout=subprocess.PIPE, check=True)
            part = sorted(proc.stdout.splitlines(keepends=True))  # noqa: PLW2901
        with open(f"{prefix}.part-{j:05d}", "wb") as f:
            f.writelines(part)


def merge(paths: list[str], out) -> None:
    files = [open(p, "rb") for p in paths]
    try:
        out.writelines(heapq.merge(*files))
    finally:
        for f in files:
            f.close()


def _pump_stderr(proc, counters: Counters, label: str) -> threading.Thread:
    def run():
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if line.startswith("reporter:counter:"):
                group, name, n = line[len("reporter:counter:") :].rsplit(",", 2)
                counters.add(group, name, int(n))
            elif not line.startswith("reporter:status:"):  # a script's own stderr: a traceback, a warning
                log.warning("[%s] %s", label, line)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


class TaskFailed(RuntimeError):
    pass


def _run_pipeline(cmds: list[list[str]], env: dict, cwd: str, stdout, counters: Counters, label: str) -> None:
    """cmds[0] | cmds[1] | ... > stdout; stderr parsed for counters; fail if any fails."""
    procs, threads = [], []
    prev = None
    for i, cmd in enumerate(cmds):
        last = i == len(cmds) - 1
        proc = subprocess.Popen(
            cmd,
            stdin=prev,
            stdout=stdout if last else subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
        )
        if prev is not None:
            prev.close()
        prev = proc.stdout
        procs.append(proc)
        threads.append(_pump_stderr(proc, counters, label))
    codes = [p.wait() for p in procs]
    for t in threads:
        t.join()
    failed = [i for i, c in enumerate(codes) if c]
    if failed:  # the last failure is the cause: the ones before it died of a broken pipe
        i = failed[-1]
        raise TaskFailed(f"{label}: {' '.join(cmds[i][1:])} exited with {codes[i]}")


def run_job(step, workdir: str, python: str, split_bytes: int, workers: int) -> dict:
    """Run one streaming step (see mapreduce.runner.Step) locally; return its counters, as
    Hadoop's would be (for reading only: the runner takes the figures from the count records
    in the step's output, as it does on Hadoop)."""
    me = os.path.abspath(__file__)
    counters = Counters()
    os.makedirs(step.output)
    inputs = [p for d in step.inputs for p in _listing(d)]
    splits = plan_splits(inputs, split_bytes)
    reducers = max(MIN_TASKS, step.reducers) if step.reducer else 0
    spill_dir = os.path.join(workdir, f"_spill-{step.name}")
    log.debug("[pipe] %s: %d map tasks, %d reduce tasks", step.name, len(splits), reducers)
    os.makedirs(spill_dir, exist_ok=True)

    def map_task(i: int, s: Split) -> None:
        env = dict(
            os.environ,
            mapreduce_map_input_file="file:" + s.path,
            mapreduce_map_input_start=str(s.start),
            mapreduce_task_partition=str(i),
        )
        cmds = [[python, me, "feed", s.path, str(s.start), str(s.end)], [python, *step.mapper.split()]]
        if reducers:
            combiner = [python, *step.combiner.split()] if step.combiner else []
            cmds.append(
                [
                    python,
                    me,
                    "spill",
                    str(step.key_fields),
                    str(step.partition_fields),
                    str(reducers),
                    os.path.join(spill_dir, f"map-{i:05d}"),
                    *combiner,
                ]
            )
            with open(os.devnull, "wb") as out:
                _run_pipeline(cmds, env, workdir, out, counters, f"{step.name} map {i}")
        else:
            with open(os.path.join(step.output, f"part-m-{i:05d}"), "wb") as out:
                _run_pipeline(cmds, env, workdir, out, counters, f"{step.name} map {i}")

    def reduce_task(j: int) -> None:
        spills = [os.path.join(spill_dir, f"map-{i:05d}.part-{j:05d}") for i in range(len(splits))]
        spills = [p for p in spills if os.path.exists(p)]
        cmds = [[python, me, "merge", *spills], [python, *step.reducer.split()]]
        with open(os.path.join(step.output, f"part-{j:05d}"), "wb") as out:
            _run_pipeline(cmds, dict(os.environ), workdir, out, counters, f"{step.name} reduce {j}")

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda a: map_task(*a), enumerate(splits)))
        if reducers:
            list(pool.map(reduce_task, range(reducers)))
    open(os.path.join(step.output, "_SUCCESS"), "wb").close()
    return counters.values


def _listing(path: str) -> list[str]:
    if os.path.isdir(path):
        return sorted(os.path.join(path, f) for f in os.listdir(path) if not f.startswith(("_", ".")))
    return [path]


def main(argv: list[str]) -> None:
    out = sys.stdout.buffer
    cmd = argv[0]
    if cmd == "feed":
        feed(argv[1], int(argv[2]), int(argv[3]), out)
    elif cmd == "spill":
        spill(int(argv[1]), int(argv[2]), int(argv[3]), argv[4], argv[5:], sys.stdin.buffer)
    elif cmd == "merge":
        merge(argv[1:], out)
    else:
        raise SystemExit(f"pipe.py: unknown command {cmd!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
