"""The Spark engine: its expressions on small inline frames (chispa), edge inputs against
the pipe engine and hand-written values, Parquet output, and the spark-submit entry point.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from conftest import DATA, ROOT, Output, assert_same, run_clean
from jobs.apply import impute_clip_scale, iso_timestamp
from jobs.clean import clean
from jobs.parse import split_fields
from sensorpipe.core.spec import Column, parse_spec
from sensorpipe.core.transform import fit_params
from sensorpipe.spark.columns import checked, iso_parts, parse_float, parse_int, parse_timestamp

SPEC = DATA / "messy.toml"
HEADER = "device_id,ts,temperature,pressure,rpm,model,note\n"


def one_column(spark, values, name="raw"):
    return spark.createDataFrame([(v,) for v in values], f"{name} string")


def test_number_parsers(spark):
    df = one_column(spark, ["1.5", "-2", "1e3", "inf", "NaN", "1_0", "abc", "1e999", " 1", "7"])
    raw = F.col("raw")
    got = df.select(
        "raw",
        checked(parse_float(raw), Column(name="f", type="float")).alias("f"),
        checked(parse_int(raw), Column(name="i", type="int")).alias("i"),
    )
    want = spark.createDataFrame(
        [
            ("1.5", 1.5, None),
            ("-2", -2.0, -2),
            ("1e3", 1000.0, None),
            ("inf", None, None),
            ("NaN", None, None),
            ("1_0", None, None),
            ("abc", None, None),
            ("1e999", None, None),
            (" 1", None, None),
            ("7", 7.0, 7),
        ],
        "raw string, f double, i bigint",
    )
    assert_df_equality(got, want, ignore_nullable=True)


def test_timestamp_parser(spark):
    cases = [
        ("2026-01-01T00:00:00Z", 1767225600_000000),
        ("2026-01-01", 1767225600_000000),
        ("2026-01-01T05:30:00+05:30", 1767225600_000000),
        ("2025-12-31T19:00:00-0500", 1767225600_000000),
        ("2026-01-01T00:00:00.25Z", 1767225600_250000),
        ("1767225600.5", 1767225600_500000),
        ("-1.5", -1_500000),
        ("2026-02-30T00:00:00Z", None),
        ("2026-01-01T00:00:60Z", None),
        ("2026-02-29 00:00:00", None),
        ("2024-02-29 12:00:00", 1709208000_000000),
        ("-0.5", -500000),
        ("0000-01-01", None),
        ("99999999999999999999", None),
        ("not-a-time", None),
    ]
    df = spark.createDataFrame(cases, "raw string, want bigint")
    ts = Column(name="ts", type="timestamp")
    got = df.select("raw", iso_parts(F.col("raw")).alias("parts")).select(
        "raw", checked(parse_timestamp(F.col("raw"), F.col("parts")), ts).alias("want")
    )
    assert_df_equality(got, df, ignore_nullable=True)
    back = df.where(F.col("want").isNotNull()).select(iso_timestamp(F.col("want")).alias("iso"))
    isos = {r.iso for r in back.collect()}
    assert {"1969-12-31T23:59:58.5Z", "1969-12-31T23:59:59.5Z", "2026-01-01T00:00:00.25Z"} <= isos


def test_field_splitting(spark):
    spec = parse_spec({"dataset": {"name": "t"}, "columns": [{"name": "a", "type": "string"}]})
    df = one_column(spark, ['a,"b,c",d', '"say ""hi""",x', "a,,", ",x", 'a,"b', 'a,b"c'], "text")
    got = [r.f for r in df.select(split_fields(F.col("text"), spec).alias("f")).collect()]
    assert got == [["a", "b,c", "d"], ['say "hi"', "x"], ["a", "", ""], ["", "x"], None, None]


def test_impute_clip_scale_int_column(spark):
    col = Column(name="x", type="int", impute="mean", clip="iqr")
    p = fit_params(col, {"mean": 2.5, "q1": 2.0, "q3": 4.0})  # bounds -1 .. 7, fill 2 (half even)
    df = spark.createDataFrame([(None,), (3,), (100,), (-9,)], "x bigint")
    got = df.select(impute_clip_scale(F.col("x"), p).alias("x"))
    want = spark.createDataFrame([(2,), (3,), (7,), (-1,)], "x bigint")
    assert_df_equality(got, want, ignore_nullable=True)


