"""Real telemetry as a live feed: replay a raw file (C-MAPSS test engines) as JSON-line events.

    sensorpipe simulate --replay ../shared/data/cmapss/test_FD001.txt --spec conf/cmapss.toml \\
        --stream out/landing [--rate 2000] [--duration S]

Readings go out in the order the engines lived them: every device's first reading, then
every device's second, ... (order column, then device), so the stream interleaves devices
the way a fleet's feed does. Each event is one JSON object keyed by the spec's column
names with the file's values, typed per the spec (ints stay ints); the replay ends when
the file does. The files land in the directory by atomic rename (sensorpipe.sim.feed).

Replay maps no cycle to a clock: the events carry the file's order column (C-MAPSS `cycle`,
an int), and so does the truth. With the RUL truth (`--rul`, by default RUL_<name>.txt
beside a test_<name>.txt), each engine's failure, at order last cycle + RUL, goes to
failures.csv (`unit,cycle,mode`, mode "failure") when the engine's last reading goes out;
maintenance.csv stays empty (header only).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pandas as pd

from sensorpipe.core.spec import Spec
from sensorpipe.model.features import feature_config
from sensorpipe.model.raw import read_raw, read_truth
from sensorpipe.sim.truth import FAILURES, Truth


class ReplayStream:
    """A raw file's readings as JSON lines, handed out n at a time (like feed.EventStream)."""

    def __init__(
        self, spec: Spec, path: str | Path, truth: Truth | None = None, rul: str | Path | None = None
    ):
        features = feature_config(spec)
        frame = read_raw(spec, path)
        frame = frame.sort_values([features.order, features.device], kind="stable").reset_index(drop=True)
        back = {c.out: c.name for c in spec.columns}
        self.names = [back.get(c, c) for c in frame.columns]
        self.rows = frame.to_dict("split")["data"]
        self.kinds = [_kind(spec, c) for c in frame.columns]
        self.sent = 0
        self.count = Counter()
        self.failures = Counter()
        self.truth, self._ends = truth, []
        if rul is not None:
            self._ends = _failure_rows(frame, features.device, features.order, rul)

    @property
    def done(self) -> bool:
        return self.sent >= len(self.rows)

    def take(self, n: int) -> bytes:
        """The next n events (fewer at the end of the file), one JSON object per line."""
        rows = self.rows[self.sent : self.sent + n]
        self.sent += len(rows)
        self.count["events"] += len(rows)
        while self._ends and self._ends[0][0] < self.sent:
            row = self._ends.pop(0)[1]
            self.failures["failure"] += 1
            if self.truth:
                self.truth.write(FAILURES, row)
        lines = (json.dumps(dict(zip(self.names, map(_value, self.kinds, row)))) for row in rows)
        return "".join(line + "\n" for line in lines).encode("utf-8")


def default_rul(path: str | Path) -> Path | None:
    """C-MAPSS naming: RUL_FD001.txt beside test_FD001.txt, if it is there."""
    path = Path(path)
    rul = path.with_name("RUL_" + path.name.removeprefix("test_"))
    return rul if path.name.startswith("test_") and rul.is_file() else None


def _failure_rows(frame: pd.DataFrame, device: str, order: str, rul) -> list:
    """(position of the device's last reading, failures.csv row) per device, in position
    order; the failure at the last order + the device's RUL (read_truth: one line per unit)."""
    if not pd.api.types.is_integer_dtype(frame[order]):
        raise ValueError(f"{rul}: a RUL truth needs an int order column (cycles), not {order}")
    last = frame.drop_duplicates(device, keep="last")
    truth = read_truth(rul)
    if sorted(last[device]) != list(truth.index):
        raise ValueError(
            f"{rul}: {len(truth)} lines for {len(last)} replayed devices (one line a unit, 1..N)"
        )
    fail = last[order] + truth.loc[last[device]].to_numpy()
    return [(i, f"{d},{t},failure\n") for i, d, t in zip(last.index, last[device], fail)]


def _kind(spec: Spec, name: str) -> str:
    return next((c.type for c in spec.columns if c.out == name), "string")


def _value(kind: str, v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if kind == "int":
        return int(v)
    if kind == "float":
        return float(v)
    if kind == "timestamp":
        return pd.Timestamp(v).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return v
