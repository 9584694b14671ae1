"""An input file's header, read from the raw lines at its start, and the error that names a
bad input. Which files an input holds is a store's work (sensorpipe.store.base.list_inputs).
"""

from __future__ import annotations

from sensorpipe.core.rows import LayoutError, decode_line, is_blank, split_fields
from sensorpipe.core.spec import Spec


class InputError(ValueError):
    """An input path that cannot be read (the run fails, naming the path)."""


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
