"""The local file system as a sensorpipe.store.base.Store (stdlib only).

OUT is made absolute first, so errors name the full path and the swap is one rename in a
single directory, atomic on a local disk.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from sensorpipe.store.base import DIR, FILE, OTHER, Entry, Store


def _kind(p: Path) -> str | None:
    if p.is_file():
        return FILE
    if p.is_dir():
        return DIR
    return OTHER if p.exists() else None


class LocalStore(Store):
    def kind(self, path: str) -> str | None:
        return _kind(Path(path))

    def entries(self, directory: str) -> list[Entry]:
        return [Entry(f.name, os.path.abspath(f), _kind(f)) for f in Path(directory).iterdir()]

    def qualify(self, path: str) -> str:
        return os.path.abspath(path)

    def split(self, path: str) -> tuple[str, str]:
        p = Path(path)
        return str(p.parent), p.name

    def head_lines(self, path: str) -> Iterator[bytes]:
        with open(path, "rb") as f:
            yield from f

    def read_bytes(self, path: str) -> bytes:
        return Path(path).read_bytes()

    def write_bytes(self, path: str, data: bytes) -> None:
        # a reader never sees half a file: write beside it, then replace it in one rename
        tmp = f"{path}.tmp"
        Path(tmp).write_bytes(data)
        os.replace(tmp, path)

    def mkdir(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)

    def rename(self, src: str, dst: str) -> None:
        os.rename(src, dst)

    def replace(self, src: str, dst: str) -> None:
        os.replace(src, dst)

    def delete(self, path: str) -> None:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.unlink(path)

    def absolute(self, path: str) -> str:
        return str(Path(path).absolute())

    def make_stage(self, parent: str, prefix: str) -> str:
        # mkdtemp: a name no other run can hold, created in one step
        return tempfile.mkdtemp(prefix=prefix, dir=parent)