def both(spark, tmp_path, text: str, spec=SPEC) -> tuple[Output, Output]:
    src = tmp_path / "in.csv"
    src.write_text(text)
    assert run_clean("pipe", spec, src, tmp_path / "pipe") == 0
    clean(spark, str(spec), str(src), str(tmp_path / "spark"), fmt="csv")
    return Output(tmp_path / "pipe"), Output(tmp_path / "spark")


def assert_agree(pipe: Output, spark: Output) -> None:
    assert_same(pipe.clean, spark.clean)
    assert pipe.rejects == spark.rejects  # source included: both name a local file by its plain path
    assert_same(pipe.stats, spark.stats)
    for key in ("rows_in", "rows_clean", "rejected_by_reason", "imputed", "clipped"):
        assert pipe.report[key] == spark.report[key]


@pytest.mark.parametrize("text", ["", HEADER, "\n" + HEADER + "\r\n \n"], ids=["empty", "header", "blanks"])
def test_zero_rows(spark, tmp_path, text):
    pipe, sp = both(spark, tmp_path, text)
    assert sp.report["rows_in"] == 0 and sp.clean == [] and sp.rejects == []
    assert sp.stats["columns"]["model"]["vocab"] == []
    assert_agree(pipe, sp)


def test_one_row(spark, tmp_path):
    pipe, sp = both(spark, tmp_path, HEADER + "d1,2026-01-01T00:00:00Z,20,100,7,A,x\n")
    assert sp.clean == [["d1", "2026-01-01T00:00:00Z", "20.0", "0.0", "7", "0", "x"]]
    assert_agree(pipe, sp)


def test_all_null_and_constant_columns(spark, tmp_path):
    rows = "".join(f"d{i},2026-01-01T00:00:0{i}Z,NA,5,,,\n" for i in range(5))
    pipe, sp = both(spark, tmp_path, HEADER + rows + "d9,2026-01-01T00:00:09Z\n")  # and one reject
    src = str(tmp_path / "in.csv")  # not Spark's file: URI
    bad = {"reason": "malformed_row", "source": src, "line": 7, "raw": "d9,2026-01-01T00:00:09Z"}
    assert sp.rejects == [bad]
    t, p, rpm = (sp.stats["columns"][c] for c in ("temperature", "pressure", "rpm"))
    assert (t["count"], t["nulls"], t["mean"], t["std"]) == (0, 5, None, None)
    assert (p["std"], p["q1"], p["q3"]) == (0.0, 5.0, 5.0)  # constant: IQR 0 scales to 0.0
    assert rpm["median"] is None
    assert {r[3] for r in sp.clean} == {"0.0"} and {r[2] for r in sp.clean} == {""}
    assert_agree(pipe, sp)


def test_parquet_output_types(spark, tmp_path):
    out = tmp_path / "pq"
    report = clean(spark, str(SPEC), str(DATA / "messy"), str(out))
    assert report["rows_clean"] == 13 and (out / "_SUCCESS").exists()
    table = pq.read_table(out / "clean")
    assert table.column_names == json.loads((out / "stats.json").read_text())["output_columns"]
    types = {f.name: str(f.type) for f in table.schema}
    assert types == {
        "device_id": "string",
        "ts": "timestamp[us, tz=UTC]",
        "temperature": "double",
        "pressure": "double",
        "rpm": "int64",
        "model": "int32",
        "note": "string",
    }
    row = table.filter(pc.equal(table["note"], "frac")).to_pylist()[0]
    assert row["ts"].isoformat() == "2026-01-01T00:00:00.250000+00:00"


def test_spark_submit_entry_point(tmp_path):
    """`sensorpipe clean --engine spark` through spark-submit, and its exit codes."""
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "sensorpipe.cli",
        "clean",
        "--engine",
        "spark",
        "--spec",
        str(SPEC),
        "--input",
        str(DATA / "messy"),
        "--output",
        str(out),
        "--format",
        "csv",
    ]
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "\r" not in done.stderr  # no progress bar redraws when not on a terminal
    assert Output(out).report["rows_clean"] == 13
    bad = tmp_path / "bad.csv"
    bad.write_text("device_id,ts\nd1,2026-01-01\n")
    cmd[cmd.index(str(DATA / "messy"))] = str(bad)
    cmd[cmd.index(str(out))] = str(tmp_path / "out2")
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=ROOT, timeout=600)
    # spark-submit's Python driver writes its stderr to stdout
    assert done.returncode == 1 and "'temperature'" in done.stdout + done.stderr
    assert not (tmp_path / "out2").exists()


