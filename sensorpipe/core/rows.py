"""Row-level reference semantics: split a line, parse its values, reject with a reason.

Pure stdlib; the Hadoop Streaming mappers import it on the cluster nodes. A `Layout` binds
a spec to one file's header; `Layout.parse(line)` returns `(reason, values)`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sensorpipe.core.spec import Column, Spec
from sensorpipe.core.values import WHITESPACE, parse_float, parse_int, parse_timestamp

MALFORMED = "malformed_row"
MISSING = "missing_required"
INVALID = "invalid_value"
DUPLICATE = "duplicate_key"
REASONS = (MALFORMED, MISSING, INVALID, DUPLICATE)
BOM = "\ufeff"


class LayoutError(ValueError):
    """A file whose header does not fit the spec (the run fails, naming file and column)."""


# The CSV grammar (RFC 4180 within one line): a field is quoted, with spaces allowed around
# the quotes and "" for a quote inside, or unquoted without any quote. These patterns are
# written for both Python's re and Java's regex (Spark): \uXXXX is the delimiter in both.
QUOTED = r'[ \t]*"(?:[^"]|"")*"[ \t]*'


def _d(delimiter: str) -> str:
    return f"\\u{ord(delimiter):04x}"


def line_regex(delimiter: str, end: str = r"\Z") -> str:
    """A whole line of valid fields; `end` is \\Z for Python, \\z for Java."""
    d = _d(delimiter)
    field = rf'(?:{QUOTED}|[^"{d}]*)'
    return rf"^{field}(?:{d}{field})*{end}"


def java_field_regex(delimiter: str) -> str:
    """Each field of a valid line, for Spark's regexp_extract_all (Java lookbehind)."""
    d = _d(delimiter)
    return rf'(?<=^|{d})(?:{QUOTED}|[^"{d}]*)(?={d}|\z)'


def field_pattern(delimiter: str) -> re.Pattern:
    """One field followed by a delimiter or the end of the line (group 1: quoted content)."""
    d = _d(delimiter)
    return re.compile(rf'[ \t]*"((?:[^"]|"")*)"[ \t]*(?={d}|\Z)|([^"{d}]*)(?={d}|\Z)')


def split_fields(line: str, delimiter: str, pattern: re.Pattern | None = None) -> list[str] | None:
    """The fields of one line, or None when its quoting is malformed."""
    if delimiter == "whitespace":
        return re.split(r"[ \t]+", line.strip(" \t"))
    if '"' not in line:
        return line.split(delimiter)
    pattern = pattern or field_pattern(delimiter)
    fields, pos, end = [], 0, len(line)
    while True:
        m = pattern.match(line, pos)
        if m is None:
            return None
        quoted = m.group(1)
        fields.append(quoted.replace('""', '"') if quoted is not None else m.group(2))
        pos = m.end()
        if pos == end:
            return fields
        pos += 1  # the delimiter the lookahead saw


def is_blank(line: str) -> bool:
    return not line.strip(WHITESPACE)


