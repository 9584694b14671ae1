"""An input file's header, read from the raw lines at its start, and the error that names a
bad input. Which files an input holds is a store's work (sensorpipe.store.base.list_inputs).
"""

from __future__ import annotations

import os
import re

from sensorpipe.core.rows import LayoutError, decode_line, is_blank, split_fields
from sensorpipe.core.spec import Spec


class InputError(ValueError):
    """An input path that cannot be read (the run fails, naming the path)."""


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")


def path_parts(name: str) -> tuple[str, str, str]:
    """(scheme, authority, path) of a file's name as Hadoop's Path prints it (`file:/d/x.csv`,
    `hdfs://nn:8020/d/a b#1.csv`) or a plain path. Nothing in such a name is escaped: `#`, `?`
    and `%` are the file name's own characters (urllib's urlsplit cuts at `#` and `?`)."""
    scheme, colon, rest = name.partition(":")
    if not colon or not _SCHEME.fullmatch(scheme):
        return "", "", name
    if rest.startswith("//"):
        authority, slash, path = rest[2:].partition("/")
        return scheme.lower(), authority, slash + path
    return scheme.lower(), "", rest


_GLOB = re.compile(r"([\\*?\[\]{}])")


def as_pattern(name: str, commas: bool = False) -> str:
    """A file's name as a Hadoop glob pattern that matches that file alone: Spark's readers and
    Hadoop's FileInputFormat expand `* ? [ ] { }` in the paths they are given, and read a
    backslash as an escape (`g[1].csv` would name `g1.csv`). With `commas`, a comma too, for
    a path Hadoop's -input splits on commas: `{\\,}` (a group of one escaped comma, which the
    split leaves whole)."""
    escaped = _GLOB.sub(r"\\\1", name)
    return escaped.replace(",", "{\\,}") if commas else escaped


def local_path(name: str) -> str | None:
    """The absolute local path of a plain path or a `file:` name; None for any other scheme."""
    scheme, _, path = path_parts(name)
    return os.path.abspath(path) if scheme in ("", "file") else None


def header_from_lines(lines, spec: Spec, source: str) -> tuple[list[str] | None, int, int]:
    """(header fields, byte offset, line number of the header), or (None, -1, -1), from
    any iterable of raw byte lines (the start of a file): the first non-blank line."""
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
