"""Single values: the grammars of DESIGN.md, checked against values written by hand."""

import pytest

from sensorpipe.core.values import (
    format_timestamp,
    parse_float,
    parse_int,
    parse_timestamp,
    sortable,
    unsortable,
)


@pytest.mark.parametrize(
    "text,value",
    [
        ("1", 1.0),
        ("-2.5", -2.5),
        ("+.5", 0.5),
        ("3.", 3.0),
        ("1e3", 1000.0),
        ("1.5E-2", 0.015),
    ],
)
def test_floats(text, value):
    assert parse_float(text) == value


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "1,5",
        "inf",
        "-Infinity",
        "NaN",
        "nan",
        "1e999",
        "1_000",
        "0x10",
        "1.5d",
        "١٢",
        "1 2",
        "--1",
    ],
)
def test_not_floats(text):
    assert parse_float(text) is None


def test_ints():
    assert parse_int("42") == 42 and parse_int("-7") == -7 and parse_int("+0") == 0
    assert parse_int("9223372036854775807") == 2**63 - 1
    for bad in ("1.0", "1e3", "9223372036854775808", "", "x", "١", "1_0", "\x1c5", "0x1f"):
        assert parse_int(bad) is None


@pytest.mark.parametrize(
    "text,micros",
    [
        ("2026-01-01T00:00:00Z", 1767225600_000000),
        ("2026-01-01T00:00:00", 1767225600_000000),
        ("2026-01-01 00:00:00", 1767225600_000000),
        ("2026-01-01", 1767225600_000000),
        ("2026-01-01T05:30:00+05:30", 1767225600_000000),
        ("2025-12-31T19:00:00-0500", 1767225600_000000),
        ("2026-01-01T00:00:00.25Z", 1767225600_250000),
        ("2026-01-01T00:00", 1767225600_000000),
        ("1767225600", 1767225600_000000),
        ("1767225600.5", 1767225600_500000),
        ("-1.5", -1_500000),
        ("0", 0),
    ],
)
def test_timestamps(text, micros):
    assert parse_timestamp(text) == micros


@pytest.mark.parametrize(
    "text",
    [
        "not-a-time",
        "2026-13-01",
        "2026-02-30T00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T00:00:00.1234567Z",
        "1e9",
        "2026-01-01T00:00:00+25:00",
    ],
)
def test_not_timestamps(text):
    assert parse_timestamp(text) is None


def test_timestamp_format():
    assert format_timestamp(1767225600_000000) == "2026-01-01T00:00:00Z"
    assert format_timestamp(1767225600_250000) == "2026-01-01T00:00:00.25Z"
    assert format_timestamp(-1_500000) == "1969-12-31T23:59:58.5Z"
    assert format_timestamp(1_000001) == "1970-01-01T00:00:01.000001Z"


def test_sortable_hex_orders_like_numbers():
    values = [-1e300, -2.5, -1.0, -1e-300, 0.0, 1e-300, 1.0, 2.5, 1e300]
    keys = [sortable(v) for v in values]
    assert keys == sorted(keys)
    assert [unsortable(k) for k in keys] == values
    assert sortable(-0.0) == sortable(0.0)


def test_digits_alone_are_epoch_seconds():
    assert parse_timestamp("20260101") == 20260101_000000  # not a compact ISO date


def test_fast_number_parsers_follow_the_regex_grammar():
    """float()/int() fast paths accept exactly FLOAT_RE / INT_RE (the grammar Spark uses)."""
    import random  # noqa: PLC0415
    import re  # noqa: PLC0415

    from sensorpipe.core.values import FLOAT_RE, INT_RE  # noqa: PLC0415

    rng = random.Random(1)
    chars = "0123456789+-.eE_ iInNfFaAty\x1f"
    for _ in range(50_000):
        t = "".join(rng.choice(chars) for _ in range(rng.randint(0, 7)))
        want = float(t) if re.fullmatch(FLOAT_RE, t, re.ASCII) else None
        if want is not None and want - want != 0.0:
            want = None
        assert parse_float(t) == want, t
        assert parse_int(t) == (int(t) if re.fullmatch(INT_RE, t, re.ASCII) else None), t
