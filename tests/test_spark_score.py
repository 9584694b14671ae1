"""jobs/score.py on warming readings: a device's first [features] warmup - 1 readings get a null
probability and no alert (as in the stream and `sensorpipe evaluate`); the others get the
pandas scorer's probability."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from sensorpipe.model.classifier import ModelConfig, score, train
from sensorpipe.model.features import FeatureConfig, with_features, without_warming
from sensorpipe.model.labels import with_labels
from sensorpipe.model.registry import save_model

# windows 3 and 5, warmup 4: readings 1, 2 and 3 of each device are warming
CONFIG = FeatureConfig("unit", "cycle", ("a", "b"), (3, 5), warmup=4)


def readings(unit: int, cycles: int, rng) -> pd.DataFrame:
    cycle = np.arange(1, cycles + 1)
    wear = np.maximum(0, 15 - (cycles - cycle))  # drifts over its last 15 cycles
    return pd.DataFrame(
        {
            "unit": unit,
            "cycle": cycle,
            "a": 100 + 0.5 * wear + rng.normal(0, 0.3, cycles),
            "b": 20 - 0.2 * wear + rng.normal(0, 0.1, cycles),
        }
    )


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    rng = np.random.default_rng(4)
    raw = pd.concat([readings(u, 40 + 2 * u, rng) for u in range(1, 7)], ignore_index=True)
    frame = with_labels(without_warming(with_features(raw, CONFIG)), CONFIG, 10)
    with threadpool_limits(limits=1):
        result = train(frame, CONFIG, ModelConfig(candidates=("logistic",), folds=3))
    where = tmp_path_factory.mktemp("score") / "models"
    save_model(result.model, where, {"note": "test_spark_score"})
    return where, result.model


def test_warming_readings_get_a_null_probability(spark, registry):
    from jobs.score import with_scores  # noqa: PLC0415

    where, model = registry
    rng = np.random.default_rng(9)
    raw = pd.concat([readings(1, 6, rng), readings(2, 2, rng)], ignore_index=True)
    got = (
        spark.createDataFrame(raw)
        .transform(with_scores(where))
        .toPandas()
        .sort_values(["unit", "cycle"])
        .reset_index(drop=True)
    )
    assert got[["unit", "cycle"]].values.tolist() == [[1, c] for c in range(1, 7)] + [[2, 1], [2, 2]]
    null = got["probability"].isna().tolist()
    # unit 1: cycles 1-3 warming, 4-6 scored; unit 2: both readings warming
    assert null == [True, True, True, False, False, False, True, True]
    assert not got["alert"][got["probability"].isna()].any()
    # the scored rows: the pandas scorer's probabilities on the same series
    want = score(raw[raw["unit"] == 1], model).to_numpy()[3:]
    np.testing.assert_allclose(got["probability"].to_numpy()[3:6], want, rtol=1e-9, atol=1e-12)
    assert (got["alert"][3:6] == (want >= model.threshold)).all()