# Texts in the fast path's shape (one regex over the line, then plain casts: jobs/parse.py
# fast_parsed) that the grammars refuse, or accept with a value: the fast path must agree
# with the full one and with the pipe engine. pressure rejects invalid values.
FAST_SHAPED = [
    "d1,2026-01-01T00:00:00Z,1.2.3,100,7,A,x",  # temperature: null (not a float)
    "d2,2026-01-01T00:00:00Z,20,1e,7,A,x",  # pressure: invalid_value
    "d3,2026-01-01T00:00:00Z,+.5,5.,7,A,x",
    "d4,2026-01-01T00:00:00Z,-.5e-3,1E2,+7,A,x",
    "d5,2026-01-01T00:00:00Z,1e999,100,-0,A,x",  # temperature: not finite, null
    "d6,2026-01-01T00:00:00Z,.,100,7,A,x",
    "d7,2026-01-01T00:00:00Z,20,--1,7,A,x",  # invalid_value
    "d8,2026-01-01T00:00:00Z,20,+,7,A,x",  # invalid_value
    "d9,2026-02-30T00:00:00Z,20,100,7,A,x",  # no such day: null ts, missing_required
    "d10,2026-01-01 00:00:00,20,100,7,A,x",
    "d11,1767225600,20,100,7,A,x",
    "d12,-5.25,20,100,7,A,x",
    "d13,0000-01-01T00:00:00Z,20,100,7,A,x",
    "d14,2026-01-01T24:00:00Z,20,100,7,A,x",
    "d15,2026-01-01T00:00:00Z,20,100,99999999999999999999,A,x",  # rpm: out of int64, null
    "d16,2026-01-01T00:00:00Z,1d,0x1p3,7,A,x",  # Java's suffix and hex: not floats; not fast-shaped
    "d17,2026-01-01T00:00:00Z,20,100,7,NA,null",  # null tokens in text columns
    "d18,2026-01-01T00:00:00Z,20,100,7,A,x",
    "d18,2026-01-01T00:00:00.000Z,21,100,7,A,x",  # not fast-shaped; a duplicate key
    "d19,2026-01-01T00:00:60Z,20,100,7,A,x",  # no second 60: invalid
    "d20,2024-02-29T23:59:59Z,20,100,7,A,x",  # a leap day: valid
    "d21,2026-13-01T00:00:00Z,20,100,7,A,x",  # no month 13: invalid
]


def test_fast_line_regex_shapes():
    from jobs.parse import fast_line_regex  # noqa: PLC0415
    from sensorpipe.core.rows import make_layout  # noqa: PLC0415
    from sensorpipe.core.spec import load_spec  # noqa: PLC0415

    spec = load_spec(SPEC)
    regex = fast_line_regex({0: make_layout(spec, HEADER.strip().split(","), "x", [])})
    fast = re.compile(regex.replace(r"\z", r"\Z"))
    shaped = [line for line in FAST_SHAPED if fast.match(line)]
    assert shaped == FAST_SHAPED[:15] + FAST_SHAPED[16:18] + FAST_SHAPED[19:]  # all but d16 and d18's second
    for slow in (" d1,2026-01-01T00:00:00Z,1,2,3,A,x", "d1,2026-01-01T00:00:00Z,1,2,3,A", 'd1,"x",1,2,3,A,x'):
        assert not fast.match(slow)


def test_fast_shaped_lines_agree_with_pipe(spark, tmp_path):
    pipe, sp = both(spark, tmp_path, HEADER + "\n".join(FAST_SHAPED) + "\n")
    assert_agree(pipe, sp)
    reasons = {r["raw"].split(",")[0]: r["reason"] for r in sp.rejects}
    assert reasons == {
        "d2": "invalid_value",
        "d7": "invalid_value",
        "d8": "invalid_value",
        "d9": "invalid_value",  # ts is required: an invalid one rejects the row
        "d13": "invalid_value",
        "d14": "invalid_value",
        "d16": "invalid_value",
        "d18": "duplicate_key",
        "d19": "invalid_value",
        "d21": "invalid_value",
    }


