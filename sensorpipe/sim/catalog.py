"""The fleet's catalogue, stdlib only: machine models, sensors, the columns of a reading and
the default first instant. The fleet simulator and the volume generator (synth) share it.
"""

from __future__ import annotations

from datetime import UTC, datetime

MODELS = ("M100", "M200", "M300", "X9")  # a device's `model`, by model code
SENSORS = ("temperature", "vibration", "pressure", "rpm", "load")
FIELDS = ("device_id", "ts", "model", *SENSORS)  # the columns a simulator can write
START = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())  # default first reading, epoch s
