"""A landing directory, as the streaming job's file source wants it: whole files that appear
by atomic rename, named events-<seq>.jsonl, each with an mtime after the previous one's.

The simulator's live feed, the kill -9 harness and the tests all land files through
`Landing.put`, so every writer keeps the same guarantees.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

NAME = re.compile(r"events-(\d+)\.jsonl")


@contextlib.contextmanager
def atomic_file(path: Path):
    """A file opened for writing under a hidden temp name, renamed into place on success."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            yield f
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def land(path: Path, data: bytes, after_ns: int = 0) -> int:
    """Write a landing file by atomic rename, its mtime at least 1 ms after `after_ns` (the
    previous file's); returns its mtime in ns. Spark's file source takes files in mtime order
    (milliseconds) and two files of one millisecond in either order: with
    --max-files-per-trigger the later one's events could pass the watermark first and the
    earlier one's be quarantined as late."""
    stamp = max(time.time_ns(), after_ns + 1_000_000)
    with atomic_file(path) as f:
        f.write(data)
        f.flush()
        os.utime(f.fileno(), ns=(stamp, stamp))
    return stamp


def next_seq(landing: Path) -> int:
    """The sequence number after the highest events-<seq>.jsonl already in the landing dir."""
    seqs = [int(m.group(1)) for p in landing.iterdir() if (m := NAME.fullmatch(p.name))]
    return max(seqs, default=-1) + 1


class Landing:
    """A landing directory that numbers its files on from those already there."""

    def __init__(self, directory: str | Path):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.seq, self.stamp = next_seq(self.dir), 0

    def put(self, data: bytes) -> Path:
        """Land `data` as the next events-<seq>.jsonl; returns its path."""
        path = self.dir / f"events-{self.seq:06d}.jsonl"
        self.stamp = land(path, data, self.stamp)
        self.seq += 1
        return path
