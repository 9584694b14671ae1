"""Alerting chosen for the operator's objective: the model, threshold and episode `quiet`
that catch the most failures within the false-alarm budget ([alerts]
max_false_per_device_day), judged per event (sensorpipe.model.events) on out-of-fold
predictions, the folds grouped by device.

The rule, and why it is stable:
- pooled folds: every training device is scored once, by the fold model that did not see
  it, and all devices are judged together, so the choice rests on every training failure;
- a grid, not the exact curve: thresholds at fixed quantiles of each model's out-of-fold
  probabilities (THRESHOLDS, log-spaced over the top fifth), quiet from QUIETS;
- the most catches within the budget wins, give or take near-ties: settings within
  max(1, TIE_SHARE of the judged failures) catches of the best go to the conservative side,
  the fewest false alerts, then the longer quiet, the higher threshold, the earlier
  candidate. One out-of-fold failure of ~19 is no evidence: with exact ties only, a change
  of features in their last bits (9b80358) turned seed 0's choice from logistic at 0.767
  (held out 9/9, 0.0126 false per device-day) to hgb at 0.092 (9/9, 0.0462) on one more
  out-of-fold catch. With the health indicators' alarm beside the model, near-ties lose no
  held-out catch: bench/events.py --seeds 0 1 2 3 4 5 --tie-shares 0 gives 39/41 at 0.0098
  false per device-day against 39/41 at 0.0217 with exact ties (12-05; before the alarm,
  near-ties had caught 24/41 against 26/41, so 12-03 to 12-05 shipped exact ties);
- fewer than MIN_FAILURES judged failures behind the choice: it is made the same way and
  the card notes it as unstable (simulate a longer history).
No setting within the budget: the budget is raised to the lowest false rate any catching
setting reaches, and the card says so.

The grid is searched with a vectorized form of events.episodes and the event rules
(tests/test_alerting.py holds them together); the figures the card records come from
events.judge_scores itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sensorpipe.core.spec import Alerts, duration_us
from sensorpipe.model.events import judge_scores
from sensorpipe.model.features import WARMING

QUIETS = ("30 minutes", "2 hours", "6 hours")
THRESHOLDS = 80  # grid points per model and quiet
MIN_FAILURES = 10  # judged out-of-fold failures a stable choice needs
TIE_SHARE = 0.05  # near-tie: within max(1, this share of the judged failures) catches; 0: exact ties
HOUR_US = 3_600_000_000


@dataclass(frozen=True)
class Timeline:
    """Scored rows sorted by device then time, as arrays, with the failures judged on them."""

    code: np.ndarray  # device code per row
    t_us: np.ndarray  # event time per row (us)
    failure_keys: np.ndarray  # every failure of these devices, sorted: code * SPAN + time
    judged_keys: np.ndarray  # the judged ones (watched over their whole window)
    device_days: float
    span: int  # key stride per device: larger than any time difference


def timeline(rows: pd.DataFrame, failures: pd.DataFrame, objective: Alerts, device: str, ts: str) -> Timeline:
    """rows: device and time of each scored reading, sorted by device then time."""
    codes, names = pd.factorize(rows[device], sort=False)
    t = rows[ts].to_numpy(dtype="datetime64[us]").astype(np.int64)
    t0 = int(t.min()) if len(t) else 0
    t = t - t0
    w, lead = int(objective.window_hours * HOUR_US), int(objective.min_lead_hours * HOUR_US)
    span = int(t.max()) + 2 * w + 1 if len(t) else 1
    by = pd.Series(np.arange(len(names)), index=names)
    mine = failures[failures[device].isin(names)]
    f_code = by[mine[device]].to_numpy()
    f_t = mine[ts].to_numpy(dtype="datetime64[us]").astype(np.int64) - t0
    first = np.full(len(names), np.iinfo(np.int64).max)
    last = np.full(len(names), np.iinfo(np.int64).min)
    np.minimum.at(first, codes, t)
    np.maximum.at(last, codes, t)
    judged = (first[f_code] <= f_t - w) & (last[f_code] >= f_t - lead)
    keys = f_code * span + f_t + w  # + w: no key is negative
    days = float((last - first).sum()) / (24 * HOUR_US) if len(names) else 0.0
    return Timeline(codes, t, np.sort(keys), np.sort(keys[judged]), days, span)


def alert_flags(
    code: np.ndarray, t_us: np.ndarray, proba: np.ndarray, threshold: float, quiet_us: int, repeat_us=None
):
    """events.episodes over every device at once: True where a reading opens an episode
    (with repeat_us, also where a standing one is raised again)."""
    above = np.flatnonzero(proba >= threshold)
    flags = np.zeros(len(proba), dtype=bool)
    if not len(above):
        return flags
    prev, nxt = above[:-1], above[1:]
    gap = nxt - prev >= 2
    closed = np.zeros(len(nxt), dtype=bool)
    closed[gap] = t_us[nxt[gap] - 1] - t_us[prev[gap] + 1] >= quiet_us
    opens = np.concatenate([[True], (code[nxt] != code[prev]) | closed])
    flags[above[opens]] = True
    if repeat_us:
        _repeats(flags, above, np.flatnonzero(opens), t_us[above], repeat_us)
    return flags


def _repeats(flags, above, starts, ta, repeat_us) -> None:
    """Within each episode (the above-threshold readings above[starts[e]:starts[e + 1]], at
    times ta), flag the first reading repeat_us or more after the last alert, again and again.
    Only episodes that last repeat_us are visited."""
    ends = np.r_[starts[1:], len(above)]
    for e in np.flatnonzero(ta[ends - 1] - ta[starts] >= repeat_us):
        seg = ta[starts[e] : ends[e]]
        k = 0
        while (k := k + int(np.searchsorted(seg[k:], seg[k] + repeat_us, "left"))) < len(seg):
            flags[above[starts[e] + k]] = True


def figures(tl: Timeline, flags: np.ndarray, objective: Alerts) -> tuple[int, int, float]:
    """(caught, false alerts, false per device-day) of the alerts `flags` marks."""
    w, lead = int(objective.window_hours * HOUR_US), int(objective.min_lead_hours * HOUR_US)
    alerts = tl.code[flags] * tl.span + tl.t_us[flags] + w
    lo = np.searchsorted(alerts, tl.judged_keys - w, "left")
    hi = np.searchsorted(alerts, tl.judged_keys - lead, "right")
    caught = int((hi > lo).sum())
    after = np.searchsorted(tl.failure_keys, alerts, "right")
    within = np.searchsorted(tl.failure_keys, alerts + w, "right")
    false = int((within == after).sum())
    return caught, false, false / tl.device_days if tl.device_days > 0 else math.inf


def threshold_grid(proba: np.ndarray, points: int = THRESHOLDS) -> np.ndarray:
    """Quantiles of the probabilities, log-spaced from the top 20% to the top 0.002%."""
    levels = 1.0 - np.geomspace(0.2, 2e-5, points)
    known = proba[~np.isnan(proba)]
    return np.unique(np.quantile(known, levels)) if len(known) else np.array([0.5])


def search(tl: Timeline, oof: dict, objective: Alerts, quiets=QUIETS) -> pd.DataFrame:
    """Every (candidate, quiet, threshold) with its caught, false and false per device-day."""
    rows = []
    for rank, (name, proba) in enumerate(oof.items()):
        for quiet in quiets:
            q = duration_us(quiet)
            for threshold in threshold_grid(proba):
                flags = alert_flags(tl.code, tl.t_us, proba, threshold, q, objective.repeat_us)
                rows.append((rank, name, quiet, q, float(threshold), *figures(tl, flags, objective)))
    columns = ["rank", "model", "quiet", "quiet_us", "threshold", "caught", "false", "false_rate"]
    return pd.DataFrame(rows, columns=columns)


def choose(
    grid: pd.DataFrame, judged: int, budget: float, share: float = TIE_SHARE
) -> tuple[pd.Series, dict]:
    """The chosen row of `search`'s grid, and what the card says about the choice."""
    note = []
    ok = grid[grid["false_rate"] <= budget]
    if ok.empty or ok["caught"].max() == 0:
        catching = grid[grid["caught"] > 0]
        if catching.empty:
            ok = grid
            note.append("no setting catches an out-of-fold failure")
        else:
            best_rate = float(catching["false_rate"].min())
            ok = grid[grid["false_rate"] <= best_rate]
            note.append(f"no setting meets the budget: the lowest false rate that catches is {best_rate:.4f}")
    tie = max(1, math.ceil(share * judged)) if share > 0 else 0
    near = ok[ok["caught"] >= ok["caught"].max() - tie]
    keys = ["false", "quiet_us", "threshold", "rank"]
    chosen = near.sort_values(keys, ascending=[True, False, False, True], kind="stable").iloc[0]
    if judged < MIN_FAILURES:
        note.append(
            f"chosen on {judged} judged out-of-fold failures (fewer than {MIN_FAILURES}): unstable;"
            " simulate a longer history or more devices"
        )
    return chosen, {"tie": tie, "failures_behind": judged, "note": "; ".join(note) or None}


