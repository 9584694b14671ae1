"""Alerting chosen for the operator's objective (sensorpipe/model/alerting.py): the vectorized
episodes and event counts against hand-worked timelines and against sensorpipe.model.events,
the choice rule on a hand-made grid, and the stream's quiet precedence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sensorpipe.core.spec import Alerts, StreamConfig
from sensorpipe.model.alerting import alert_flags, choose, figures, threshold_grid, timeline
from sensorpipe.model.events import Episodes, episodes, judge_scores

MIN = 60_000_000
HOUR = 60 * MIN
OBJECTIVE = Alerts(window_hours=72.0, min_lead_hours=1.0, max_false_per_device_day=0.02)


def test_alert_flags_open_an_episode_per_device_and_after_quiet():
    # device 0 readings every 10 min: above at 0, 10; below 20..50; above 60 (below 40 min
    # since 20: quiet 30 min has passed -> a new episode); above 70 (still open).
    # device 1: above at its first reading -> its own episode though device 0 was open.
    code = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1])
    t = np.array([0, 10, 20, 30, 40, 50, 60, 70, 0]) * MIN
    p = np.array([0.9, 0.8, 0.1, 0.1, 0.1, 0.1, 0.95, 0.9, 0.7])
    assert alert_flags(code, t, p, 0.5, 30 * MIN).tolist() == [1, 0, 0, 0, 0, 0, 1, 0, 1]
    # quiet 45 min: the last below reading (50) is 30 min after the first (20): still open
    assert alert_flags(code, t, p, 0.5, 45 * MIN).tolist() == [1, 0, 0, 0, 0, 0, 0, 0, 1]
    # NaN (a warming reading) never alerts
    assert not alert_flags(code[:1], t[:1], np.array([np.nan]), 0.5, 0).any()


@pytest.mark.parametrize("repeat", [None, 30 * MIN, 3 * HOUR])
def test_alert_flags_equal_the_streams_episodes_on_random_series(repeat):
    rng = np.random.default_rng(4)
    for quiet in (0, 10 * MIN, 2 * HOUR):
        code = np.repeat(np.arange(5), 400)
        t = np.tile(np.cumsum(rng.integers(1, 20, 400)) * MIN, 5)
        p = rng.uniform(0, 1, len(code)) ** (3 if repeat is None else 0.3)  # long episodes to repeat
        want = np.concatenate(
            [episodes(t[code == c], p[code == c], 0.4, quiet, Episodes(), repeat)[0] for c in range(5)]
        )
        got = alert_flags(code, t, p, 0.4, quiet, repeat)
        assert np.array_equal(got, want)
        if repeat:
            assert got.sum() > np.sum(alert_flags(code, t, p, 0.4, quiet)) + 10  # reminders were raised


def test_alert_flags_repeat_a_standing_alarm_by_hand():
    # one device above the threshold every 10 min for 100 min, repeat 25 min: alerts at 0,
    # 30 (the first reading 25 min after 0), 60, 90
    t = np.arange(11) * 10 * MIN
    flags = alert_flags(np.zeros(11, int), t, np.full(11, 0.9), 0.5, 5 * MIN, 25 * MIN)
    assert (t[flags] // MIN).tolist() == [0, 30, 60, 90]


def _toy():
    """Devices A and B read hourly for 10 days (2026-11-01 .. 11-11). A fails 11-06 12:00,
    B 11-07 00:00; C would fail 11-02 00:00 but C has no readings (left out)."""
    ts = pd.date_range("2026-11-01", "2026-11-11", freq="1h", tz="UTC")
    rows = pd.concat([pd.DataFrame({"device_id": d, "ts": ts}) for d in ("A", "B")], ignore_index=True)
    failures = pd.DataFrame(
        {
            "device_id": ["A", "B", "C"],
            "ts": pd.to_datetime(["2026-11-06T12:00Z", "2026-11-07T00:00Z", "2026-11-02T00:00Z"], utc=True),
            "mode": ["cooling", "bearing", "cooling"],
        }
    )
    return rows, failures


def test_figures_count_caught_and_false_alerts_by_hand():
    rows, failures = _toy()
    p = np.zeros(len(rows))
    at = rows.set_index(["device_id", "ts"]).index
    # A: 11-06 07:00 (5 h before its failure: caught); B: 11-02 12:00 (4.5 days before its
    # failure: false, and B is missed) and 11-06 23:30 does not exist (hourly): 11-06 23:00 is
    # 1 h before B's failure: at the window's edge min_lead 1 h, so caught.
    for d, when in (("A", "2026-11-06T07:00Z"), ("B", "2026-11-02T12:00Z"), ("B", "2026-11-06T23:00Z")):
        p[at.get_loc((d, pd.Timestamp(when)))] = 0.9
    tl = timeline(rows, failures, OBJECTIVE, "device_id", "ts")
    assert len(tl.judged_keys) == 2 and tl.device_days == 20.0
    flags = alert_flags(tl.code, tl.t_us, p, 0.5, 30 * MIN)
    assert figures(tl, flags, OBJECTIVE) == (2, 1, 0.05)  # 1 false in 20 device-days
    e = judge_scores(rows.assign(probability=p), failures, 0.5, 30 * MIN, 72.0, 1.0)
    assert (e["caught"], e["judged"], e["false_alerts"], e["lead_median_hours"]) == (2, 2, 1, 3.0)


def test_figures_equal_judge_scores_on_a_random_fleet():
    rng = np.random.default_rng(7)
    ts = pd.date_range("2026-11-01", periods=24 * 20, freq="1h", tz="UTC")
    rows = pd.concat([pd.DataFrame({"device_id": f"d{i}", "ts": ts}) for i in range(6)], ignore_index=True)
    fail_at = ts[0] + pd.to_timedelta(rng.uniform(24, 24 * 20, 12), unit="h")
    failures = pd.DataFrame({"device_id": [f"d{i % 6}" for i in range(12)], "ts": fail_at.round("1min")})
    failures["mode"] = "cooling"
    p = rng.uniform(0, 1, len(rows)) ** 8
    tl = timeline(rows, failures, OBJECTIVE, "device_id", "ts")
    for threshold, quiet in ((0.3, 30 * MIN), (0.6, 6 * HOUR)):
        caught, false, rate = figures(tl, alert_flags(tl.code, tl.t_us, p, threshold, quiet), OBJECTIVE)
        e = judge_scores(rows.assign(probability=p), failures, threshold, quiet, 72.0, 1.0)
        assert (caught, false) == (e["caught"], e["false_alerts"]) and rate == e["false_per_device_day"]


def _grid(rows):
    cols = ["rank", "model", "quiet", "quiet_us", "threshold", "caught", "false", "false_rate"]
    return pd.DataFrame(rows, columns=cols)


def test_choice_is_the_most_catches_within_the_budget_near_ties_to_the_fewest_false():
    grid = _grid(
        [
            (0, "logistic", "30 minutes", 30 * MIN, 0.5, 15, 30, 0.030),  # over the budget
            (0, "logistic", "30 minutes", 30 * MIN, 0.6, 14, 12, 0.012),  # 14: the most within
            (0, "logistic", "6 hours", 6 * HOUR, 0.6, 14, 9, 0.009),  # 14 too, fewer false: chosen
            (1, "hgb", "6 hours", 6 * HOUR, 0.7, 13, 5, 0.005),  # 1 catch fewer: not a tie any more
            (1, "hgb", "6 hours", 6 * HOUR, 0.9, 11, 2, 0.002),
        ]
    )
    # the rule, share 5%: tie = max(1, 5% of 20) = 1, so hgb's 13 is a near-tie of the best 14
    # within the budget, and its 5 false alerts win
    chosen, about = choose(grid, judged=20, budget=0.02)
    assert (chosen["model"], chosen["threshold"], chosen["quiet"]) == ("hgb", 0.7, "6 hours")
    assert about == {"tie": 1, "failures_behind": 20, "note": None}
    # 40 judged: tie = 2, so hgb's 11 is still out
    assert choose(grid, judged=40, budget=0.02)[1]["tie"] == 2
    # exact ties only (share 0): the most catches, 14, then the fewest false of those
    chosen, about = choose(grid, judged=20, budget=0.02, share=0)
    assert (chosen["model"], chosen["threshold"], chosen["quiet"]) == ("logistic", 0.6, "6 hours")
    assert about["tie"] == 0


def test_exact_ties_go_to_the_longer_quiet_then_the_higher_threshold_then_the_earlier_model():
    grid = _grid(
        [
            (0, "logistic", "2 hours", 2 * HOUR, 0.8, 7, 4, 0.004),
            (1, "hgb", "6 hours", 6 * HOUR, 0.6, 7, 4, 0.004),  # same false, longer quiet
            (0, "logistic", "6 hours", 6 * HOUR, 0.7, 7, 4, 0.004),  # and a higher threshold
            (1, "hgb", "6 hours", 6 * HOUR, 0.7, 7, 4, 0.004),  # the same but a later model
            (1, "hgb", "6 hours", 6 * HOUR, 0.9, 6, 1, 0.001),  # 1 catch fewer: out with share 0
        ]
    )
    chosen, _ = choose(grid, judged=12, budget=0.02, share=0)
    assert (chosen["model"], chosen["threshold"], chosen["quiet"]) == ("logistic", 0.7, "6 hours")


def test_choice_notes_too_few_failures_and_a_budget_it_cannot_meet():
    grid = _grid(
        [
            (0, "logistic", "2 hours", 2 * HOUR, 0.5, 3, 9, 0.09),
            (0, "logistic", "2 hours", 2 * HOUR, 0.8, 2, 4, 0.04),
            (0, "logistic", "2 hours", 2 * HOUR, 0.95, 0, 1, 0.01),
        ]
    )
    chosen, about = choose(grid, judged=4, budget=0.02)
    assert chosen["threshold"] == 0.8  # the lowest false rate of a setting that catches: 0.04
    assert about["note"] == (
        "no setting meets the budget: the lowest false rate that catches is 0.0400; chosen on 4 judged"
        " out-of-fold failures (fewer than 10): unstable; simulate a longer history or more devices"
    )


def test_threshold_grid_ignores_warming_readings():
    p = np.array([np.nan, 0.1, 0.2, 0.3, 0.4])
    grid = threshold_grid(p, points=3)
    assert not np.isnan(grid).any() and 0.1 <= grid.min() and grid.max() <= 0.4


def test_stream_takes_the_cards_quiet_unless_the_spec_sets_one():
    from streaming.score_stream import quiet_us  # noqa: PLC0415

    card = {"alerting": {"quiet": "6 hours"}}
    assert quiet_us(StreamConfig(), card) == 6 * HOUR
    assert quiet_us(StreamConfig(quiet="45 minutes"), card) == 45 * MIN
    assert quiet_us(StreamConfig(), {}) == 30 * MIN  # no choice in the card: the default
