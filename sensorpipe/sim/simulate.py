"""`sensorpipe simulate`: a fleet's telemetry (sensorpipe.sim.fleet) with the faults real feeds
carry, as a history CSV (--output DIR) or as JSON-lines files that land in a directory by
atomic rename at a given rate (--stream DIR). Deterministic for a seed.

Text is made without a Python loop per row: every field is a code into a table of strings
(a value rounded to its decimals, a null token, a timestamp of the window), so a window's
lines are Arrow `take`s joined element-wise; the few malformed lines are spliced in after.
"""

from __future__ import annotations

import json
import math
import re
import sys
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sensorpipe.core.spec import Spec, SpecError, load_spec
from sensorpipe.core.values import format_timestamp, parse_timestamp
from sensorpipe.sim.fleet import KINDS, MODES, SENSORS, Fleet, arrival, pick, sensor_faults
from sensorpipe.sim.landing import Landing, atomic_file
from sensorpipe.sim.synth import MODELS, START

FIELDS = ("device_id", "ts", "model", *SENSORS)
DECIMALS = {"temperature": 2, "vibration": 3, "pressure": 1, "rpm": 0, "load": 1}
RANGES = {"temperature": (-50.0, 250.0), "vibration": (0.0, 100.0), "pressure": (0.0, 1000.0)}
RANGES |= {"rpm": (0.0, 20000.0), "load": (0.0, 150.0)}  # used where the spec gives no range
WINDOW_CELLS = 1 << 18  # readings simulated and written at a time: speed is flat above
COUNTS = ("rows", "missing", "malformed", "stuck", "spikes", "spikes_out_of_range", "duplicates", "late")


@dataclass(frozen=True)
class Rates:
    """Share of readings with each fault (stuck: share of readings inside a stuck stretch)."""

    missing: float = 0.002
    malformed: float = 0.0005
    stuck: float = 0.002
    spike: float = 0.0005
    duplicate: float = 0.001
    late: float = 0.001


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


def window_lines(fmt: Format, fleet: Fleet, window, rates: Rates, rng: np.random.Generator):
    """(pieces of bytes, line offsets, fault counts) of one simulated window, in arrival order."""
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


