"""The stream's validation fast path (streaming/source.py): lines of the common shape are cut by
one regex instead of two JSON parses. Which lines take it is stated by hand, and so is every
line's reason; the fast path's rows are compared with the full path's (with_validated(...,
fast=False)), two independent ways to the same values."""

from __future__ import annotations

import re

import pytest

from harness.paths import SPEC
from sensorpipe.core.spec import load_spec
from sensorpipe.model.features import feature_config
from streaming.source import DRAIN, fast_line_regex, with_validated

HEAD = '{"device_id":"dev-1","ts":"2026-11-01T00:00:00Z","model":"M200",'
TAIL = '"temperature":31.32,"vibration":1.355,"pressure":313.9,"rpm":1058,"load":22}'
OK = HEAD + TAIL


def line(**values: str) -> str:
    """OK with some values replaced by the given JSON texts."""
    out = OK
    for key, text in values.items():
        out = re.sub(rf'"{key}":("[^"]*"|[^,}}]*)', lambda _m, k=key, t=text: f'"{k}":{t}', out)
    return out


# (line, takes the fast path, reason) - all written by hand
LINES = [
    (OK, True, None),
    (line(rpm="20001"), True, "invalid_value"),  # over rpm's range
    (line(rpm="99999999999999999999"), True, "invalid_value"),  # int64 overflow
    (line(temperature="1e999"), True, None),  # not finite: null, imputed later
    (line(temperature="-0.0", load="1E+2", vibration="0.1e-3"), True, None),
    (line(device_id='"NA"'), True, "missing_required"),  # a null token
    (line(device_id="null"), True, "missing_required"),
    (line(model='""'), True, None),
    (line(ts='"2026-02-30T00:00:00Z"'), True, "invalid_value"),  # Feb 30
    (line(ts='"0000-01-01T00:00:00Z"'), True, "invalid_value"),  # year 0
    (line(ts='"2026-11-01T24:00:00Z"'), True, "invalid_value"),
    (line(ts='"2026-11-01 00:01:00"'), True, None),
    (line(device_id='"{x}"'), True, None),  # a JSON string that looks like an object
    (line(pressure="null", rpm="null"), True, None),
    (line(rpm="01058"), False, "malformed_row"),  # JSON has no leading zeros
    (line(temperature="1."), False, "malformed_row"),
    (line(temperature="+1"), False, "malformed_row"),
    (line(rpm="1058.0"), False, "invalid_value"),  # not an int's text
    (line(temperature='"31.32"'), False, None),  # a number as a string
    (line(device_id='"dev 2"'), False, None),  # a space: the full path strips
    (line(device_id='" dev-3 "'), False, None),
    (line(device_id='"d\\u00e9v"'), False, None),  # an escape
    (line(ts="1793491260"), False, None),  # epoch seconds as a JSON number
    (line(device_id='{"a":1}'), False, "invalid_value"),  # an object where a value belongs
    (OK.replace('"model":"M200",', ""), False, None),  # a key absent
    (OK[:-1] + ',"extra":1}', False, None),  # a key the spec does not have
    ('{"ts":"2026-11-01T00:02:00Z","device_id":"dev-1"}', False, None),  # another order
    (OK.replace('":', '": '), False, None),  # whitespace between tokens
    (" " + OK, False, None),
    (OK.replace('"model":"M200"', '"device_id":"dev-9"'), False, "malformed_row"),  # a key repeated
    (OK + "}", False, "malformed_row"),  # text after the object
    (OK + "]", False, "malformed_row"),
    (OK + " x", False, "malformed_row"),
    (OK[:-5], False, "malformed_row"),  # cut
    ("[" + OK + "]", False, "malformed_row"),
]


@pytest.fixture(scope="module")
def spec():
    return load_spec(SPEC)


def test_which_lines_take_the_fast_path(spec):
    regex = fast_line_regex(spec)
    body = regex.removeprefix("^").removesuffix(r"\z")  # Python's re spells the end \Z
    got = [bool(re.fullmatch(body, text)) for text, _, _ in LINES]
    assert got == [fast for _, fast, _ in LINES]


def validated(spark, spec, fast: bool):
    rows = [("f", n, text, False) for n, (text, _, _) in enumerate(LINES, start=1)]
    lines = spark.createDataFrame(rows, f"source string, line long, raw string, {DRAIN} boolean")
    frame = lines.transform(with_validated(spec, feature_config(spec), fast=fast)).toPandas()
    return frame.sort_values("line").reset_index(drop=True)


def test_reasons_by_hand_and_fast_equals_full(spark, spec):
    fast, full = validated(spark, spec, True), validated(spark, spec, False)
    assert fast["reason"].tolist() == [reason for _, _, reason in LINES]
    assert fast.equals(full)
    ok = fast.iloc[0]
    assert (ok["device_id"], ok["temperature"], ok["rpm"], ok["load"]) == ("dev-1", 31.32, 1058.0, 22.0)
    assert fast["temperature"].iloc[3] != fast["temperature"].iloc[3]  # 1e999: null (NaN in pandas)
    assert fast["device_id"].iloc[12] == "{x}"
    assert fast["device_id"].iloc[20] == "dev-3"
