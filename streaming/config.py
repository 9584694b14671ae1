"""The spec's optional [stream] section, parsed in sensorpipe/core/spec.py (the model room
reads its `quiet` too); re-exported here for the streaming job.

[stream]
watermark = "2 minutes"     # how late (event time) an event may arrive and still be scored
quiet = "6 hours"           # optional: an alert episode ends after the probability stays below
                            # this long; unset, the model card's chosen quiet (else 30 minutes)
top_sensors = 3             # sensors named in an alert
buckets = 8                 # optional: state keys: devices are hashed into this many (fixed per
                            # checkpoint); unset, one per core on a local master, 8 on a cluster
                            # (streaming/restarts.bucket_count)
"""

from __future__ import annotations

from sensorpipe.core.spec import (
    DURATION,
    STREAM_KEYS,
    UNITS,
    StreamConfig,
    duration_us,
    stream_config,
    with_stream,
)

__all__ = ["DURATION", "STREAM_KEYS", "UNITS", "StreamConfig", "duration_us", "stream_config", "with_stream"]
