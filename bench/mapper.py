"""Benchmark the validate pass's mapper alone, per core, beside plain-Python peers.

  .venv/bin/python bench/mapper.py [--rows N] [--runs R] [--ref GITREV] [--json PATH]

The input is bench/clean.py's: bench/data/sensors-<rows>.csv (conf/sensors.toml, 2% faulty
rows), set up as one map task over the whole file (bench/clean.py map_task: shipped files,
job.json with the count pass's split table, the 'offset<TAB>line' feed in a file). Each
contender runs in a fresh process, stdin from that file, stdout to /dev/null, one core:
  mapper          mapreduce/validate_mapper.py of this working tree
  mapper@REV      the same with the mapper's own files as they were at REV (validate_mapper.py,
                  mrlib.py, core rows/values/codec; the rest, e.g. spec.py, stays this tree's)
  csv+float       the floor of any Python mapper: csv.reader on each line, float()/int() of
                  the numeric columns, the fields written back tab-joined; no grammar, no key
Contenders run in turn (A B C A B C ...), R rounds. rows/s per core: input rows over the
child's user + system CPU seconds (start-up included); wall: over wall-clock seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

import clean  # noqa: E402  (bench/clean.py: the dataset and the map task set-up)

OWN_FILES = {  # the mapper's own files, taken from --ref for the previous implementation
    "validate_mapper.py": "mapreduce/validate_mapper.py",
    "mrlib.py": "mapreduce/mrlib.py",
}
OWN_CORE = ["rows.py", "values.py", "codec.py"]

FLOOR = """\
import csv, sys
floats, ints, n = [int(i) for i in sys.argv[1].split(",") if i], [int(i) for i in sys.argv[2].split(",") if i], int(sys.argv[3])
out = sys.stdout
lines = (raw[raw.index(b"\\t") + 1 :].decode("utf-8", "replace") for raw in sys.stdin.buffer)
for row in csv.reader(lines):
    if len(row) != n:
        continue
    try:
        values = [*(float(row[i]) for i in floats), *(int(row[i]) for i in ints)]
    except ValueError:
        continue
    out.write("\\t".join(row) + "\\n")
"""


def git_show(rev: str, path: str) -> bytes:
    return subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True, check=True).stdout


def previous(files: Path, rev: str, dst: Path) -> Path:
    """A copy of the shipped files with the mapper's own files as they were at rev."""
    dst.mkdir()
    for p in files.iterdir():
        if p.name != "sensorpipe.zip":
            (dst / p.name).write_bytes(p.read_bytes())
    for name, path in OWN_FILES.items():
        (dst / name).write_bytes(git_show(rev, path))
    with zipfile.ZipFile(files / "sensorpipe.zip") as src, zipfile.ZipFile(dst / "sensorpipe.zip", "w") as z:
        for item in src.namelist():
            name = item.rsplit("/", 1)[-1]
            z.writestr(item, git_show(rev, f"sensorpipe/core/{name}") if name in OWN_CORE else src.read(item))
    return dst


def timed(cmd: list[str], records: Path, cwd: Path, env: dict) -> tuple[float, float, str]:
    """(cpu seconds user + system, wall seconds, stderr) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(records, "rb") as fin:
        t0 = time.perf_counter()
        proc = subprocess.run(
            cmd, stdin=fin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=cwd, env=env, check=False
        )
        wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        raise RuntimeError(f"{cmd} exited with {proc.returncode}: {proc.stderr[-400:]!r}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, proc.stderr.decode("utf-8", "replace")


def counters(stderr: str) -> dict:
    got = {}
    for line in stderr.splitlines():
        if line.startswith("reporter:counter:sensorpipe,"):
            name, n = line.rsplit(",", 2)[1:]
            got[name] = int(n)
    return got


def floor_args(src: str) -> list[str]:
    """Positions of the float and int columns in the file's header, and its field count."""
    from sensorpipe.core.rows import header_names  # noqa: PLC0415
    from sensorpipe.core.spec import load_spec  # noqa: PLC0415

    spec = load_spec(clean.SPEC)
    with open(src, encoding="utf-8-sig") as f:
        names = header_names(f.readline().rstrip("\r\n").split(spec.delimiter))
    pos = {
        t: ",".join(str(names.index(c.name)) for c in spec.columns if c.type == t) for t in ("float", "int")
    }
    return [pos["float"], pos["int"], str(len(names))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--ref", default="HEAD", help="git revision of the previous implementation ('' to skip)")
    ap.add_argument("--json", help="write the figures here too")
    args = ap.parse_args()
    src = str(clean.dataset(args.rows))
    with tempfile.TemporaryDirectory(prefix="sensorpipe-bench-mapper-") as tmp:
        work = Path(tmp)
        files, records, env = clean.map_task(clean.Context(str(clean.SPEC), src, work), os.path.abspath(src))
        (work / "floor.py").write_text(FLOOR)
        contenders = {"mapper": ([sys.executable, "validate_mapper.py"], files)}
        if args.ref:
            old = previous(files, args.ref, work / "previous")
            contenders[f"mapper@{args.ref}"] = ([sys.executable, "validate_mapper.py"], old)
        contenders["csv+float"] = ([sys.executable, str(work / "floor.py"), *floor_args(src)], files)
        runs = {name: [] for name in contenders}
        seen = {}
        for r in range(args.runs):
            for name, (cmd, cwd) in contenders.items():
                cpu, wall, err = timed(cmd, records, cwd, env)
                runs[name].append((cpu, wall))
                if name.startswith("mapper"):
                    seen[name] = counters(err)
                clean.log(f"  round {r + 1} {name}: {cpu:.2f} s cpu, {wall:.2f} s wall")
    rows_in = seen["mapper"]["rows_in"]
    for name, got in seen.items():  # every mapper read and rejected the same rows
        if got != seen["mapper"]:
            raise SystemExit(f"{name} counted {got}, mapper {seen['mapper']}")
    report(runs, rows_in, src, args)


def report(runs: dict, rows_in: int, src: str, args) -> None:
    cpu = {n: statistics.median(c for c, _ in rs) for n, rs in runs.items()}
    print(f"input: {Path(src).relative_to(ROOT)} ({rows_in:,} rows in), {args.runs} rounds")
    print(
        f"load average before the report: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}"
    )
    names = list(runs)
    head = ["contender", "cpu s (each run)", "rows/s per core (median)", "wall s (each run)", "rows/s wall"]
    head += [f"x {n}" for n in names if n != names[0]]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    figures = {}
    for n, rs in runs.items():
        per_core = rows_in / cpu[n]
        wall = statistics.median(w for _, w in rs)
        ratios = [f"{cpu[o] / cpu[n]:.2f}" for o in names if o != names[0]]
        cells = [n, " / ".join(f"{c:.2f}" for c, _ in rs), f"{per_core:,.0f}"]
        cells += [" / ".join(f"{w:.1f}" for _, w in rs), f"{rows_in / wall:,.0f}", *ratios]
        print("| " + " | ".join(cells) + " |")
        figures[n] = {"cpu": [c for c, _ in rs], "wall": [w for _, w in rs], "rows_per_core": per_core}
    print(
        "\nx NAME: NAME's median cpu seconds / this contender's (above 1: this one needs less CPU per row)."
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"rows_in": rows_in, "contenders": figures}, indent=1))


if __name__ == "__main__":
    main()