def window_steps(devices: int) -> int:
    return max(1, min(1 << 16, WINDOW_CELLS // devices))


def _events_csv(path: Path, rows: list, header: str, labels: tuple, start_s: int, interval_s: int) -> None:
    dev, step, what = (np.concatenate(x) for x in zip(*rows)) if rows else ([], [], [])
    order = np.lexsort((dev, step))
    names = device_names(int(max(dev, default=-1)) + 1)
    with atomic_file(path) as f:
        f.write(f"{header}\n".encode())
        for i in order:
            ts = format_timestamp((start_s + int(step[i]) * interval_s) * 1_000_000)
            f.write(f"{names[dev[i]]},{ts},{labels[what[i]]}\n".encode())


def write_history(
    spec: Spec,
    out,
    devices: int,
    hours: float,
    seed: int = 0,
    interval_s: int = 60,
    rates: Rates = Rates(),
    start_s: int = START,
    echo=None,
) -> dict:
    """Simulate `hours` of the fleet into OUT/sensors.csv, failures.csv, maintenance.csv and,
    last, manifest.json; each file appears whole, by rename. Returns the manifest (+ seconds)."""
    out, started = Path(out), time.perf_counter()
    fmt = Format(spec, "csv", devices)
    fleet, rng = Fleet(devices, seed, start_s, interval_s), np.random.default_rng([seed, 1])
    total, w = math.ceil(hours * 3600 / interval_s), window_steps(devices)
    out.mkdir(parents=True, exist_ok=True)
    count, failures, maintenance, last = Counter(), [], [], started
    # One thread writes window k while the main thread simulates window k + 1.
    with atomic_file(out / "sensors.csv") as f, ThreadPoolExecutor(1) as io:
        written = io.submit(f.write, fmt.header)
        for t in range(0, total, w):
            window = fleet.advance(min(w, total - t))
            pieces, _, c = window_lines(fmt, fleet, window, rates, rng)
            written.result()
            written = io.submit(f.writelines, pieces)
            count.update(c)
            failures.append(window.failures)
            maintenance.append(window.maintenance)
            if echo and time.perf_counter() - last > 2.0:
                last = time.perf_counter()
                echo(f"simulate: {fleet.step / total:.0%} ({fleet.step * devices:,} readings)")
        written.result()
    _events_csv(out / "failures.csv", failures, "device_id,ts,mode", MODES, start_s, interval_s)
    _events_csv(out / "maintenance.csv", maintenance, "device_id,ts,kind", KINDS, start_s, interval_s)
    manifest = {
        "seed": seed,
        "devices": devices,
        "hours": hours,
        "interval_s": interval_s,
        "start": format_timestamp(start_s * 1_000_000),
        "steps": total,
        "spec": spec.path,
        "rates": asdict(rates),
        "counts": {"readings": total * devices} | {k: count[k] for k in COUNTS},
        "failures": {m: sum(int((f[2] == i).sum()) for f in failures) for i, m in enumerate(MODES)},
        "maintenance": {k: sum(int((m[2] == i).sum()) for m in maintenance) for i, k in enumerate(KINDS)},
    }
    with atomic_file(out / "manifest.json") as f:
        f.write((json.dumps(manifest, indent=2) + "\n").encode())
    return manifest | {"seconds": time.perf_counter() - started}


class EventStream:
    """The fleet's events as JSON lines, handed out n at a time: no clock, no files."""

    def __init__(
        self,
        spec: Spec,
        devices: int,
        seed: int = 0,
        interval_s: int = 60,
        rates: Rates = Rates(),
        start_s: int = START,
    ):
        self.fmt = Format(spec, "json", devices)
        self.fleet, self.rng = Fleet(devices, seed, start_s, interval_s), np.random.default_rng([seed, 1])
        self.rates, self.w = rates, max(1, (1 << 16) // devices)
        self.count, self.failures = Counter(), Counter()
        self._ready = deque()  # (data, line offsets, next line)

    def take(self, n: int) -> bytes:
        """The next n events, one JSON object (or a malformed line) per line."""
        parts = []
        while n > 0:
            if not self._ready:
                window = self.fleet.advance(self.w)
                pieces, offsets, count = window_lines(self.fmt, self.fleet, window, self.rates, self.rng)
                self.count.update(count)
                self.failures.update(MODES[m] for m in window.failures[2])
                self._ready.append([b"".join(pieces), offsets, 0])
            data, offsets, i = self._ready[0]
            j = min(len(offsets) - 1, i + n)
            parts.append(data[offsets[i] : offsets[j]])
            n -= j - i
            self._ready[0][2] = j
            if j == len(offsets) - 1:
                self._ready.popleft()
        return b"".join(parts)


def run_stream(
    events: EventStream,
    landing,
    rate: float,
    duration: float | None = None,
    file_interval: float = 1.0,
    echo=None,
    clock=time.monotonic,
    sleep=time.sleep,
) -> dict:
    """Land rate * file_interval events per file, each file at the end of its interval, by
    atomic rename; for `duration` seconds, or until Ctrl-C."""
    landing = Landing(landing)
    started, k, sent, files = clock(), 0, 0, 0
    try:
        while duration is None or k * file_interval < duration - 1e-9:
            n = math.floor((k + 1) * rate * file_interval) - math.floor(k * rate * file_interval)
            data = events.take(n)
            if not data and getattr(events, "done", False):
                break  # a replay ends with its file
            k += 1
            wait = started + k * file_interval - clock()
            if wait > 0:
                sleep(wait)
            if data:
                landing.put(data)
                files, sent = files + 1, sent + data.count(b"\n")
            if echo and files and files % 60 == 0:
                echo(f"simulate: {files:,} files, {sent:,} events")
    except KeyboardInterrupt:  # Ctrl-C ends the stream; every file renamed into place is whole
        if echo:
            echo(f"simulate: stopped after {files:,} files, {sent:,} events")
    return {"files": files, "events": sent, "seconds": clock() - started, "counts": dict(events.count)}


def _start(text: str, interval_s: int) -> int | None:
    if text == "now":
        return int(time.time()) // interval_s * interval_s
    micros = parse_timestamp(text)
    return None if micros is None else micros // 1_000_000


def command(args) -> int:
    """`sensorpipe simulate`, wired by sensorpipe.cli: check the arguments, run, summarize."""
    spec = load_spec(args.spec)

    def echo(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    given = {f.name: getattr(args, f"{f.name}_rate") for f in fields(Rates)}
    rates = CLEAN if args.clean else Rates(**{k: v for k, v in given.items() if v is not None})
    start = _start(args.start, args.interval_s)
    replay = getattr(args, "replay", None)
    problem = (
        (replay and not args.stream and "--replay needs --stream DIR")
        or (not replay and (args.devices or 0) < 1 and "--devices must be at least 1")
        or (args.interval_s < 1 and "--interval-s must be at least 1")
        or (not all(0 <= r <= 0.5 for r in asdict(rates).values()) and "fault rates must be within 0..0.5")
        or (start is None and f"--start {args.start!r} is neither ISO-8601, epoch seconds nor 'now'")
        or (args.output and not (args.hours or 0) > 0 and "--output needs --hours > 0")
        or (args.stream and not (args.rate or 0) > 0 and "--stream needs --rate > 0 (events per second)")
        or (args.stream and args.file_interval <= 0 and "--file-interval must be > 0")
        or (getattr(args, "kafka", None) and not (args.rate or 0) > 0 and "--kafka needs --rate > 0")
        or (getattr(args, "kafka", None) and not args.topic and "--kafka needs --topic")
        or (getattr(args, "kafka", None) and args.file_interval <= 0 and "--file-interval must be > 0")
    )
    if problem:
        echo(f"sensorpipe simulate: {problem}")
        return 2
    if args.output:
        m = write_history(
            spec, args.output, args.devices, args.hours, args.seed, args.interval_s, rates, start, echo
        )
        c = m["counts"]
        echo(
            f"simulate: {c['readings']:,} readings of {args.devices:,} devices over {args.hours:g} h"
            f" -> {args.output}/sensors.csv ({c['rows']:,} rows) in {m['seconds']:.1f} s,"
            f" {c['readings'] / m['seconds']:,.0f} readings/s"
        )
        echo(f"  failures {json.dumps(m['failures'])}  maintenance {json.dumps(m['maintenance'])}")
        echo("  faults " + json.dumps({k: v for k, v in c.items() if k not in ("readings", "rows")}))
        return 0
    if replay:
        from sensorpipe.sim.replay import ReplayStream  # noqa: PLC0415

        events = ReplayStream(spec, replay)
    else:
        events = EventStream(spec, args.devices, args.seed, args.interval_s, rates, start)
    if getattr(args, "kafka", None):
        from sensorpipe.sim.kafka import run_kafka  # noqa: PLC0415 (confluent-kafka loads on demand)

        k = run_kafka(events, args.kafka, args.topic, args.rate, args.duration, args.file_interval, echo)
        echo(f"simulate: {k['delivered']:,} events -> topic {args.topic} in {k['seconds']:.1f} s")
        return 0
    s = run_stream(events, args.stream, args.rate, args.duration, args.file_interval, echo)
    echo(f"simulate: {s['events']:,} events in {s['files']:,} files -> {args.stream} in {s['seconds']:.1f} s")
    echo(f"  failures {json.dumps(dict(events.failures))}  generated {json.dumps(s['counts'])}")
    return 0
