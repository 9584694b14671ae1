"""`sensorpipe simulate --stream DIR`: the fleet's live feed, JSON lines handed out n at a time
(EventStream) and landed as whole files at a given rate (run_stream).
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque

import numpy as np

from sensorpipe.core.spec import Spec
from sensorpipe.sim.catalog import START
from sensorpipe.sim.fleet import MODES, Fleet
from sensorpipe.sim.landing import Landing
from sensorpipe.sim.text import DEFAULT_RATES, Format, Rates, window_lines


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
                self._simulate()
            data, offsets, i = self._ready[0]
            j = min(len(offsets) - 1, i + n)
            parts.append(data[offsets[i] : offsets[j]])
            n -= j - i
            self._ready[0][2] = j
            if j == len(offsets) - 1:
                self._ready.popleft()
        return b"".join(parts)

    def _simulate(self) -> None:
        """Queue the lines of the next window."""
        window = self.fleet.advance(self.w)
        pieces, offsets, count = window_lines(self.fmt, self.fleet, window, self.rates, self.rng)
        self.count.update(count)
        self.failures.update(MODES[m] for m in window.failures[2])
        self._ready.append([b"".join(pieces), offsets, 0])


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
