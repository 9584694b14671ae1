"""A deterministic, messy sensors CSV (conf/sensors.toml layout) for tests, benchmarks and demos.

Stdlib only. Each row is one reading of one device; a small share of rows carries the
faults real feeds carry: nulls, garbage numbers, out-of-range values, short rows,
duplicates in another timestamp form. `sensorpipe simulate` (the fleet simulator) is the
realistic source; this one is for volume.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

from sensorpipe.sim.catalog import FIELDS, MODELS, START

HEADER = ",".join(FIELDS)


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rows(n: int, devices: int = 500, seed: int = 7, fault_rate: float = 0.02):
    """Yield about n CSV lines (no header; a duplicate adds one); one reading per device a minute."""
    rng = random.Random(seed)
    models = [MODELS[i % len(MODELS)] for i in range(devices)]
    for i in range(n):
        dev = i % devices
        ts = START + (i // devices) * 60
        temp = 60.0 + 10.0 * rng.gauss(0, 1) + (dev % 7)
        vib = abs(3.0 + rng.gauss(0, 1))
        pres = 300.0 + 25.0 * rng.gauss(0, 1)
        rpm = int(1500 + 200 * rng.gauss(0, 1))
        load = min(149.0, max(0.0, 60.0 + 20.0 * rng.gauss(0, 1)))
        fields = [
            f"dev-{dev:05d}",
            _iso(ts),
            models[dev],
            f"{temp:.3f}",
            f"{vib:.4f}",
            f"{pres:.2f}",
            str(rpm),
            f"{load:.1f}",
        ]
        if rng.random() < fault_rate:
            yield from _fault(rng, fields, ts)
            continue
        yield ",".join(fields)


def _fault(rng: random.Random, fields: list[str], ts: int):
    kind = rng.randrange(8)
    if kind == 0:  # a missing sensor value
        fields[rng.randrange(2, 8)] = rng.choice(["", "NA", "null", "?"])
    elif kind == 1:  # a garbage number
        fields[rng.choice([3, 4, 5])] = rng.choice(["abc", "inf", "1.2.3"])
    elif kind == 2:  # out of range: invalid, becomes null
        fields[3] = "999.0"
    elif kind == 3:  # a short row
        fields = fields[:5]
    elif kind == 4:  # the same reading again, its timestamp in epoch seconds
        yield ",".join(fields)
        fields[1] = str(ts)
    elif kind == 5:  # a spike, inside the range: clipped
        fields[4] = "95.0"
    elif kind == 6:  # no device id: missing_required
        fields[0] = ""
    else:  # rpm rejects invalid values: invalid_value
        fields[6] = rng.choice(["fast", "1.5", "-3"])
    yield ",".join(fields)


def write_csv(path: str, n: int, **kw) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(HEADER + "\n")
        for line in rows(n, **kw):
            f.write(line + "\n")
