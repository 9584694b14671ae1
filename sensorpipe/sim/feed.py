"""`sensorpipe simulate --stream DIR`: the fleet's live feed, JSON lines handed out n at a time
(EventStream) and landed as whole files at a given rate (run_stream). With a Truth, each
failure and maintenance goes to its log once the feed has handed out its step's readings.
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque

import numpy as np

from sensorpipe.core.spec import Spec
from sensorpipe.sim.catalog import START
from sensorpipe.sim.fleet import KINDS, MODES, Fleet
from sensorpipe.sim.landing import Landing
from sensorpipe.sim.text import DEFAULT_RATES, Format, Rates, device_names, window_lines
from sensorpipe.sim.truth import FAILURES, MAINTENANCE, Truth, log_lines


class EventStream:
    """The fleet's events as JSON lines, handed out n at a time: no clock, no files."""

    def __init__(
        self,
        spec: Spec,
        devices: int,
        seed: int = 0,
        interval_s: int = 60,
        rates: Rates = DEFAULT_RATES,
        start_s: int = START,
        truth: Truth | None = None,
    ):
        self.fmt = Format(spec, "json", devices)
        self.fleet, self.rng = Fleet(devices, seed, start_s, interval_s), np.random.default_rng([seed, 1])
        self.rates, self.w = rates, max(1, (1 << 16) // devices)
        self.count, self.failures = Counter(), Counter()
        self._ready = deque()  # (data, line offsets, next line)
        self.truth, self.names = truth, device_names(devices)
        self._due = deque()  # truth rows (lines handed out before it is due, log, row)
        self._queued = self._taken = 0  # lines simulated, lines handed out

    def take(self, n: int) -> bytes:
        """The next n events, one JSON object (or a malformed line) per line."""
        parts, self._taken = [], self._taken + n
        while n > 0:
            if not self._ready:
                self._simulate()
            data, offsets, i = self._ready[0]
            j = min(len(offsets) - 1, i + n)
            parts.append(data[offsets[i] : offsets[j]])
            n -= j - i
            self._ready[0][2] = j
            if j == len(offsets) - 1:
                self._ready.popleft()
        while self._due and self._due[0][0] < self._taken:
            _, log, row = self._due.popleft()
            self.truth.write(log, row)
        return b"".join(parts)

    def _simulate(self) -> None:
        """Queue the lines of the next window."""
        window = self.fleet.advance(self.w)
        pieces, offsets, count = window_lines(self.fmt, self.fleet, window, self.rates, self.rng)
        self.count.update(count)
        self.failures.update(MODES[m] for m in window.failures[2])
        self._ready.append([b"".join(pieces), offsets, 0])
        if self.truth:
            self._schedule(window, len(offsets) - 1)
        self._queued += len(offsets) - 1

    def _schedule(self, window, lines: int) -> None:
        """Queue the window's failures and maintenance, each due once the feed has handed out
        about as many of the window's lines as precede its step (late and duplicate lines
        make arrival order only roughly step order)."""
        t0, w, f = int(window.steps[0]), len(window.steps), self.fleet
        rows = []
        for log, events, labels in (
            (FAILURES, window.failures, MODES),
            (MAINTENANCE, window.maintenance, KINDS),
        ):
            steps, text = log_lines(events, labels, self.names, f.start_s, f.interval_s)
            rows += [(self._queued + (int(s) - t0) * lines // w, log, row) for s, row in zip(steps, text)]
        self._due.extend(sorted(rows, key=lambda r: r[0]))


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