def decode_line(raw: bytes, at_file_start: bool) -> str | None:
    """Text of one physical line without its line ending (and the file's BOM); None if not UTF-8."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if text[-1:] == "\n":
        text = text[:-1]
    if text[-1:] == "\r":
        text = text[:-1]
    if at_file_start and text[:1] == BOM:
        text = text[1:]
    return text


def raw_text(raw: bytes, at_file_start: bool) -> str:
    """The line as it is quoted in a reject: line ending and BOM removed, bad bytes as U+FFFD."""
    text = decode_line(raw, at_file_start)
    if text is not None:
        return text
    return raw.rstrip(b"\n").rstrip(b"\r").decode("utf-8", errors="replace")


_PARSERS = {"int": parse_int, "float": parse_float, "timestamp": parse_timestamp}


@dataclass
class Layout:
    """A spec bound to a header: which field feeds which column, and what is kept."""

    spec: Spec
    columns: list[Column]  # every column parsed, in output order (spec, then carried)
    positions: list[int]  # field index of each column
    kept: list[bool]  # False for a spec column listed in dataset.drop
    n_fields: int

    def __post_init__(self):
        self._pattern = field_pattern(self.spec.delimiter) if self.spec.delimiter != "whitespace" else None
        self._nulls = self.spec.null_tokens
        self._checks = [
            (pos, _PARSERS.get(c.type), c.range, c.required, c.rejects_invalid)
            for pos, c in zip(self.positions, self.columns)
        ]
        kept_idx = [i for i, k in enumerate(self.kept) if k]
        self.kept_index = kept_idx
        names = [c.name for c in self.columns]
        self.key_index = [names.index(k) for k in self.spec.key]

    @property
    def stored(self) -> list[Column]:
        """The columns carried between passes and into the output."""
        return [self.columns[i] for i in self.kept_index]

    def parse(self, text: str) -> tuple[str | None, list | None]:
        """(None, values of every parsed column) or (reason, None)."""
        fields = split_fields(text, self.spec.delimiter, self._pattern)
        if fields is None or len(fields) != self.n_fields:
            return MALFORMED, None
        nulls = self._nulls
        values = []
        append = values.append
        reason = None
        for pos, parser, rng, required, rejects in self._checks:
            r = fields[pos].strip(WHITESPACE)
            if r in nulls:
                if required:
                    return MISSING, None
                append(None)
                continue
            v = r if parser is None else parser(r)
            if rng is not None and v is not None and not (rng[0] <= v <= rng[1]):
                v = None
            if v is None and rejects:
                reason = INVALID  # scan on: a later missing required value wins
            append(v)
        if reason:
            return reason, None
        return None, values

    def key_of(self, values: list) -> list:
        return [values[i] for i in self.key_index]


def header_names(header: list[str]) -> list[str]:
    return [h.strip(WHITESPACE) for h in header]


def carried_columns(spec: Spec, header: list[str]) -> list[str]:
    """Header columns the spec does not describe and does not drop: carried as strings."""
    names = {c.name for c in spec.columns}
    return [n for n in header_names(header) if n not in names and n not in spec.drop]


def stored_columns(spec: Spec, carried: list[str]) -> list[Column]:
    """The columns of the rows carried between passes and into the output, in order."""
    return [c for c in spec.columns if c.name not in spec.drop] + [
        Column(name=n, type="string") for n in carried
    ]


def make_layout(
    spec: Spec, header: list[str] | None, source: str = "<input>", carried: list[str] | None = None
) -> Layout:
    """Bind the spec to a file's header (or to the spec's own order when header = false).

    `carried` fixes the order of carried columns when several files must agree on it.
    """
    if not spec.header:
        cols = list(spec.columns)
        return Layout(spec, cols, list(range(len(cols))), [c.name not in spec.drop for c in cols], len(cols))
    names = header_names(header or [])
    seen = set()
    for n in names:
        if n in seen:
            raise LayoutError(f"{source}: header names column {n!r} twice")
        seen.add(n)
    missing = [c.name for c in spec.columns if c.name not in seen]
    if missing:
        raise LayoutError(f"{source}: header lacks column {missing[0]!r} named in {spec.path}")
    mine = carried_columns(spec, names)
    if carried is not None and sorted(carried) != sorted(mine):
        raise LayoutError(f"{source}: header columns differ from the first input file's")
    order = carried if carried is not None else mine
    outs = {c.out for c in spec.columns if c.name not in spec.drop}
    for n in order:
        if n in outs:
            raise LayoutError(f"{source}: header column {n!r} collides with an output name")
    cols = list(spec.columns) + [Column(name=n, type="string") for n in order]
    kept = [c.name not in spec.drop for c in cols]
    return Layout(spec, cols, [names.index(c.name) for c in cols], kept, len(names))