def test_rejects_keep_their_line_without_a_key(spark, tmp_path):
    """Without a key the cache keeps a line's text only on rows rejected at parse time
    (jobs/parse.py with_parsed_columns): rejects/ still shows every rejected line whole, from
    the fast path (d2) and the full one (d16, the short row); a repeated key is no reject."""
    spec = tmp_path / "nokey.toml"
    spec.write_text(SPEC.read_text(encoding="utf-8").replace('key = ["device_id", "ts"]\n', ""))
    lines = [
        "d1,2026-01-01T00:00:00Z,20,100,7,A,x",
        "d2,2026-01-01T00:00:00Z,20,1e,7,A,x",
        "d16,2026-01-01T00:00:00Z,1d,0x1p3,7,A,x",
        "d3,2026-01-01T00:00:00Z,20,100",
        "d1,2026-01-01T00:00:00Z,21,100,7,A,x",
    ]
    pipe, sp = both(spark, tmp_path, HEADER + "\n".join(lines) + "\n", spec)
    assert_agree(pipe, sp)
    got = [(r["reason"], r["line"], r["raw"]) for r in sp.rejects]
    assert got == [
        ("invalid_value", 3, "d2,2026-01-01T00:00:00Z,20,1e,7,A,x"),
        ("invalid_value", 4, "d16,2026-01-01T00:00:00Z,1d,0x1p3,7,A,x"),
        ("malformed_row", 5, "d3,2026-01-01T00:00:00Z,20,100"),
    ]
    assert sp.report["rows_clean"] == 2


SPLIT_SPEC = """
[dataset]
name = "splits"

[[columns]]
name = "device_id"
type = "string"
required = true

[[columns]]
name = "ts"
type = "timestamp"
required = true

[[columns]]
name = "temperature"
type = "float"
impute = "mean"
scale = "zscore"

[[columns]]
name = "pressure"
type = "float"
on_invalid = "reject"
impute = "mean"

[[columns]]
name = "rpm"
type = "int"

[[columns]]
name = "model"
type = "category"
impute = "mode"

[[columns]]
name = "note"
type = "string"
"""


@pytest.mark.parametrize("max_union", [32, 1], ids=["file-per-scan", "one-scan"])
def test_line_numbers_across_splits(spark, tmp_path, monkeypatch, max_union):
    """Files read in splits of ~120 bytes (several per file, small ones packed together): line
    numbers, the header (after a BOM-only first line; after a BOM on line 1), a repeated
    header line, blank lines and CRLF as the pipe engine sees them. No key and no quartile:
    the first aggregation is computed while the caches are built (jobs/clean.py)."""
    import jobs.lines  # noqa: PLC0415

    monkeypatch.setattr(jobs.lines, "MAX_UNION", max_union)
    spec = tmp_path / "splits.toml"
    spec.write_text(SPLIT_SPEC)
    src = tmp_path / "in"
    src.mkdir()
    a = [
        "\ufeff",
        HEADER.strip(),
        "d1,2026-01-01T00:00:00Z,20,100,7,A,x",
        "d2,2026-01-01T00:01:00Z,21,1e,7,A,x",  # 4: invalid_value (pressure)
        "",
        "d3,2026-01-01T00:02:00Z,22,100",  # 6: malformed_row
        HEADER.strip(),  # 7: a repeat of the header is a row: invalid_value (ts is required)
        'd4,2026-01-01T00:03:00Z,23,101,8,B,"q,uoted"',
        "d5,2026-01-01T00:04:00Z,24,102,9,A,y\r",
        ",2026-01-01T00:05:00Z,25,103,9,A,z",  # 10: missing_required
        "d6,2026-01-01T00:06:00Z,NA,104,10,B,w",
        "d7,2026-01-01T00:07:00Z,26,105,11,A,v",
    ]
    b = [
        "\ufeff" + HEADER.strip(),
        "d8,2026-01-01T00:08:00Z,27,106,12,B,u",
        "d9,2026-01-01T00:09:00Z,28",  # 3: malformed_row
        "d10,2026-01-01T00:10:00Z,29,107,13,A,t",
    ]
    (src / "a.csv").write_text("\n".join(a) + "\n", encoding="utf-8")
    (src / "b.csv").write_text("\n".join(b) + "\n", encoding="utf-8")
    assert run_clean("pipe", spec, src, tmp_path / "pipe") == 0
    spark.conf.set("spark.sql.files.maxPartitionBytes", "120")
    spark.conf.set("spark.sql.files.openCostInBytes", "1")
    try:
        splits = spark.read.text(str(src)).select("_metadata.file_path", "_metadata.file_block_start")
        assert splits.distinct().count() >= 5  # the premise: files in several splits
        clean(spark, str(spec), str(src), str(tmp_path / "spark"), fmt="csv")
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
        spark.conf.unset("spark.sql.files.openCostInBytes")
    pipe, sp = Output(tmp_path / "pipe"), Output(tmp_path / "spark")
    assert_agree(pipe, sp)
    got = sorted((r["source"].rsplit("/", 1)[1], r["line"], r["reason"]) for r in sp.rejects)
    assert got == [
        ("a.csv", 4, "invalid_value"),
        ("a.csv", 6, "malformed_row"),
        ("a.csv", 7, "invalid_value"),
        ("a.csv", 10, "missing_required"),
        ("b.csv", 3, "malformed_row"),
    ]
    assert (sp.report["rows_in"], sp.report["rows_clean"]) == (12, 7)
    temperature = sp.stats["columns"]["temperature"]
    assert (temperature["count"], temperature["nulls"]) == (6, 1)  # d1 d4 d5 d6(NA) d7 d8 d10: 7 rows
    assert temperature["mean"] == pytest.approx((20 + 23 + 24 + 26 + 27 + 29) / 6, rel=1e-12)


