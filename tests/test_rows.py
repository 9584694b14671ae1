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


def _reference(layout, text):
    """Layout.parse's (reason, record key as codec encodes it, kept values) of a line."""
    from sensorpipe.core.codec import encode_key, key_encoders  # noqa: PLC0415

    reason, values = layout.parse(text)
    if reason:
        return reason, None, None
    keys = key_encoders([layout.columns[i] for i in layout.key_index])
    return (
        None,
        encode_key([values[i] for i in layout.key_index], keys),
        [values[i] for i in layout.kept_index],
    )


def test_compiled_row_takes_common_lines_and_leaves_the_rest():
    from sensorpipe.core.fastrows import compile_row  # noqa: PLC0415

    spec = parse_spec(
        {
            "dataset": {"name": "t", "key": ["id", "ts", "n"], "drop": ["secret"]},
            "columns": [
                {"name": "id", "type": "string", "required": True},
                {"name": "ts", "type": "timestamp"},
                {"name": "x", "type": "float", "range": [0.0, 10.0]},
                {"name": "n", "type": "int", "on_invalid": "reject"},
                {"name": "secret", "type": "int"},
            ],
        }
    )
    encode = compile_row(make_layout(spec, ["n", "ts", "id", "x", "secret", "extra"], "in.csv"))
    assert encode("+07,2026-01-01T00:00:00Z,a,2.50,1,hi") == (
        "a\x1f1767225600000000\x1f7",  # the key canonical: equal values, equal keys
        "a\t1767225600000000\t2.50\t+07\thi",  # numbers as written: float()/int() read them exactly
    )
    assert encode("7,1767225600,a b,1e0,-3,x y") == (
        "a b\x1f1767225600000000\x1f7",
        "a b\t1767225600000000\t1e0\t7\tx y",
    )
    for line in [
        "7,0,a,11,1,x",  # out of range: null, for the reference path
        "7,0,a,inf,1,x",  # not finite
        "7,0,a,1_0,1,x",  # float() reads it, the grammar does not
        "7,0,a,١,1,x",  # non-ASCII digit
        "7,0,a,NaN,1,x",  # a null token
        "7,0,a,,1,x",
        "7,0, a,1,1,x",  # spaces to strip
        '7,0,"a",1,1,x',  # quotes
        "7,0,a\\b,1,1,x",  # a backslash codec would escape
        "7,0,a,1,1",  # a field short
        "7,x,a,1,1,x",  # not a timestamp
        "7.0,0,a,1,1,x",  # not an int
        "9223372036854775808,0,a,1,1,x",  # beyond int64
    ]:
        assert encode(line) is None, line


def test_compiled_row_agrees_with_layout_parse():
    """On random lines, every line the compiled row takes, Layout.parse keeps with the same
    values (decoded from the row as the later passes decode it) and the same key."""
    import random  # noqa: PLC0415

    from sensorpipe.core.codec import decode_row, decoders  # noqa: PLC0415
    from sensorpipe.core.fastrows import compile_row  # noqa: PLC0415

    lay = layout()
    encode = compile_row(lay)
    decode = decoders(lay.stored)
    rng = random.Random(3)
    pieces = [
        "a",
        "b c",
        "1",
        "+2",
        "-0",
        "0.5",
        "1e1",
        "3.",
        ".5",
        "1_0",
        "inf",
        "nan",
        "11",
        "?",
        "NA",
        "",
        " 1",
        "x",
    ]
    taken = 0
    for _ in range(50_000):
        line = ",".join(rng.choice(pieces) for _ in range(rng.choice((3, 4, 4, 4, 5))))
        got = encode(line)
        if got is None:
            continue
        taken += 1
        reason, key, values = _reference(lay, line)
        assert reason is None and got[0] == key, line
        assert [repr(v) for v in decode_row(got[1], decode)] == [repr(v) for v in values], line
    assert taken > 300  # the shortcut was tried on enough lines
