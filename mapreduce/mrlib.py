"""What every Hadoop Streaming script of sensorpipe shares on a task node (stdlib only).

The runner ships, with -files: the scripts, this module, `sensorpipe.zip` (the core
package) and `job.json` (the spec text, each input file's header, per-split line counts,
and later the fitted stats). Scripts import this module first; it puts the zip on sys.path.
"""

from __future__ import annotations

import json
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
for _cand in ("sensorpipe.zip", os.path.join(_HERE, "sensorpipe.zip")):
    if os.path.exists(_cand):
        sys.path.insert(0, os.path.abspath(_cand))
        break
else:  # a developer's checkout: the package sits next to mapreduce/
    sys.path.insert(0, os.path.dirname(_HERE))

from sensorpipe.core.inputs import local_path  # noqa: E402
from sensorpipe.core.rows import make_layout, stored_columns  # noqa: E402
from sensorpipe.core.spec import parse_spec  # noqa: E402

import tomllib  # noqa: E402

JOB_FILE = "job.json"


def load_job(path: str = JOB_FILE) -> dict:
    with open(path if os.path.exists(path) else os.path.join(_HERE, path), encoding="utf-8") as f:
        job = json.load(f)
    job["spec"] = parse_spec(tomllib.loads(job["spec_text"]), job["spec_path"], job["spec_sha256"])
    return job


def layout_for(job: dict, file_idx: int):
    entry = job["files"][file_idx]
    return make_layout(job["spec"], entry["header"], entry["path"], job["carried"])


def stored(job: dict):
    """The columns of the rows carried between passes."""
    return stored_columns(job["spec"], job["carried"])


def normalize_path(path: str) -> str:
    """A task's input as job.json names it: Hadoop exports the split's Path unescaped."""
    return local_path(path) or path


def current_file_index(job: dict) -> int:
    """Index in job.json of the file this map task reads (Hadoop exports it to the env)."""
    path = os.environ.get("mapreduce_map_input_file") or os.environ.get("map_input_file")
    if path is None:
        raise SystemExit("sensorpipe: no mapreduce_map_input_file in the environment")
    want = normalize_path(path)
    for i, entry in enumerate(job["files"]):
        if entry["path"] == want:
            return i
    raise SystemExit(f"sensorpipe: {path} is not an input of this job")


def records(stream=None):
    """(byte offset, raw line bytes) from Hadoop's 'offset<TAB>line' map input."""
    stream = stream or sys.stdin.buffer
    for raw in stream:
        tab = raw.index(b"\t")
        yield int(raw[:tab]), raw[tab + 1 :]


def text_records(stream=None):
    """The value part of 'offset<TAB>line' input as text (for reading earlier passes)."""
    stream = stream or sys.stdin.buffer
    for raw in stream:
        line = raw.decode("utf-8")
        yield line[line.index("\t") + 1 :].rstrip("\n")


def counter(group: str, name: str, n: int = 1) -> None:
    """A Hadoop counter, for Hadoop's UI and logs; report.json's figures come from count_record."""
    if n:
        sys.stderr.write(f"reporter:counter:{group},{name},{n}\n")


COUNT = "C"  # the tag of a count record among a pass's output lines


def count_record(name: str, n: int, sub: str = "-") -> str:
    """`C<TAB>name<TAB>sub<TAB>n`: a count written as output, so that the runner reads it from
    the job's committed output on any engine and at any client log level (Hadoop's counters
    reach the client only through its log). The same shape is a stats-pass key (tag, column,
    sub) with its value, so the stats pass sums these like any other partial."""
    return f"{COUNT}\t{name}\t{sub}\t{n}\n"
