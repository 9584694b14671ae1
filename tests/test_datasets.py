"""Real and generated data: AI4I 2020 and a generated sensors file through both engines."""

import pytest

from conftest import ROOT, SHARED, Output, assert_same, run_clean
from sensorpipe.sim.synth import write_csv

AI4I = SHARED / "ai4i2020.csv"


def spark_clean(spark, spec, source, out) -> Output:
    from jobs.clean import clean  # noqa: PLC0415

    clean(spark, str(spec), str(source), str(out), fmt="csv")
    return Output(out)


@pytest.fixture(scope="module")
def ai4i(tmp_path_factory, spark):
    base = tmp_path_factory.mktemp("ai4i")
    outs = {}
    for engine in ("pipe", "hadoop"):
        assert run_clean(engine, ROOT / "conf" / "ai4i.toml", AI4I, base / engine, split_mb=0.1) == 0
        outs[engine] = Output(base / engine)
    outs["spark"] = spark_clean(spark, ROOT / "conf" / "ai4i.toml", AI4I, base / "spark")
    return outs


@pytest.mark.parametrize("engine", ["pipe", "hadoop", "spark"])
def test_ai4i_hand_checked(ai4i, engine):
    out = ai4i[engine]
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


@pytest.mark.parametrize("engine", ["hadoop", "spark"])
def test_ai4i_engines_agree(ai4i, engine):
    assert_same(ai4i["pipe"].clean, ai4i[engine].clean)
    assert_same(ai4i["pipe"].stats, ai4i[engine].stats)
    for key in ("rows_in", "rows_clean", "rejected_by_reason", "imputed", "clipped"):
        assert ai4i["pipe"].report[key] == ai4i[engine].report[key]


@pytest.mark.slow
def test_generated_sensors_engines_agree(tmp_path, spark):
    src = tmp_path / "sensors.csv"
    write_csv(str(src), 5000, devices=50, seed=3, fault_rate=0.05)
    spec = ROOT / "conf" / "sensors.toml"
    outs = []
    for engine in ("pipe", "hadoop"):
        assert run_clean(engine, spec, src, tmp_path / engine, split_mb=0.05) == 0
        outs.append(Output(tmp_path / engine))
    outs.append(spark_clean(spark, spec, src, tmp_path / "spark"))
    pipe = outs[0]
    assert pipe.report["rows_in"] == pipe.report["rows_clean"] + pipe.report["rows_rejected"]
    assert all(n > 0 for n in pipe.report["rejected_by_reason"].values())
    for other in outs[1:]:
        assert pipe.rejects == other.rejects
        assert_same(pipe.clean, other.clean)
        assert_same(pipe.stats, other.stats)
        for key in ("rows_in", "rows_clean", "rejected_by_reason", "imputed", "clipped"):
            assert pipe.report[key] == other.report[key]


@pytest.mark.slow
def test_cmapss_whitespace_no_header_engines_agree(tmp_path, spark):
    """C-MAPSS test_FD001: whitespace-delimited, no header, near-constant sensors."""
    src = SHARED / "cmapss" / "test_FD001.txt"
    spec = ROOT / "conf" / "cmapss.toml"
    assert run_clean("pipe", spec, src, tmp_path / "pipe", split_mb=0.5) == 0
    pipe, sp = Output(tmp_path / "pipe"), spark_clean(spark, spec, src, tmp_path / "spark")
    assert pipe.report["rows_in"] == pipe.report["rows_clean"] == 13096
    s6 = pipe.stats["columns"]["s6"]
    # exact mean and population std of s6 (21.6 +- 0.002), computed with fractions
    assert s6["mean"] == pytest.approx(21.609700671960905, rel=1e-15)
    assert s6["std"] == pytest.approx(0.0017040196935390493, rel=1e-12)
    assert pipe.stats["columns"]["s1"]["std"] == 0.0 and {r[5] for r in pipe.clean} == {"0.0"}
    assert_same(pipe.stats, sp.stats)
    assert_same(pipe.clean, sp.clean)  # z-scores of s6 amplify any error in its mean
