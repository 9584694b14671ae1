"""The hand-made messy corpus through each engine, against counts and values written by hand.

tests/data/messy/a_messy.csv annotates nothing itself; the line-by-line expectation is here:
  clean:            2 4 5 6 7 8 9 12 24 29 30 31 of a_messy.csv, 3 of b_more.csv
  malformed_row:    14 (too few) 15 (too many) 16 (not UTF-8) 25 26 (bad quoting)
  missing_required: 19 20 23
  invalid_value:    10 11 13 21 22
  duplicate_key:    3 27 28 of a_messy.csv, 2 of b_more.csv (first seen in a_messy.csv)
  ignored:          1 (header) 17 18 (blank); c_empty.csv; d_header_only.csv
"""

import pytest

from conftest import DATA, Output, assert_same, run_clean
from mapreduce import hadoop

SPEC = DATA / "messy.toml"
A, B = str(DATA / "messy" / "a_messy.csv"), str(DATA / "messy" / "b_more.csv")
EXPECTED_REJECTS = sorted(
    [(A, n, "malformed_row") for n in (14, 15, 16, 25, 26)]
    + [(A, n, "missing_required") for n in (19, 20, 23)]
    + [(A, n, "invalid_value") for n in (10, 11, 13, 21, 22)]
    + [(A, n, "duplicate_key") for n in (3, 27, 28)]
    + [(B, 2, "duplicate_key")]
)
TEMP_MEAN = 181.5 / 7  # 20.5 22.5 23.5 27 28 29 31
# A Hadoop job client that logs warnings only, as many clusters' clients do: no counters in
# its log, so every figure of the report has to come from what the passes wrote.
CLIENT_AT_WARN = """status = error
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %p %c{1}: %m%n
rootLogger.level = warn
rootLogger.appenderRef.console.ref = console
"""


@pytest.fixture(scope="module")
def pipe_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("messy") / "pipe"
    assert run_clean("pipe", SPEC, DATA / "messy", out) == 0
    return Output(out)


@pytest.fixture(scope="module")
def hadoop_out(tmp_path_factory):
    """Real Hadoop Streaming (the local job runner) with its client at CLIENT_AT_WARN."""
    where = tmp_path_factory.mktemp("messy")
    (where / "log4j2.properties").write_text(CLIENT_AT_WARN)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(hadoop, "LOG4J", where / "log4j2.properties")
        mp.setenv("SENSORPIPE_LOCAL_HADOOP", "1")
        assert run_clean("hadoop", SPEC, DATA / "messy", where / "hadoop") == 0
    return Output(where / "hadoop")


@pytest.fixture(scope="module")
def spark_out(tmp_path_factory, spark):
    from jobs.clean import clean  # noqa: PLC0415

    out = tmp_path_factory.mktemp("messy") / "spark"
    clean(spark, str(SPEC), str(DATA / "messy"), str(out), fmt="csv")
    return Output(out)


@pytest.fixture(params=["pipe", "hadoop", "spark"])
def out(request):
    return request.getfixturevalue(f"{request.param}_out")


def test_counts(out):
    r = out.report
    assert (r["rows_in"], r["rows_clean"], r["rows_rejected"]) == (30, 13, 17)
    assert r["rejected_by_reason"] == {
        "malformed_row": 5,
        "missing_required": 3,
        "invalid_value": 5,
        "duplicate_key": 4,
    }
    assert r["imputed"] == {
        "device_id": 0,
        "ts": 0,
        "temperature": 6,
        "pressure": 2,
        "rpm": 3,
        "model": 2,
        "note": 0,
    }
    assert r["clipped"]["rpm"] == 3 and r["clipped"]["pressure"] == 0
    assert (out.path / "_SUCCESS").exists()


