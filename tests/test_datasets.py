"""Real and generated data: AI4I 2020 and a generated sensors file through both engines."""

import pytest

from conftest import ROOT, SHARED, Output, assert_same, run_clean
from sensorpipe.synth import write_csv

AI4I = SHARED / "ai4i2020.csv"


@pytest.fixture(scope="module")
def ai4i(tmp_path_factory):
    base = tmp_path_factory.mktemp("ai4i")
    outs = {}
    for engine in ("pipe", "hadoop"):
        assert run_clean(engine, ROOT / "conf" / "ai4i.toml", AI4I, base / engine, split_mb=0.1) == 0
        outs[engine] = Output(base / engine)
    return outs


def test_ai4i_hand_checked(ai4i):
    out = ai4i["pipe"]
    assert out.report["rows_in"] == out.report["rows_clean"] == 10000
    st = out.stats
    assert st["output_columns"][:5] == ["udi", "product_id", "type__L", "type__M", "type__H"]
    assert not any(c.startswith(("TWF", "HDF", "PWF", "OSF", "RNF")) for c in st["output_columns"])
    assert st["columns"]["type"]["vocab"] == [["L", 6000], ["M", 2997], ["H", 1003]]
    rpm = st["columns"]["rotational_speed_rpm"]
    assert (rpm["min"], rpm["max"], rpm["q1"], rpm["median"], rpm["q3"]) == (
        1168,
        2886,
        1423.0,
        1503.0,
        1612.0,
    )
    assert rpm["mean"] == pytest.approx(1538.7761, rel=1e-12)
    assert out.report["clipped"]["rotational_speed_rpm"] == 418  # above 1612 + 1.5 * 189 = 1895.5
    first = next(r for r in out.clean if r[0] == "1")
    assert first[:5] == ["1", "M14860", "0", "1", "0"]


def test_ai4i_engines_agree(ai4i):
    assert_same(ai4i["pipe"].clean, ai4i["hadoop"].clean)
    assert_same(ai4i["pipe"].stats, ai4i["hadoop"].stats)


@pytest.mark.slow
def test_generated_sensors_engines_agree(tmp_path):
    src = tmp_path / "sensors.csv"
    write_csv(str(src), 5000, devices=50, seed=3, fault_rate=0.05)
    outs = []
    for engine in ("pipe", "hadoop"):
        assert run_clean(engine, ROOT / "conf" / "sensors.toml", src, tmp_path / engine, split_mb=0.05) == 0
        outs.append(Output(tmp_path / engine))
    pipe, hadoop = outs
    assert pipe.report["rows_in"] == pipe.report["rows_clean"] + pipe.report["rows_rejected"]
    assert pipe.report["rows_rejected"] > 0 and pipe.report["rejected_by_reason"]["duplicate_key"] > 0
    assert pipe.rejects == hadoop.rejects
    assert_same(pipe.clean, hadoop.clean)
    assert_same(pipe.stats, hadoop.stats)
    for key in ("rows_in", "rows_clean", "rejected_by_reason", "imputed", "clipped"):
        assert pipe.report[key] == hadoop.report[key]
