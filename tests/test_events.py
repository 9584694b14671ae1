"""Event-level judging (sensorpipe.model.events, DESIGN.md "Judging predictions") on toy
timelines whose caught / missed / lead / false / device-day figures are worked out by hand;
the batch alert episodes against the stream's own function; the [alerts] spec section.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sensorpipe.cli import main as cli
from sensorpipe.core.spec import Alerts, SpecError, parse_spec
from sensorpipe.model import events
from sensorpipe.model.events import (
    Episodes,
    alerts_from_scores,
    episodes,
    event_metrics,
    judge_alerts,
    judge_failures,
    judge_scores,
)

T0 = pd.Timestamp("2026-11-01T00:00:00Z")


def at(hours: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(hours=hours)


def frame(rows, *names) -> pd.DataFrame:
    cols = list(zip(*rows)) if rows else [[]] * len(names)
    out = pd.DataFrame(dict(zip(names, cols)))
    return out.assign(ts=pd.to_datetime([at(h) for h in out["ts"]], utc=True))


def spans(rows) -> pd.DataFrame:
    return pd.DataFrame(
        {"first": [at(a) for _, a, _ in rows], "last": [at(b) for _, _, b in rows]},
        index=pd.Index([d for d, _, _ in rows], name="device_id"),
    )


# W = 72 h, L = 1 h. Times in hours after T0.
# A: monitored 0..400. Failure A1 at 100 (bearing): window [28, 99]; alerts 28 (exactly
#    f - W) and 60 (two alerts, one failure) catch it, lead 100 - 28 = 72; the alert at 99.5
#    is in (f - L, f]: no catch, and not false (A1 follows within W). Failure A2 at 300
#    (cooling): no alert in [228, 299]: missed. The alert at 120, after A1: the next failure,
#    A2 at 300, is 180 h later (> W): false.
# B: monitored 50..200. Failure B1 at 100 (bearing): watched from 50 > 100 - 72 = 28, less
#    than W before it: unjudged (its alert at 90 is no catch, and not false: B1 follows).
#    Failure B2 at 180 (cooling): window [108, 179]; alert 170: caught, lead 10. The alert at
#    190: no failure after it: false, and its window (to 262) runs past B's last reading
#    (200): false_open.
# C: monitored 0..240, no failures; alerts at 10 and 100: both false, neither open.
# X: a failure at 50 of a device never scored: unjudged.
FAILURES = [
    ("A", 100, "bearing"), ("B", 100, "bearing"), ("X", 50, "bearing"),
    ("B", 180, "cooling"), ("A", 300, "cooling"),
]  # fmt: skip
ALERTS = [
    ("A", 28),
    ("A", 60),
    ("A", 99.5),
    ("A", 120),
    ("B", 90),
    ("B", 170),
    ("B", 190),
    ("C", 10),
    ("C", 100),
]
SPANS = [("A", 0, 400), ("B", 50, 200), ("C", 0, 240)]


def toy():
    return frame(ALERTS, "device_id", "ts"), frame(FAILURES, "device_id", "ts", "mode"), spans(SPANS)


def test_toy_timeline_per_failure():
    alerts, failures, monitored = toy()
    got = judge_failures(failures, alerts, monitored)
    assert got["judged"].tolist() == [True, False, False, True, True]
    assert got["caught"].tolist() == [True, False, False, True, False]
    assert got["lead_hours"].tolist()[0] == 72.0 and got["lead_hours"].tolist()[3] == 10.0
    assert got["lead_hours"].isna().tolist() == [False, True, True, False, True]
    assert got["first_alert"].tolist()[0] == at(28)


def test_toy_timeline_per_alert():
    alerts, failures, monitored = toy()
    got = judge_alerts(alerts, failures, monitored)
    #                            A28    A60    A99.5  A120  B90    B170   B190  C10   C100
    assert got["false"].tolist() == [False, False, False, True, False, False, True, True, True]
    # open: the window runs past the last reading: B170 (242 > 200) and B190 (262 > 200)
    assert got["open"].tolist() == [False, False, False, False, False, True, True, False, False]


def test_toy_timeline_figures():
    alerts, failures, monitored = toy()
    m = event_metrics(alerts, failures, monitored)
    assert (m["failures"], m["judged"], m["unjudged"], m["caught"], m["missed"]) == (5, 3, 2, 2, 1)
    assert m["by_mode"] == {"bearing": {"caught": 1, "missed": 0}, "cooling": {"caught": 1, "missed": 1}}
    assert m["lead_median_hours"] == 41.0  # of 72 and 10
    assert m["lead_p10_hours"] == pytest.approx(16.2)  # 10 + 0.1 * (72 - 10)
    assert (m["alerts"], m["false_alerts"], m["false_open"]) == (9, 4, 1)
    assert m["device_days"] == pytest.approx(790 / 24)  # 400 + 150 + 240 hours
    assert m["false_per_device_day"] == pytest.approx(4 / (790 / 24))


def test_window_edges():
    # One failure at 100 on a device monitored 0..200, W = 72, L = 1, one alert at a time.
    failures, monitored = frame([("A", 100, "bearing")], "device_id", "ts", "mode"), spans([("A", 0, 200)])

    def one(hour):
        alerts = frame([("A", hour)], "device_id", "ts")
        f = judge_failures(failures, alerts, monitored).iloc[0]
        return bool(f["caught"]), f["lead_hours"], bool(judge_alerts(alerts, failures, monitored)["false"][0])

    assert one(99) == (True, 1.0, False)  # exactly f - L: caught with the least lead
    assert one(28)[:2] == (True, 72.0)  # exactly f - W
    caught, _, false = one(28 - 1 / 3600)  # a second before f - W: no catch, and false
    assert (caught, false) == (False, True)
    caught, _, false = one(99.5)  # too late, not false
    assert (caught, false) == (False, False)
    caught, _, false = one(100)  # at the failure itself: nothing follows it
    assert (caught, false) == (False, True)


def test_judged_only_when_the_catching_window_was_watched():
    failures = frame([("A", 100, "bearing")], "device_id", "ts", "mode")
    alerts = frame([], "device_id", "ts")

    def judged(first, last):
        return bool(judge_failures(failures, alerts, spans([("A", first, last)]))["judged"][0])

    assert judged(28, 99) and not judged(28.5, 200) and not judged(0, 98.5)


def test_no_failures_no_alerts():
    m = event_metrics(
        frame([], "device_id", "ts"), frame([], "device_id", "ts", "mode"), spans([("A", 0, 48)])
    )
    assert (m["failures"], m["judged"], m["caught"], m["alerts"], m["false_alerts"]) == (0, 0, 0, 0, 0)
    assert m["by_mode"] == {} and m["lead_median_hours"] is None and m["false_per_device_day"] == 0.0
    assert m["device_days"] == 2.0


def test_other_windows():
    # W = 24, L = 2 on the toy: A1's window [76, 98]: alerts 28, 60 no longer catch it, and
    # A1 at 100 is judged (0 <= 76) but missed; B2's window [156, 178]: 170 catches, lead 10;
    # B1 (monitored from 50 <= 76) is now judged: its alert 90 is in [76, 98]: caught, lead 10.
    alerts, failures, monitored = toy()
    m = event_metrics(alerts, failures, monitored, window_hours=24, min_lead_hours=2)
    assert (m["judged"], m["caught"], m["missed"]) == (4, 2, 2)
    assert m["lead_median_hours"] == 10.0
    # false within 24 h: A28, A60, A120, B190, C10, C100 (A99.5 and B90 precede a failure at 100,
    # B170 the one at 180)
    assert m["false_alerts"] == 6


# The stream's alert episodes, on one device read every 10 minutes, threshold 0.5:
#   minute  0   10  20  30  40  50  60  70  80  90  100
#   p      .2  .6  .4  .7  .3  .3  .3  .2  .9  .1  .8
# quiet 30 min: opens at 10; below from 20, above at 30 (below forgotten); below from 40,
# 70 - 40 = 30 >= quiet closes it at 70; opens at 80; below at 90 but 100 is above: alerts
# at 10 and 80. quiet 0: every reading below closes the episode: alerts at 10, 30, 80, 100.
MINUTES = np.arange(0, 110, 10)
PROBA = np.array([0.2, 0.6, 0.4, 0.7, 0.3, 0.3, 0.3, 0.2, 0.9, 0.1, 0.8])


@pytest.mark.parametrize("quiet_min, expected", [(30, [10, 80]), (0, [10, 30, 80, 100])])
def test_batch_alerts_are_the_streams(quiet_min, expected):
    quiet_us, t = quiet_min * 60_000_000, MINUTES * 60_000_000
    for fn, state in ((episodes, Episodes), (events.episodes, events.Episodes)):
        alert, number, _ = fn(t, PROBA, 0.5, quiet_us, state())
        assert MINUTES[alert].tolist() == expected
        assert number.tolist() == np.cumsum(alert).tolist()
        first, _, mid = fn(t[:6], PROBA[:6], 0.5, quiet_us, state())  # two batches, state carried
        second, _, _ = fn(t[6:], PROBA[6:], 0.5, quiet_us, mid)
        assert np.concatenate([first, second]).tolist() == alert.tolist()
    ts = [T0 + pd.Timedelta(minutes=int(m)) for m in MINUTES]
    other = [T0 + pd.Timedelta(minutes=int(m)) for m in (0, 10)]  # a second device, interleaved
    scored = pd.DataFrame(
        {"device_id": ["b"] * 2 + ["a"] * 11, "ts": other + ts, "probability": [0.9, 0.1, *PROBA]}
    ).sample(frac=1.0, random_state=1)
    got = alerts_from_scores(scored, 0.5, quiet_us)
    want = [("a", T0 + pd.Timedelta(minutes=m)) for m in expected] + [("b", T0)]
    assert list(zip(got["device_id"], got["ts"])) == want


def test_judge_scores_from_readings_to_figures():
    # Hourly readings 0..100 h of a and b. a: 0.9 at 50 and 51 (one episode: alert at 50),
    # fails at 80: watched from 0 <= 8, to 100 >= 79: judged, caught, lead 30. b: 0.9 at 10,
    # never fails: a false alert. z fails but was never scored: left out. 200 h = 8.33 days.
    hours = np.arange(101)
    proba = {"a": np.where((hours == 50) | (hours == 51), 0.9, 0.1), "b": np.where(hours == 10, 0.9, 0.1)}
    scored = pd.concat(
        pd.DataFrame({"device_id": d, "ts": [at(h) for h in hours], "probability": p})
        for d, p in proba.items()
    )
    failures = frame([("a", 80, "cooling"), ("z", 80, "bearing")], "device_id", "ts", "mode")
    m = judge_scores(scored, failures, 0.5, 30 * 60_000_000)
    assert (m["failures"], m["judged"], m["caught"], m["lead_median_hours"]) == (1, 1, 1, 30.0)
    assert (m["alerts"], m["false_alerts"]) == (2, 1) and m["by_mode"] == {
        "cooling": {"caught": 1, "missed": 0}
    }
    assert m["false_per_device_day"] == pytest.approx(1 / (200 / 24))
    assert (m["threshold"], m["quiet_hours"]) == (0.5, 0.5)


def test_alerts_section_defaults_and_values():
    base = {"dataset": {"name": "x"}, "columns": [{"name": "a", "type": "int"}]}
    assert parse_spec(base).alerts == Alerts(72.0, 1.0, 0.02)
    doc = base | {"alerts": {"window_hours": 48, "min_lead_hours": 0, "max_false_per_device_day": 0.1}}
    assert parse_spec(doc).alerts == Alerts(48.0, 0.0, 0.1)
    assert parse_spec(doc).alerts.repeat_us is None
    doc["alerts"]["repeat_hours"] = 1.5
    assert parse_spec(doc).alerts.repeat_us == 5_400_000_000


@pytest.mark.parametrize(
    "alerts, key",
    [
        ({"window_hours": -1}, "alerts.window_hours"),
        ({"min_lead_hours": "1h"}, "alerts.min_lead_hours"),
        ({"max_false_per_device_day": True}, "alerts.max_false_per_device_day"),
        ({"window_hours": 1, "min_lead_hours": 1}, "alerts.window_hours"),
        ({"quiet": 6}, "alerts.quiet"),
        ({"repeat_hours": 0}, "alerts.repeat_hours"),
        ({"repeat_hours": "2 days"}, "alerts.repeat_hours"),
    ],
)
def test_alerts_section_errors_name_the_key(alerts, key):
    doc = {"dataset": {"name": "x"}, "columns": [{"name": "a", "type": "int"}], "alerts": alerts}
    with pytest.raises(SpecError) as err:
        parse_spec(doc, "conf/x.toml")
    assert err.value.key == key and str(err.value).startswith("conf/x.toml: " + key)


def test_bad_alerts_section_exits_2(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text(
        '[dataset]\nname = "x"\n[[columns]]\nname = "a"\ntype = "int"\n[alerts]\nwindow_hours = 0\n'
    )
    assert cli(["validate-spec", str(spec)]) == 2
    assert f"{spec}: alerts.window_hours" in capsys.readouterr().err
