"""Row semantics: splitting, the reject reasons in their order, header binding."""

import pytest

from sensorpipe.core.rows import (
    INVALID,
    MALFORMED,
    MISSING,
    LayoutError,
    decode_line,
    is_blank,
    make_layout,
    raw_text,
    split_fields,
)
from sensorpipe.core.spec import parse_spec

SPEC = parse_spec(
    {
        "dataset": {"name": "t", "key": ["id"], "drop": ["secret"]},
        "columns": [
            {"name": "id", "type": "string", "required": True},
            {"name": "x", "type": "float", "range": [0.0, 10.0]},
            {"name": "n", "type": "int", "on_invalid": "reject"},
            {"name": "secret", "type": "int"},
        ],
    }
)


@pytest.mark.parametrize(
    "line,fields",
    [
        ("a,b,c", ["a", "b", "c"]),
        ("a,,", ["a", "", ""]),
        ('a,"b,c",d', ["a", "b,c", "d"]),
        ('"say ""hi""",x', ['say "hi"', "x"]),
        ('a, "b" ,c', ["a", "b", "c"]),
        ('"",x', ["", "x"]),
    ],
)
def test_split_csv(line, fields):
    assert split_fields(line, ",") == fields


@pytest.mark.parametrize("line", ['a,"b', 'a,b"c,d', '"a"b,c', 'a,"b"",c'])
def test_malformed_quoting(line):
    assert split_fields(line, ",") is None


def test_split_whitespace_and_other_delimiters():
    assert split_fields("  1 2\t\t3  ", "whitespace") == ["1", "2", "3"]
    assert split_fields('a;"b;c"', ";") == ["a", "b;c"]


def test_decode_line_endings_bom_and_utf8():
    assert decode_line(b"\xef\xbb\xbfa,b\r\n", True) == "a,b"
    assert decode_line(b"\xef\xbb\xbfa,b\n", False) == "\ufeffa,b"
    assert decode_line(b"a\rb\n", False) == "a\rb"
    assert decode_line(b"caf\xc3\xa9\n", False) == "café"
    assert decode_line(b"\xff\xfe\n", False) is None
    assert raw_text(b"a\xffb\r\n", False) == "a\ufffdb"
    assert is_blank("  \t") and not is_blank(" x ")


def layout(header=("id", "x", "n", "secret")):
    return make_layout(SPEC, list(header), "in.csv")


def test_parse_values_in_spec_order():
    assert layout().parse(" a , 2.5 , 7 , 1") == (None, ["a", 2.5, 7, 1])
    assert layout(("n", "secret", "x", "id")).parse("7,1,2.5,a") == (None, ["a", 2.5, 7, 1])


@pytest.mark.parametrize(
    "line,reason,values",
    [
        ("a,2.5,7", MALFORMED, None),  # too few fields
        ("a,2.5,7,1,9", MALFORMED, None),  # too many
        ("NA,2.5,7,1", MISSING, None),  # required id is null
        ("a,2.5,x,1", INVALID, None),  # n rejects invalid values
        (",2.5,x,1", MISSING, None),  # missing wins over invalid
        ("a,11,7,1", None, ["a", None, 7, 1]),  # x out of range: null
        ("a,inf,7,1", None, ["a", None, 7, 1]),  # not finite: null
        ("a,?,,1", None, ["a", None, None, 1]),  # null tokens
    ],
)
def test_reject_reasons(line, reason, values):
    assert layout().parse(line) == (reason, values)


def test_header_binding_errors_and_carried_columns():
    with pytest.raises(LayoutError, match="lacks column 'n'"):
        layout(("id", "x", "secret"))
    with pytest.raises(LayoutError, match="twice"):
        layout(("id", "x", "n", "secret", "x"))
    lay = layout(("id", "extra", "x", "n", "secret"))
    assert [c.name for c in lay.stored] == ["id", "x", "n", "extra"]
    assert lay.parse("a,hello,1,2,3") == (None, ["a", 1.0, 2, 3, "hello"])


def test_field_splitter_accepts_exactly_the_line_grammar():
    """split_fields (a field loop) and line_regex (one pattern, also used by Spark) agree."""
    import random  # noqa: PLC0415
    import re  # noqa: PLC0415

    from sensorpipe.core.rows import line_regex  # noqa: PLC0415

    rng = random.Random(5)
    grammar = re.compile(line_regex(","))
    for _ in range(20_000):
        line = "".join(rng.choice('ab ,"\t') for _ in range(rng.randint(1, 9)))
        assert (split_fields(line, ",") is not None) == bool(grammar.match(line)), line
