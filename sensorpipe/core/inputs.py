"""Input discovery shared by the engines: which files, in which order, with which header.

A directory input means its visible files (names not starting with '_' or '.', as Hadoop's
FileInputFormat skips them), sorted by name: "file order" for de-duplication.
"""

from __future__ import annotations

import os
from pathlib import Path

from sensorpipe.core.rows import LayoutError, decode_line, is_blank, split_fields
from sensorpipe.core.spec import Spec


class InputError(ValueError):
    """An input path that cannot be read (the run fails, naming the path)."""


def list_inputs(path: str | Path) -> list[str]:
    p = Path(path)
    if p.is_file():
        return [os.path.abspath(p)]
    if p.is_dir():
        return sorted(
            os.path.abspath(f) for f in p.iterdir() if f.is_file() and not f.name.startswith(("_", "."))
        )
    raise InputError(f"{path}: no such file or directory")


def read_header(path: str, spec: Spec) -> tuple[list[str] | None, int, int]:
    """(header fields, byte offset, line number of the header), or (None, -1, -1).

    The header is the first non-blank line; only the file's head is read.
    """
    if not spec.header:
        return None, -1, -1
    with open(path, "rb") as f:
        return header_from_lines(f, spec, path)


def header_from_lines(lines, spec: Spec, source: str) -> tuple[list[str] | None, int, int]:
    """read_header over any iterable of raw byte lines (the start of a file)."""
    if not spec.header:
        return None, -1, -1
    offset = 0
    for line_no, raw in enumerate(lines, start=1):
        text = decode_line(raw, offset == 0)
        if text is None:
            raise LayoutError(f"{source}: header line is not valid UTF-8")
        if not is_blank(text):
            fields = split_fields(text, spec.delimiter)
            if fields is None:
                raise LayoutError(f"{source}: header line has malformed quoting")
            return fields, offset, line_no
        offset += len(raw)
    return None, -1, -1
