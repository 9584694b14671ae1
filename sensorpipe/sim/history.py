"""`sensorpipe simulate --output DIR`: a fleet's history as sensors.csv with feed faults,
failures.csv, maintenance.csv and, last, manifest.json; each file appears whole, by rename.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import numpy as np

from sensorpipe.core.spec import Spec
from sensorpipe.core.values import format_timestamp
from sensorpipe.sim.catalog import START
from sensorpipe.sim.fleet import KINDS, MODES, Fleet
from sensorpipe.sim.landing import atomic_file
from sensorpipe.sim.text import DEFAULT_RATES, Format, Rates, device_names, window_lines
from sensorpipe.sim.truth import FAILURES, LAST_COLUMN, MAINTENANCE, log_lines

WINDOW_CELLS = 1 << 18  # readings simulated and written at a time: speed is flat above
COUNTS = ("rows", "missing", "malformed", "stuck", "spikes", "spikes_out_of_range", "duplicates", "late")


def window_steps(devices: int) -> int:
    return max(1, min(1 << 16, WINDOW_CELLS // devices))


def _events_csv(path: Path, rows: list, labels: tuple, devices: int, start_s: int, interval_s: int) -> None:
    events = tuple(np.concatenate(x) for x in zip(*rows)) if rows else ([], [], [])
    _, lines = log_lines(events, labels, device_names(devices), start_s, interval_s)
    with atomic_file(path) as f:
        f.write(f"device_id,ts,{LAST_COLUMN[path.name]}\n".encode())
        f.write("".join(lines).encode())


def _tally(events: list, labels: tuple) -> dict:
    """Events (device, step, label index) of every window, counted by label."""
    return {label: sum(int((e[2] == i).sum()) for e in events) for i, label in enumerate(labels)}


def _write_sensors(path: Path, fmt: Format, fleet: Fleet, total: int, rates: Rates, seed: int, echo):
    """Simulate `total` steps into sensors.csv, window by window; returns the fault counts and
    the failures and maintenance of every window."""
    rng, w, started = np.random.default_rng([seed, 1]), window_steps(fleet.n), time.perf_counter()
    count, failures, maintenance, last = Counter(), [], [], started
    # One thread writes window k while the main thread simulates window k + 1.
    with atomic_file(path) as f, ThreadPoolExecutor(1) as io:
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
                echo(f"simulate: {fleet.step / total:.0%} ({fleet.step * fleet.n:,} readings)")
        written.result()
    return count, failures, maintenance


def write_history(
    spec: Spec,
    out,
    devices: int,
    hours: float,
    seed: int = 0,
    interval_s: int = 60,
    rates: Rates = DEFAULT_RATES,
    start_s: int = START,
    echo=None,
) -> dict:
    """Simulate `hours` of the fleet into OUT/sensors.csv, failures.csv, maintenance.csv and,
    last, manifest.json; each file appears whole, by rename. Returns the manifest (+ seconds)."""
    out, started = Path(out), time.perf_counter()
    fmt = Format(spec, "csv", devices)
    fleet, total = Fleet(devices, seed, start_s, interval_s), math.ceil(hours * 3600 / interval_s)
    out.mkdir(parents=True, exist_ok=True)
    count, failures, maintenance = _write_sensors(out / "sensors.csv", fmt, fleet, total, rates, seed, echo)
    _events_csv(out / FAILURES, failures, MODES, devices, start_s, interval_s)
    _events_csv(out / MAINTENANCE, maintenance, KINDS, devices, start_s, interval_s)
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
        "failures": _tally(failures, MODES),
        "maintenance": _tally(maintenance, KINDS),
    }
    with atomic_file(out / "manifest.json") as f:
        f.write((json.dumps(manifest, indent=2) + "\n").encode())
    return manifest | {"seconds": time.perf_counter() - started}
