"""How simulated readings become feed lines: CSV or JSON text with null tokens and mangled lines.
Every field is a code into a table of strings (values at their decimals, null tokens, a window's
timestamps), so a window's lines are Arrow `take`s joined element-wise, with no loop per row.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sensorpipe.core.spec import Spec, SpecError
from sensorpipe.sim.catalog import FIELDS, MODELS, SENSORS
from sensorpipe.sim.fleet import Fleet, arrival, pick, sensor_faults

DECIMALS = {"temperature": 2, "vibration": 3, "pressure": 1, "rpm": 0, "load": 1}
RANGES = {"temperature": (-50.0, 250.0), "vibration": (0.0, 100.0), "pressure": (0.0, 1000.0)}
RANGES |= {"rpm": (0.0, 20000.0), "load": (0.0, 150.0)}  # used where the spec gives no range


@dataclass(frozen=True)
class Rates:
    """Share of readings with each fault (stuck: share of readings inside a stuck stretch)."""

    missing: float = 0.002
    malformed: float = 0.0005
    stuck: float = 0.002
    spike: float = 0.0005
    duplicate: float = 0.001
    late: float = 0.001


DEFAULT_RATES = Rates()
CLEAN = Rates(*(0.0 for _ in fields(Rates)))


def device_names(n: int) -> list[str]:
    return [f"dev-{i:05d}" for i in range(n)]


class Format:
    """The string tables of one output format ("csv" or "json") for a spec's columns."""

    def __init__(self, spec: Spec, kind: str, devices: int):
        for i, col in enumerate(spec.columns):
            if col.name not in FIELDS:
                raise SpecError(spec.path, f"columns[{i}] ({col.name})", f"simulate generates only {FIELDS}")
        self.kind, self.names = kind, [c.name for c in spec.columns]
        if not {"device_id", "ts"} <= set(self.names):
            raise SpecError(spec.path, "columns", "simulate needs the columns device_id and ts")
        self.sep = spec.delimiter if len(spec.delimiter) == 1 else " "
        self.header = (self.sep.join(self.names) + "\n").encode() if kind == "csv" and spec.header else b""
        self.tokens = sorted(spec.null_tokens) if kind == "csv" else ["null"]
        fixed = {"device_id", "ts"} | set(spec.key)
        self.nullable = [c.name for c in spec.columns if not c.required and c.name not in fixed]
        self.ranges = {c.name: c.range or RANGES[c.name] for c in spec.columns if c.name in SENSORS}
        self.may_leave_range = {c.name for c in spec.columns if c.name in SENSORS and not c.rejects_invalid}
        self.tables, self.base = {}, {}
        self.tables["device_id"] = self._text("device_id", pa.array(device_names(devices)))
        self.tables["model"] = self._text("model", pa.array(MODELS))
        for name, (lo, hi) in self.ranges.items():
            scale, span = 10 ** DECIMALS[name], hi - lo
            self.base[name] = math.floor((lo - span / 2) * scale)
            values = (self.base[name] + np.arange(round(2 * span * scale) + 1)) / scale
            numbers = values.astype(np.int64) if DECIMALS[name] == 0 else np.round(values, DECIMALS[name])
            self.tables[name] = self._text(name, pc.cast(pa.array(numbers), pa.string()))

    def _text(self, name: str, values: pa.Array, quote: bool | None = None) -> pa.Array:
        """A column's strings as they appear in a line, null tokens appended after the values."""
        json_ = self.kind == "json"
        quote = name in ("device_id", "ts", "model") if quote is None else quote
        if json_ and quote:
            values = pc.binary_join_element_wise('"', values, '"', "")
        if name in self.nullable:
            values = pa.concat_arrays([values, pa.array(self.tokens)])
        if json_:
            values = pc.binary_join_element_wise(f'"{name}":', values, "")
        if name == self.names[0] and json_:
            values = pc.binary_join_element_wise("{", values, "")
        if name == self.names[-1]:
            values = pc.binary_join_element_wise(values, "}\n" if json_ else "\n", "")
        return values

    def codes(self, name: str, x: np.ndarray) -> np.ndarray:
        """Codes of a sensor's values: value x sits at rint(x * 10**decimals) - base."""
        n = round(2 * (self.ranges[name][1] - self.ranges[name][0]) * 10 ** DECIMALS[name])
        code = np.rint(x * 10 ** DECIMALS[name]) - self.base[name]
        return np.clip(code, 0, n, out=code).astype(np.int32)

    def timestamps(self, seconds: np.ndarray) -> pa.Array:
        """The window's ts table: ISO-8601 for each step, then the same instants as epoch seconds."""
        iso = np.char.add(np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s"), "Z")
        iso = self._text("ts", pa.array(iso))
        return pa.concat_arrays([iso, self._text("ts", pa.array(seconds.astype(str)), quote=False)])


def _null_tokens(codes: dict, fmt: Format, rate: float, rng: np.random.Generator) -> int:
    """Replace about rate * n values of the nullable columns with a null token."""
    if not fmt.nullable:
        return 0
    missing = pick(rng, len(codes["device_id"]), rate)
    col = rng.integers(0, len(fmt.nullable), missing.size)
    token = rng.integers(0, len(fmt.tokens), missing.size)
    for j, name in enumerate(fmt.nullable):
        sel = col == j
        codes[name][missing[sel]] = len(fmt.tables[name]) - len(fmt.tokens) + token[sel]
    return missing.size


def mangle(line: str, r: int, kind: str, sep: str) -> str:
    """A line as a broken feed delivers it: cut short, with a wrong delimiter, with an extra
    field or an unclosed quote (csv); cut short, without its ts, or with single quotes (json)."""
    body = line.rstrip("\n")
    if kind == "json":
        how = r % 3
        if how == 0:
            return body[: max(1, len(body) * (1 + r // 3 % 8) // 10)] + "\n"
        if how == 1:
            return re.sub(r'"ts":("[^"]*"|[^,}]*),?', "", body, count=1) + "\n"
        return body.replace('"', "'") + "\n"
    parts, how = body.split(sep), r % 4
    if how == 0:
        return sep.join(parts[: 1 + r // 4 % min(5, len(parts) - 1)]) + "\n"
    if how == 1:
        return body.replace(sep, ";" if sep != ";" else "|") + "\n"
    if how == 2:
        return body + sep + parts[-1] + "\n"
    return '"' + body + "\n"


def _window_codes(fmt: Format, fleet: Fleet, window, rates: Rates, rng: np.random.Generator):
    """Per column, the table code of every reading of the window (device-major within a step),
    with the sensor faults and null tokens in; and their counts."""
    count = sensor_faults(
        window.values, fmt.ranges, fmt.may_leave_range, rates.stuck, rates.spike, rng, fleet.stuck
    )
    d, w = window.wear.shape
    codes = {
        "device_id": np.tile(np.arange(d, dtype=np.int32), w),
        "model": np.tile(fleet.model.astype(np.int32), w),
    }
    codes["ts"] = np.repeat(np.arange(w, dtype=np.int32), d)
    for name in fmt.ranges:
        codes[name] = fmt.codes(name, window.values[name].T).reshape(-1)
    count["missing"] += _null_tokens(codes, fmt, rates.missing, rng)
    return codes, count


def window_lines(fmt: Format, fleet: Fleet, window, rates: Rates, rng: np.random.Generator):
    """(pieces of bytes, line offsets, fault counts) of one simulated window, in arrival order."""
    codes, count = _window_codes(fmt, fleet, window, rates, rng)
    d, w = window.wear.shape
    order, epoch, bad, faults = arrival(
        len(codes["ts"]), d, rates.malformed, rates.duplicate, rates.late, rng
    )
    count.update(faults)
    ts_table = fmt.timestamps(fleet.start_s + window.steps * fleet.interval_s)
    columns = []
    for name in fmt.names:
        code = codes[name][order]
        if name == "ts":
            code += epoch * np.int32(w)
        columns.append(pc.take(ts_table if name == "ts" else fmt.tables[name], code))
    lines = pc.binary_join_element_wise(*columns, fmt.sep)
    offsets = np.frombuffer(lines.buffers()[1], np.int32, len(lines) + 1, lines.offset * 4).astype(np.int64)
    data = lines.buffers()[2].slice(offsets[0], offsets[-1] - offsets[0])
    offsets -= offsets[0]
    count["rows"] += len(order)
    if bad.size:
        return (*_splice(data, offsets, bad, rng, fmt), count)
    return [data], offsets, count


def _splice(data, offsets: np.ndarray, bad: np.ndarray, rng: np.random.Generator, fmt: Format):
    """The pieces of data with the lines at positions `bad` mangled, and their line offsets."""
    pieces, lengths, prev = [], np.diff(offsets), 0
    for pos, r in zip(bad.tolist(), rng.integers(0, 1 << 30, bad.size).tolist()):
        line = bytes(data[offsets[pos] : offsets[pos + 1]]).decode()
        new = mangle(line, r, fmt.kind, fmt.sep).encode()
        pieces += [data[offsets[prev] : offsets[pos]], new]
        lengths[pos], prev = len(new), pos + 1
    pieces.append(data[offsets[prev] : offsets[-1]])
    return pieces, np.concatenate([[0], np.cumsum(lengths)])