def test_rejects_carry_reason_source_line_and_raw(out):
    assert [(r["source"], r["line"], r["reason"]) for r in out.rejects] == EXPECTED_REJECTS
    raw = {(r["source"], r["line"]): r["raw"] for r in out.rejects}
    assert raw[(A, 16)] == "d14,2026-01-01T00:00:00Z,\ufffd\ufffd,108,1500,A,x"
    assert raw[(A, 25)] == 'd20,2026-01-01T00:00:00Z,"unterminated,114,1500,A,x'
    assert raw[(A, 3)] == "d1,1767225600,21.0,101,1510,A,dup"
    assert raw[(B, 2)] == "2026-01-01T00:00:00Z,d1,30,121,1500,A,dup-across-files"


def test_stats(out):
    st = out.stats
    assert st["rows"] == 13
    assert st["output_columns"] == ["device_id", "ts", "temperature", "pressure", "rpm", "model", "note"]
    t, p, rpm, model = (st["columns"][c] for c in ("temperature", "pressure", "rpm", "model"))
    assert (t["count"], t["nulls"], t["min"], t["max"]) == (7, 6, 20.5, 31.0)
    assert t["mean"] == pytest.approx(TEMP_MEAN, rel=1e-12)
    assert (p["count"], p["nulls"], p["q1"], p["median"], p["q3"]) == (11, 2, 103.5, 106.0, 118.5)
    assert (rpm["count"], rpm["nulls"], rpm["min"], rpm["max"]) == (10, 3, 1490, 30000)
    assert (rpm["q1"], rpm["median"], rpm["q3"]) == (1500.0, 1500.0, 1500.0)
    assert model["vocab"] == [["A", 7], ["B", 2], ["C", 1], ["D", 1]]
    assert st["columns"]["note"]["mean"] is None and st["columns"]["ts"]["vocab"] is None


def test_clean_rows(out):
    rows = {(r[0], r[-1]): r for r in out.clean}
    assert len(out.clean) == 13
    # pressure robust-scaled with median 106, IQR 15; rpm clipped to [1500, 1500]; model index
    assert rows[("d1", "ok")] == ["d1", "2026-01-01T00:00:00Z", "20.5", "-0.4", "1500", "0", "ok"]
    d2 = rows[("d2", 'say "hi", ok')]
    assert d2[:2] == ["d2", "2026-01-01T00:00:00Z"] and float(d2[2]) == pytest.approx(TEMP_MEAN)
    assert float(d2[3]) == pytest.approx(-4 / 15) and d2[4:6] == ["1500", "1"]
    assert rows[("d3", "spaced")][:3] == ["d3", "2026-01-01T00:00:00Z", "22.5"]
    assert rows[("d22", "tz")][1] == "2026-01-01T00:00:00Z"
    assert rows[("d23", "frac")][1] == "2026-01-01T00:00:00.25Z"
    assert rows[("d24", "last")][5] == "3"
    assert rows[("d4", "")][3:6] == ["0.0", "1500", "0"]  # imputed median, median, mode


def test_spark_agrees_with_pipe(pipe_out, spark_out):
    assert_same(pipe_out.clean, spark_out.clean)
    assert pipe_out.rejects == spark_out.rejects
    assert_same(pipe_out.stats, spark_out.stats)
    for key in ("rows_in", "rows_clean", "rows_rejected", "rejected_by_reason", "imputed", "clipped"):
        assert pipe_out.report[key] == spark_out.report[key]


def test_pipe_and_hadoop_agree(pipe_out, hadoop_out):
    # Partials merge in a different order on different splits: floats agree to 1e-9.
    assert_same(pipe_out.clean, hadoop_out.clean)
    assert pipe_out.rejects == hadoop_out.rejects
    assert_same(pipe_out.stats, hadoop_out.stats)
    skip = {"engine", "seconds", "counters"}
    assert {k: v for k, v in pipe_out.report.items() if k not in skip} == {
        k: v for k, v in hadoop_out.report.items() if k not in skip
    }
    assert hadoop_out.report["counters"] == {
        "validate": {},
        "transform": {},
    }  # none logged: test_counts holds
