"""One file-store interface for local paths and Hadoop FileSystem URIs: list the inputs, read
their heads, write small documents, and commit a run's output whole with `_SUCCESS` last.
A store supplies a few primitives; everything built on them is written once, here.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import NamedTuple

from sensorpipe.core.inputs import InputError, header_from_lines
from sensorpipe.core.output import OUR_FILES, OutputError
from sensorpipe.core.spec import Spec

FILE, DIR, OTHER = "file", "dir", "other"


class Entry(NamedTuple):
    """One name in a directory listing."""

    name: str  # the last component
    path: str  # the full path or URI, as the store names it
    kind: str  # FILE, DIR or OTHER


def visible(name: str) -> bool:
    """Whether an input directory's file is read: Hadoop's FileInputFormat skips names
    starting with '_' or '.' (_SUCCESS, .crc files, staging directories)."""
    return not name.startswith(("_", "."))


class Store(ABC):
    """A file system addressed by path strings: the local one, or one of Hadoop's."""

    # -- the primitives each store implements --------------------------------------------

    @abstractmethod
    def kind(self, path: str) -> str | None:
        """FILE, DIR or OTHER; None when nothing is there."""

    @abstractmethod
    def entries(self, directory: str) -> list[Entry]:
        """Everything a directory holds, hidden names included, in no particular order."""

    @abstractmethod
    def qualify(self, path: str) -> str:
        """A file's full name, as a listing of its directory would give it."""

    @abstractmethod
    def split(self, path: str) -> tuple[str, str]:
        """(the full name of the parent directory, the last component)."""

    @abstractmethod
    def head_lines(self, path: str) -> Iterator[bytes]:
        """A file's raw lines, read lazily (a generator: close() closes the file)."""

    @abstractmethod
    def read_bytes(self, path: str) -> bytes: ...

    @abstractmethod
    def write_bytes(self, path: str, data: bytes) -> None:
        """Create or replace a file."""

    @abstractmethod
    def mkdir(self, path: str) -> None:
        """A directory and its parents; no error when it exists."""

    @abstractmethod
    def rename(self, src: str, dst: str) -> None:
        """Move src to a dst that does not exist; OSError when it was not done."""

    @abstractmethod
    def replace(self, src: str, dst: str) -> None:
        """Move src over dst, which may exist, in one step: a reader of dst sees the old file
        or the new one, never neither; OSError when the store cannot promise that."""

    @abstractmethod
    def delete(self, path: str) -> None:
        """A file or a whole tree; nothing there is no error."""

    def absolute(self, path: str) -> str:
        """How a run's OUT is named from here on (and in errors)."""
        return path

    def display(self, path: str) -> str:
        """How an input file is named in errors, rejects and reports."""
        return path

    def join(self, parent: str, name: str) -> str:
        return f"{parent.rstrip('/')}/{name}"

    def make_stage(self, parent: str, prefix: str) -> str:
        """A new, empty directory in parent whose name starts with prefix."""
        stage = self.join(parent, f"{prefix}{uuid.uuid4().hex[:8]}")
        self.mkdir(stage)
        return stage

    # -- built on them -------------------------------------------------------------------

    def exists(self, path: str) -> bool:
        return self.kind(path) is not None

    def list_inputs(self, path: str) -> list[str]:
        """The file, or a directory's visible files sorted by name, by their full names."""
        kind = self.kind(path)
        if kind == FILE:
            return [self.qualify(path)]
        if kind == DIR:
            return sorted(e.path for e in self.entries(path) if e.kind == FILE and visible(e.name))
        raise InputError(f"{path}: no such file or directory")

    def read_header(self, path: str, spec: Spec) -> tuple[list[str] | None, int, int]:
        """(header fields, byte offset, line number of the header), or (None, -1, -1);
        only the file's head is read (sensorpipe.core.inputs.header_from_lines)."""
        if not spec.header:
            return None, -1, -1
        lines = self.head_lines(path)
        try:
            return header_from_lines(lines, spec, self.display(path))
        finally:
            lines.close()

    def part_lines(self, directory: str) -> Iterator[str]:
        """The text lines of a job output's part-* files, in part order."""
        parts = sorted((e.name, e.path) for e in self.entries(directory) if e.name.startswith("part-"))
        for _, path in parts:
            yield from self.read_bytes(path).decode("utf-8").splitlines()

    def write_json(self, path: str, doc: dict) -> None:
        self.write_bytes(path, (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))

    def tidy(self, directory: str) -> None:
        """Drop the .crc side files Hadoop's local file system writes beside each file."""
        for e in self.entries(directory):
            if e.kind == DIR:
                self.tidy(e.path)
            elif e.name.startswith(".") and e.name.endswith(".crc"):
                self.delete(e.path)

    def check_replaceable(self, out: str) -> None:
        """OutputError unless OUT is missing, an empty directory, or an earlier output."""
        out = self.absolute(out)
        kind = self.kind(out)
        if kind is None:
            return
        names = {e.name for e in self.entries(out)} if kind == DIR else {"?"}
        if names and not names & OUR_FILES:
            raise OutputError(f"{out}: exists and is not a sensorpipe output; refusing to replace it")

    @contextlib.contextmanager
    def staged_output(self, out: str) -> Iterator[str]:
        """Yield a staging directory beside OUT (`.NAME.staging-XXXX`); when the block ends
        without an error, write `_SUCCESS` in it and swap it in as OUT. On failure the stage
        is removed and OUT is left as it was."""
        out = self.absolute(out)
        self.check_replaceable(out)
        parent, name = self.split(out)
        self.mkdir(parent)
        stage = self.make_stage(parent, f".{name}.staging-")
        try:
            yield stage
            self.write_bytes(self.join(stage, "_SUCCESS"), b"")
            self._swap_in(stage, parent, name)
        except BaseException:
            with contextlib.suppress(Exception):  # the run's own error is the one to report
                self.delete(stage)
            raise

    def _swap_in(self, stage: str, parent: str, name: str) -> None:
        """Move the old OUT aside (a rename onto an existing Hadoop directory would move the
        stage into it), the stage into place, then delete the old one."""
        target = self.join(parent, name)
        old = None
        if self.exists(target):
            old = self.join(parent, f".{name}.old-{uuid.uuid4().hex[:8]}")
            self.rename(target, old)
        try:
            self.rename(stage, target)
        except BaseException:
            if old is not None:
                self.rename(old, target)
            raise
        if old is not None:
            with contextlib.suppress(Exception):  # OUT is committed; a hidden leftover is harmless
                self.delete(old)
