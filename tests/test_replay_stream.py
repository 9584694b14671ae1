"""C-MAPSS test engines replayed as a live feed: the stream's probability at each engine's
last cycle equals `sensorpipe evaluate`'s (the batch path), and so does the alert state.

The model is trained on train_FD001 with a quick tmp copy of conf/cmapss.toml (logistic
only, 3 folds); the replay (sensorpipe.sim.replay.ReplayStream) lands test_FD001 as JSON-line
files and the job runs once with --available-now through spark-submit.
"""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pandas as pd
import pytest

from harness.paths import ROOT, SHARED
from sensorpipe.cli import main as cli
from sensorpipe.core.spec import load_spec
from sensorpipe.sim.landing import Landing
from sensorpipe.sim.replay import ReplayStream
from sensorpipe.spark.launch import spark_env, spark_submit_command

CMAPSS = SHARED / "cmapss"
SPEC = ROOT / "conf" / "cmapss.toml"
pytestmark = pytest.mark.skipif(not (CMAPSS / "test_FD001.txt").is_file(), reason="no C-MAPSS data")


def quick_spec(tmp_path):
    text = SPEC.read_text()
    text = re.sub(r"(?m)^candidates = .*$", 'candidates = ["logistic"]', text)
    text = re.sub(r"(?m)^folds = .*$", "folds = 3", text)
    path = tmp_path / "cmapss-quick.toml"
    path.write_text(text)
    return path


@pytest.mark.slow
def test_replayed_engines_score_as_the_batch_evaluation(tmp_path):
    model, evaluation = tmp_path / "model", tmp_path / "evaluation"
    train = ["train", "--spec", str(quick_spec(tmp_path)), "--input", str(CMAPSS / "train_FD001.txt")]
    assert cli([*train, "--model", str(model), "--threads", "1"]) == 0
    test, truth = CMAPSS / "test_FD001.txt", CMAPSS / "RUL_FD001.txt"
    evaluate = ["evaluate", "--spec", str(SPEC), "--model", str(model), "--input", str(test)]
    assert cli([*evaluate, "--truth", str(truth), "--output", str(evaluation)]) == 0
    batch = pd.read_csv(evaluation / "predictions.csv").set_index("device")

    replay, landing = ReplayStream(load_spec(SPEC), test), tmp_path / "landing"
    inbox = Landing(landing)
    while not replay.done:
        inbox.put(replay.take(2000))
    out = tmp_path / "out"
    job = ["--spec", str(SPEC), "--model", str(model), "--input", str(landing), "--output", str(out)]
    cmd = spark_submit_command("streaming/score_stream.py", [*job, "--available-now"], "local[2]")
    run = subprocess.run(
        cmd,
        check=False,
        env=spark_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,  # under pytest-timeout's 900 s for the whole test (training included)
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]

    scored = pd.read_parquet(out / "scored") if any((out / "scored").glob("*.parquet")) else pd.DataFrame()
    assert len(scored), f"the stream scored nothing:\n{run.stderr[-2000:]}"
    last = scored.sort_values(["unit", "cycle"]).groupby("unit").tail(1).set_index("unit")
    assert sorted(last.index) == sorted(batch.index), "an engine's readings were not all released"
    cycles = pd.read_csv(test, sep=r"\s+", header=None, usecols=[0, 1]).groupby(0)[1].max()
    assert (last["cycle"] == cycles.loc[last.index]).all(), "an engine's last cycle is missing"
    np.testing.assert_allclose(last["probability"], batch.loc[last.index, "probability"], rtol=1e-9)

    alerts = pd.read_parquet(out / "alerts") if any((out / "alerts").glob("*.parquet")) else pd.DataFrame()
    threshold = float(pd.read_json(evaluation / "metrics.json", typ="series")["threshold"])
    on = last["probability"] >= threshold
    assert (on.astype(int) == batch.loc[last.index, "predicted"]).all()
    alerted = set(alerts["unit"]) if len(alerts) else set()
    assert set(last.index[on]) <= alerted, (
        "an engine above the threshold at its last cycle has no alert episode"
    )


def test_replay_truth_holds_each_engines_failure_from_the_rul(tmp_path, capsys):
    """Engine 1's last test cycle is 31 and RUL_FD001's first line 112: it fails at cycle 143;
    engine 100's last is 198, RUL 20: 218. RUL_FD001.txt is found beside test_FD001.txt."""
    landing = tmp_path / "landing"
    argv = ["simulate", "--replay", str(CMAPSS / "test_FD001.txt"), "--spec", str(SPEC), "--rate", "100000"]
    assert cli([*argv, "--stream", str(landing)]) == 0
    lines = (landing / "_truth" / "failures.csv").read_text().splitlines()
    assert lines[0] == "unit,cycle,mode" and len(lines) == 101
    rows = {int(u): (int(c), m) for u, c, m in (x.split(",") for x in lines[1:])}
    assert sorted(rows) == list(range(1, 101))
    assert rows[1] == (143, "failure") and rows[100] == (218, "failure")
    assert (landing / "_truth" / "maintenance.csv").read_text() == "unit,cycle,kind\n"
    short = tmp_path / "RUL_short.txt"
    short.write_text("112\n98\n")
    capsys.readouterr()
    assert cli([*argv, "--stream", str(tmp_path / "other"), "--rul", str(short)]) == 2
    assert f"{short}: 2 lines for 100" in capsys.readouterr().err
