"""Real telemetry as a live feed: replay a raw file (C-MAPSS test engines) as JSON-line events.

    sensorpipe simulate --replay ../shared/data/cmapss/test_FD001.txt --spec conf/cmapss.toml \\
        --stream out/landing [--rate 2000] [--duration S]

Readings go out in the order the engines lived them: every device's first reading, then
every device's second, ... (order column, then device), so the stream interleaves devices
the way a fleet's feed does. Each event is one JSON object keyed by the spec's column
names with the file's values, typed per the spec (ints stay ints); the replay ends when
the file does. The files land in the directory by atomic rename (sensorpipe.sim.feed).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pandas as pd

from sensorpipe.core.spec import Spec
from sensorpipe.model.features import feature_config
from sensorpipe.model.raw import read_raw


class ReplayStream:
    """A raw file's readings as JSON lines, handed out n at a time (like feed.EventStream)."""

    def __init__(self, spec: Spec, path: str | Path):
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

    @property
    def done(self) -> bool:
        return self.sent >= len(self.rows)

    def take(self, n: int) -> bytes:
        """The next n events (fewer at the end of the file), one JSON object per line."""
        rows = self.rows[self.sent : self.sent + n]
        self.sent += len(rows)
        self.count["events"] += len(rows)
        lines = (json.dumps(dict(zip(self.names, map(_value, self.kinds, row)))) for row in rows)
        return "".join(line + "\n" for line in lines).encode("utf-8")


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