def test_lines_from_split_counts():
    """Line numbers from per-split counts: a prefix sum over each file's splits in order."""
    from jobs.lines import Lines  # noqa: PLC0415

    lines = Lines.from_counts([(1, 0, 4, 5), (0, 100, 2, 2**33), (0, 0, 3, 0)])
    assert lines.splits == {(0, 0): (1, 0, 3), (0, 100): (4, 2**33, 2), (1, 0): (1, 5, 4)}
    assert lines.row_at(0, 1) == (0, 0)
    assert lines.row_at(0, 5) == (100, 2**33 + 1)
    assert lines.row_at(1, 4) == (0, 8)
    assert lines.row_at(0, 6) is None and lines.row_at(2, 1) is None


def test_first_aggregations_merge():
    """Counts summed, min of mins, max of maxes, means weighted by counts; a part without values
    of a column does not count in its mean."""
    from jobs.fit import merged  # noqa: PLC0415

    cols = [Column(name="s", type="string"), Column(name="x", type="float")]
    zero = dict.fromkeys(("malformed_row", "missing_required", "invalid_value", "duplicate_key"), 0)
    parts = [
        {
            "rows_in": 4,
            "rows_clean": 3,
            **zero,
            "invalid_value": 1,
            "n0": 3,
            "n1": 3,
            "mean1": 2.0,
            "min1": 1.0,
            "max1": 3.0,
        },
        {
            "rows_in": 2,
            "rows_clean": 1,
            **zero,
            "malformed_row": 1,
            "n0": 1,
            "n1": 1,
            "mean1": 6.0,
            "min1": 6.0,
            "max1": 6.0,
        },
        {"rows_in": 1, "rows_clean": 1, **zero, "n0": 0, "n1": 0, "mean1": None, "min1": None, "max1": None},
    ]
    for p, s1, s2 in zip(parts, (3.0, 4.0, None), (5.0, 16.0, None)):
        p.update(s1=s1, ss1=s2)
    got = merged(parts, cols)
    assert got == {
        "rows_in": 7,
        "rows_clean": 5,
        **zero,
        "invalid_value": 1,
        "malformed_row": 1,
        "n0": 4,
        "n1": 4,
        "mean1": 3.0,
        "min1": 1.0,
        "max1": 6.0,
        "s1": 7.0,
        "ss1": 21.0,
    }


def test_moments_from_shifted_sums():
    """x = 1, 2, 3, 6 around a shift of 2: s = -1+0+1+4 = 4, ss = 1+0+1+16 = 18, so mean
    2 + 4/4 = 3 and m2 = 18 - 16/4 = 14; a shift 1000 away (over FAR standard deviations of
    about 1.9) is refused: that column's moments are summed again around the mean."""
    from jobs.fit import _shifted  # noqa: PLC0415

    cols = [Column(name="x", type="float"), Column(name="y", type="int"), Column(name="t", type="string")]
    first = {
        "n0": 4,
        "s0": 4.0,
        "ss0": 18.0,
        "min0": 1.0,
        "max0": 6.0,
        "n1": 4,
        "min1": 1,
        "max1": 6,
        "n2": 4,
    }
    first |= {"s1": 4 * -997.0, "ss1": 4 * 997.0**2 + 14.0}
    assert _shifted(first, cols, {"x": 2.0, "y": 1000.0}) == {0: [4, 3.0, 14.0, 1.0, 6.0]}
    assert _shifted(first, cols, {}) == {}
