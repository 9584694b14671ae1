"""The machines behind `sensorpipe simulate`: bearings that wear, cooling that fails, repairs,
planned maintenance and changes of operating regime, simulated one time window at a time
as numpy arrays of shape (devices, steps); then sensors that misbehave, and the order in
which a feed delivers readings. Arrays only: text lives in sensorpipe.sim.text, files in
sensorpipe.sim.history and sensorpipe.sim.feed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from sensorpipe.sim.catalog import MODELS, SENSORS

BEARING, COOLING, PLANNED = 0, 1, 2  # why a machine stopped
MODES = ("bearing", "cooling")  # failures.csv `mode`, by stop code
KINDS = ("repair", "planned")  # maintenance.csv `kind`: after a failure, or planned
RPM_NOMINAL = np.array([1500.0, 1800.0, 3000.0, 1200.0])  # per model, in MODELS order
REGIME_LOAD = np.array([25.0, 60.0, 90.0])  # idle, normal, heavy: % of rated load
REGIME_RPM = np.array([0.6, 1.0, 1.15])
LATE_STEPS = 30  # a late reading arrives after up to this many later steps
STUCK_STEPS = (10, 120)  # length of a stuck stretch


@dataclass(frozen=True)
class Physics:
    """How the fleet lives; durations in hours unless named otherwise."""

    bearing_life_days: float = 45.0  # median time for a new bearing to wear out
    cooling_onset_days: float = 60.0  # mean time until a cooling fault starts
    cooling_ramp: tuple[float, float] = (24.0, 96.0)  # from onset to failure
    planned_every: tuple[float, float] = (20.0 * 24, 40.0 * 24)
    planned_stop: tuple[float, float] = (1.0, 3.0)
    repair: tuple[float, float] = (2.0, 12.0)
    regime_dwell: float = 8.0  # mean time in one operating regime
    shocks_per_day: float = 0.1  # impacts that make bearing wear jump


@dataclass
class Window:
    """Readings of every device over `steps` (absolute step numbers), and what happened."""

    steps: np.ndarray  # (w,)
    values: dict[str, np.ndarray]  # sensor name -> (devices, w)
    wear: np.ndarray  # (devices, w) latent bearing wear; 1.0 fails
    down: np.ndarray  # (devices, w) stopped: failed, in repair or in maintenance
    failures: tuple[np.ndarray, np.ndarray, np.ndarray]  # device, step, index into MODES
    maintenance: tuple[np.ndarray, np.ndarray, np.ndarray]  # device, step, index into KINDS


def ffill_ids(d: int, w: int, dev: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Per (device, step) the id of the latest mark at or before it. Device i's step 0 holds
    mark i; mark k of (dev, at) has id d + k, and one device's marks come in time order."""
    ids = np.zeros((d, w), np.int64)
    ids[:, 0] = np.arange(d)
    ids[dev, at] = np.arange(d, d + len(dev))
    return np.maximum.accumulate(ids, axis=1)


def _cat(parts: list, dtype=np.int64) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype)


