"""A simulated fleet's truth: failures.csv (`device_id,ts,mode`) and maintenance.csv
(`device_id,ts,kind`), rows in (ts, device) order, timestamps ISO-8601 UTC. A history writes
them whole (sensorpipe.sim.history); a live feed or a replay appends each row, flushed, as
its events go out (Truth), so a reader sees the truth while the feed runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sensorpipe.core.values import format_timestamp

FAILURES, MAINTENANCE = "failures.csv", "maintenance.csv"
LAST_COLUMN = {FAILURES: "mode", MAINTENANCE: "kind"}


def log_lines(events: tuple, labels: tuple, names: list, start_s: int, interval_s: int):
    """(steps, lines) of events (device, step, label index arrays): `device,ts,label` lines in
    (step, device) order, and the step of each."""
    dev, step, what = (np.asarray(x, np.int64) for x in events)
    order = np.lexsort((dev, step))
    lines = [
        f"{names[dev[i]]},{format_timestamp((start_s + int(step[i]) * interval_s) * 1_000_000)},"
        f"{labels[what[i]]}\n"
        for i in order
    ]
    return step[order], lines


class Truth:
    """failures.csv and maintenance.csv in a directory, opened for appending (a restarted
    feed goes on after the rows already there); the header goes into an empty file."""

    def __init__(self, directory: str | Path, device: str = "device_id", order: str = "ts"):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.files = {}
        for name, last in LAST_COLUMN.items():
            f = open(self.dir / name, "a", encoding="utf-8")  # noqa: SIM115 (closed by close())
            if f.tell() == 0:
                f.write(f"{device},{order},{last}\n")
                f.flush()
            self.files[name] = f

    def write(self, name: str, line: str) -> None:
        """Append one row (a line with its newline) to FAILURES or MAINTENANCE, flushed."""
        self.files[name].write(line)
        self.files[name].flush()

    def close(self) -> None:
        for f in self.files.values():
            f.close()

    def __enter__(self) -> Truth:
        return self

    def __exit__(self, *_) -> None:
        self.close()
