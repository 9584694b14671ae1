"""The spec's optional [stream] section: watermark delay, alert episode quiet time, top-k
sensors, state buckets.

[stream]
watermark = "2 minutes"     # how late (event time) an event may arrive and still be scored
quiet = "30 minutes"        # an alert episode ends after the probability stays below this long
top_sensors = 3             # sensors named in an alert
buckets = 8                 # state keys: devices are hashed into this many (fixed per checkpoint)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sensorpipe.core.spec import Spec, SpecError

STREAM_KEYS = {"watermark", "quiet", "top_sensors", "buckets"}
UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
DURATION = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(second|minute|hour|day)s?\s*")


@dataclass(frozen=True)
class StreamConfig:
    watermark: str = "2 minutes"
    quiet: str = "30 minutes"
    top_sensors: int = 3
    buckets: int = 8

    @property
    def watermark_us(self) -> int:
        return duration_us(self.watermark)

    @property
    def quiet_us(self) -> int:
        return duration_us(self.quiet)


def duration_us(text: str) -> int:
    """Microseconds of "2 minutes", "30 seconds", "1.5 hours" (the form Spark's withWatermark takes)."""
    m = DURATION.fullmatch(text)
    if not m:
        raise ValueError(f"{text!r} is not a duration like '2 minutes'")
    return round(float(m.group(1)) * UNITS[m.group(2)] * 1_000_000)


def stream_config(spec: Spec) -> StreamConfig:
    """The [stream] section, validated; every key is optional."""
    raw = spec.extra.get("stream", {})
    if not isinstance(raw, dict):
        raise SpecError(spec.path, "stream", "must be a table")
    for key in raw:
        if key not in STREAM_KEYS:
            raise SpecError(
                spec.path, f"stream.{key}", f"unknown key (known: {', '.join(sorted(STREAM_KEYS))})"
            )
    config = StreamConfig(**raw)
    for key in ("watermark", "quiet"):
        value = getattr(config, key)
        if not isinstance(value, str) or not DURATION.fullmatch(value):
            raise SpecError(spec.path, f"stream.{key}", f'a duration like "2 minutes", got {value!r}')
    if type(config.top_sensors) is not int or config.top_sensors < 1:
        raise SpecError(spec.path, "stream.top_sensors", f"an integer >= 1, got {config.top_sensors!r}")
    if type(config.buckets) is not int or config.buckets < 1:
        raise SpecError(spec.path, "stream.buckets", f"an integer >= 1, got {config.buckets!r}")
    return config