class Fleet:
    """The latent state of every device, advanced window by window (deterministic for a seed)."""

    def __init__(self, devices: int, seed: int, start_s: int, interval_s: int, physics: Physics = Physics()):
        self.n, self.start_s, self.interval_s, self.ph = devices, start_s, interval_s, physics
        self.hour = 3600.0 / interval_s  # steps per hour
        rng = self.rng = np.random.default_rng(seed)
        d = devices
        self.model = rng.integers(0, len(MODELS), d)
        self.rpm_nom = RPM_NOMINAL[self.model] * rng.uniform(0.97, 1.03, d)
        self.vib_base = rng.uniform(1.5, 3.0, d)
        self.k_heat = rng.uniform(0.4, 0.6, d)  # degrees C per % of load
        self.t_amb = rng.uniform(18.0, 26.0, d)
        self.p_base = rng.uniform(250.0, 350.0, d)
        self.swing = rng.uniform(3.0, 10.0, d)  # daily load swing
        life = physics.bearing_life_days * 24 * self.hour * rng.lognormal(0.0, 0.35, d)
        self.wear_rate = 1.0 / life
        self.wear = rng.uniform(0.0, 0.7, d)  # the fleet is not new
        self.regime = rng.integers(0, 3, d)
        self.step = 0
        self.stuck = []  # sensors stuck across windows: see sensor_faults
        self.down_until = np.zeros(d, np.int64)
        self.pending = np.full(d, -1)  # maintenance kind recorded when the machine restarts
        self.cool_onset, self.cool_ramp = self._cooling(np.zeros(d, np.int64))
        self.next_planned = (rng.uniform(0.0, physics.planned_every[1], d) * self.hour).astype(np.int64)

    def _steps(self, hours: tuple[float, float], n: int) -> np.ndarray:
        """n durations drawn uniformly between bounds in hours, in whole steps (at least 1)."""
        return np.maximum(1, (self.rng.uniform(*hours, n) * self.hour).astype(np.int64))

    def _cooling(self, now: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """When the next cooling fault starts, and how many steps it takes to fail."""
        mean = self.ph.cooling_onset_days * 24 * self.hour
        onset = now + self.rng.exponential(mean, len(now)).astype(np.int64)
        return onset, self._steps(self.ph.cooling_ramp, len(now))

    def advance(self, w: int) -> Window:
        """Simulate the next w steps of every device."""
        d, t0, rng = self.n, self.step, self.rng
        inc = self.wear_rate[:, None] * rng.standard_exponential((d, w))
        shocks = rng.binomial(d * w, self.ph.shocks_per_day / (24 * self.hour))
        np.add.at(inc.reshape(-1), rng.integers(0, d * w, shocks), rng.uniform(0.02, 0.1, shocks))
        cum = np.cumsum(inc, axis=1)
        first = (self.wear.copy(), self.cool_onset.copy(), self.cool_ramp.copy())
        marks, stops, restarts, downs = self._events(cum, w)
        ids = ffill_ids(d, w, marks[0], marks[1])
        wear, onset, ramp = (np.concatenate([f, m])[ids] for f, m in zip(first, marks[2:]))
        wear += cum
        steps = t0 + np.arange(w)
        sev = np.clip((steps - onset) / ramp, 0.0, 1.0)  # cooling fault severity, 1.0 fails
        down = np.zeros((d, w + 1), np.int16)
        np.add.at(down, (downs[0], downs[1]), 1)
        np.add.at(down, (downs[0], downs[2]), -1)
        down = np.cumsum(down[:, :w], axis=1) > 0
        values = self._readings(steps, self._regimes(w), wear, sev, down)
        self.step = t0 + w
        failed = stops[2] != PLANNED
        failures = (stops[0][failed], stops[1][failed], stops[2][failed])
        return Window(steps, values, wear, down, failures, restarts)

    def _events(self, cum: np.ndarray, w: int):
        """Stops and restarts in the window, found for all devices at once in rounds.

        A run that started at step s has bearing wear wear_s + cum[t] - cum[s - 1] at step t,
        written cum[t] + offset. Its first step at 1.0 comes from one searchsorted over all
        rows, shifted apart so that the flattened array stays sorted.
        """
        d, t0 = self.n, self.step
        shift = np.arange(d) * (cum[:, -1].max() + 2.0)
        flat = (cum + shift[:, None]).reshape(-1)
        offset = self.wear.copy()
        marks = [[] for _ in range(5)]  # device, step, offset, cooling onset, cooling ramp
        stops, restarts = ([[] for _ in range(3)] for _ in range(2))
        up = np.clip(self.down_until - t0, 0, w)
        downs = [[np.arange(d)], [np.zeros(d, np.int64)], [up.copy()]]  # stopped at the start
        active = np.flatnonzero(up < w)
        while active.size:
            r = active[self.pending[active] >= 0]  # back from a stop: maintenance resets wear
            offset[r] = self._restart(r, up[r], cum, marks, restarts)
            a = active
            bearing = np.searchsorted(flat, 1.0 - offset[a] + shift[a]) - a * w
            cooling = self.cool_onset[a] + self.cool_ramp[a] - t0
            at = np.maximum(np.minimum(np.minimum(bearing, cooling), self.next_planned[a] - t0), up[a])
            hit = at < w
            a, at, bearing, cooling = a[hit], at[hit], bearing[hit], cooling[hit]
            why = np.where(at == bearing, BEARING, np.where(at == cooling, COOLING, PLANNED))
            gap = np.where(
                why == PLANNED, self._steps(self.ph.planned_stop, a.size), self._steps(self.ph.repair, a.size)
            )
            for m, v in zip(stops + downs, (a, t0 + at, why, a, at, np.minimum(at + gap, w))):
                m.append(v)
            self.wear[a] = cum[a, at] + offset[a]
            self.down_until[a] = t0 + at + gap
            self.pending[a] = (why == PLANNED).astype(np.int64)  # index into KINDS
            up[a] = at + gap
            active = a[up[a] < w]
        running = self.pending < 0
        self.wear[running] = cum[running, -1] + offset[running]
        return (
            [_cat(m, float if i > 1 else np.int64) for i, m in enumerate(marks)],
            [_cat(m) for m in stops],
            tuple(_cat(m) for m in restarts),
            [_cat(m) for m in downs],
        )

    def _restart(self, r: np.ndarray, s: np.ndarray, cum: np.ndarray, marks: list, restarts: list):
        """Devices r restart at window steps s after maintenance: a fresh bearing, no cooling
        fault, the next planned maintenance scheduled. Returns their new wear offsets."""
        t = self.step + s
        self.wear[r] = self.rng.uniform(0.0, 0.05, r.size)
        offset = self.wear[r] - np.where(s > 0, cum[r, s - 1], 0.0)
        self.cool_onset[r], self.cool_ramp[r] = self._cooling(t)
        self.next_planned[r] = t + self._steps(self.ph.planned_every, r.size)
        for m, v in zip(marks, (r, s, offset, self.cool_onset[r], self.cool_ramp[r])):
            m.append(v)
        for m, v in zip(restarts, (r, t, self.pending[r])):
            m.append(v)
        self.pending[r] = -1
        return offset

    def _regimes(self, w: int) -> np.ndarray:
        """Operating regime per (device, step): changes of load that are not failures."""
        d = self.n
        switch = self.rng.random((d, w)) < 1.0 / (self.ph.regime_dwell * self.hour)
        dev, at = np.nonzero(switch)
        new = self.rng.integers(0, len(REGIME_LOAD), len(dev))
        regime = np.concatenate([self.regime, new])[ffill_ids(d, w, dev, at)]
        self.regime = regime[:, -1].copy()
        return regime

    def _readings(self, steps, regime, wear, sev, down) -> dict[str, np.ndarray]:
        """What the sensors read, noise included, from the latent state (float32: 7 digits suffice)."""
        d, w = wear.shape
        f32 = np.float32
        noise = self.rng.standard_normal((5, d, w), dtype=f32)
        hour = (self.start_s + steps * self.interval_s) % 86400 / 3600.0
        daily = np.sin(2 * np.pi * (hour - 9.0) / 24.0).astype(f32)  # busiest mid-afternoon
        up = ~down
        load = REGIME_LOAD.astype(f32)[regime] + self.swing.astype(f32)[:, None] * daily + 2.0 * noise[0]
        load = np.clip(load, 0.0, 150.0, out=load) * up
        speed = REGIME_RPM.astype(f32)[regime] * (1.0 + 0.01 * noise[1]) * up
        wear = wear.astype(f32) * up
        worn = wear * wear
        worn *= worn  # flat for most of a bearing's life, then a steep rise (a P-F curve)
        sev = sev.astype(f32)
        temperature = (self.t_amb[:, None] + 3.0 * daily).astype(f32) + 6.0 * wear + 0.6 * noise[2]
        temperature += self.k_heat.astype(f32)[:, None] * load * (1.0 + sev)
        shake = speed * (1.0 + 4.0 * worn) + (0.06 + 0.6 * worn) * noise[3]
        vibration = np.abs(self.vib_base.astype(f32)[:, None] * shake)
        pressure = np.where(up, self.p_base.astype(f32)[:, None] + 0.8 * load - 40.0 * sev, f32(101.3))
        pressure += 2.0 * noise[4]
        rpm = np.rint(self.rpm_nom.astype(f32)[:, None] * speed)
        return dict(zip(SENSORS, (temperature, vibration, pressure, rpm, load)))


def pick(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    """Sorted distinct positions in range(n), about rate * n of them."""
    return np.unique(rng.integers(0, n, rng.binomial(n, rate))) if rate > 0 else np.zeros(0, np.int64)


def sensor_faults(values: dict, ranges: dict, may_leave: set, stuck: float, spike: float, rng, carry: list):
    """Clip readings to their ranges, then sensors stuck on one value for a stretch and spikes
    (far off inside the range; outside it, a fifth of the time, for columns in may_leave),
    about `stuck` and `spike` of all readings; in place on (devices, w) arrays. `carry` holds
    the stretches that go on into the next window: (sensor, device, value, steps left)."""
    names = sorted(ranges)
    for name in names:
        np.clip(values[name], *ranges[name], out=values[name])
    d, w = values[names[0]].shape
    count = Counter()
    k = rng.binomial(d * w, stuck / np.mean(STUCK_STEPS))
    stretches = zip(*(rng.integers(0, m, k) for m in (len(names), d, w)), rng.integers(*STUCK_STEPS, k))
    ongoing = [(name, dev, value, 0, left) for name, dev, value, left in carry if name in values]
    carry.clear()
    for name, dev, held, at, length in ongoing + [(names[c], i, None, a, n) for c, i, a, n in stretches]:
        row = values[name][dev]
        value = row[at] if held is None else held
        row[at : at + length] = value
        count["stuck"] += int(min(length, w - at)) - (held is None)  # a new stretch's first is true
        if at + length > w:
            carry.append((name, dev, value, int(at + length - w)))
    spikes = pick(rng, d * w, spike)
    col = rng.integers(0, len(names), spikes.size)
    where, frac = rng.random(spikes.size), rng.random(spikes.size)
    for j, name in enumerate(names):
        lo, hi = ranges[name]
        sel = col == j
        out = (where[sel] < 0.2) & (name in may_leave)
        values[name].reshape(-1)[spikes[sel]] = np.where(
            out, hi + (0.05 + 0.45 * frac[sel]) * (hi - lo), hi - 0.1 * frac[sel] * (hi - lo)
        )
        count["spikes"] += int(sel.sum())
        count["spikes_out_of_range"] += int(out.sum())
    return count


def arrival(n: int, d: int, malformed: float, duplicate: float, late: float, rng):
    """How a feed delivers n readings (d per step, in time order): the order of its lines
    (duplicates re-sent a little later, late readings after up to LATE_STEPS later steps),
    which re-sent copies carry epoch seconds, and the positions of the malformed lines."""
    bad = pick(rng, n, malformed)
    dup = np.setdiff1d(pick(rng, n, duplicate), bad)  # a malformed line is not re-sent
    slow = pick(rng, n, late)
    key = np.arange(n) * 2
    key[slow] += 2 * d * rng.integers(1, LATE_STEPS + 1, slow.size)
    dup_key = 2 * (dup + d * rng.integers(0, 3, dup.size)) + 1
    sort = np.argsort(np.concatenate([key, dup_key]), kind="stable")
    order = np.concatenate([np.arange(n), dup])[sort]
    epoch = np.concatenate([np.zeros(n, bool), rng.random(dup.size) < 0.5])[sort]
    is_bad = np.zeros(n + dup.size, bool)
    is_bad[bad] = True
    count = Counter(malformed=bad.size, duplicates=dup.size, late=slow.size)
    return order, epoch, np.flatnonzero(is_bad[sort]), count