def rule_text(budget: float, quiets=QUIETS) -> str:
    """The choice rule in one sentence for the card."""
    return (
        f"most failures caught out of fold within {budget:g} false alerts per device-day, over"
        f" models x quiet ({', '.join(quiets)}) x {THRESHOLDS} probability quantiles; settings within"
        f" max(1, {TIE_SHARE:.0%} of the judged failures) catches of the most go to the fewest false"
        " alerts, then the longer quiet, the higher threshold"
    )


def choose_alerting(
    whole: pd.DataFrame, oof: dict, baseline: np.ndarray, events, device: str, ts: str, alarm=None
) -> dict:
    """The card's "alerting" block: the objective, the rule, the chosen model, threshold and
    quiet, each candidate's own best setting, and the out-of-fold event figures of the choice
    and of the baseline (at the same quiet). whole: every training reading, sorted by device
    then time; oof: out-of-fold probabilities of its rows per candidate (in preference order);
    baseline: the one-sensor rule's out-of-fold predictions (0 / 1) of its rows. alarm: per
    row, the health indicators reached their alert levels (sensorpipe/model/rule.py): the
    model is chosen on its own, the figures are those of the model OR the alarm, as deployed,
    with the model's alone beside them."""
    objective, budget = events.objective, events.objective.max_false_per_device_day
    rows = whole[[device, ts]]
    if WARMING in whole:  # a warming reading gets no probability in the stream: it never alerts
        warm = whole[WARMING].to_numpy(dtype=bool)
        oof = {n: np.where(warm, np.nan, p) for n, p in oof.items()}
        baseline = np.where(warm, 0, baseline)
    tl = timeline(rows, events.failures, objective, device, ts)
    grid = search(tl, oof, objective)
    judged = len(tl.judged_keys)
    chosen, about = choose(grid, judged, budget)
    each = {}
    for name in oof:
        own, _ = choose(grid[grid["model"] == name], judged, budget)
        each[name] = {
            "threshold": own["threshold"], "quiet": own["quiet"], "caught": int(own["caught"]),
            "false_alerts": int(own["false"]), "false_per_device_day": float(own["false_rate"]),
        }  # fmt: skip
    quiet_us = int(chosen["quiet_us"])

    def judge(proba, threshold):
        scored = rows.assign(probability=proba)
        return judge_scores(
            scored,
            events.failures,
            threshold,
            quiet_us,
            objective.window_hours,
            objective.min_lead_hours,
            device,
            ts,
            repeat_us=objective.repeat_us,
        )

    alone = oof[chosen["model"]]
    deployed = alone if alarm is None else np.where(alarm & ~np.isnan(alone), 1.0, alone)  # NaN: warming
    return {
        "objective": {
            "max_false_per_device_day": budget,
            "window_hours": objective.window_hours,
            "min_lead_hours": objective.min_lead_hours,
            "repeat_hours": objective.repeat_hours,
        },
        "rule": rule_text(budget),
        "model": str(chosen["model"]),
        "threshold": float(chosen["threshold"]),
        "quiet": str(chosen["quiet"]),
        "quiet_hours": quiet_us / HOUR_US,
        **about,
        "candidates": each,
        "out_of_fold_events": judge(deployed, float(chosen["threshold"])),
        **(
            {"model_alone_out_of_fold_events": judge(alone, float(chosen["threshold"]))}
            if alarm is not None
            else {}
        ),
        "baseline_out_of_fold_events": judge(baseline, 0.5),
    }
