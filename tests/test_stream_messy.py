"""Bad input to the stream (issue 18): a messy corpus whose every line carries, written beside it
by hand, what the stream must do with it: score it, or quarantine it with a reason (DESIGN.md,
"The spec": malformed_row, missing_required, invalid_value). The corpus is read once from a
landing directory and once from a real Kafka topic (a message per line); each run checks
lines in = scored + quarantined, every reason, every raw line and the scored values.

How each kind of line is decided (streaming/source.py implements it):
- Bytes that are not UTF-8: malformed_row, as the batch engines (`is_valid_utf8` of the line's
  own bytes); the quarantine keeps the line with each bad byte as U+FFFD, as their rejects do.
- A UTF-8 BOM: the batch engines drop it at the start of a file (DESIGN.md: it is not part of
  the first column's name); the stream drops it at the start of a landing file and of a Kafka
  message (each message is a whole JSON text; RFC 8259 lets a parser ignore its BOM). Anywhere
  else it is a character before the `{`: not a JSON object, malformed_row.
- Not one JSON object (an array, a scalar, `null`, a cut line, `NaN` / `Infinity` bare
  literals, which JSON does not have, anything after the object: a second object, the `,` or
  `]` of a pretty-printed array): malformed_row. A key repeated in an object (of any depth) is
  malformed_row too: parsers disagree on which value counts (Spark's from_json and Python keep
  the last), so the event is ambiguous; quarantined with its line, nothing is guessed.
- `{}`: an object without device_id and ts: missing_required.
- A field's value is read as a CSV engine reads the field's text: a JSON string or number is its
  text ("61.5" and 61.5 alike; 7 for a string column is the string "7"), then the spec's null
  tokens and grammars apply. A text that does not parse as its type, or is not finite (1e400 is
  a valid JSON number beyond a double), or an object or array where a value belongs, is invalid:
  invalid_value in a required column or one with on_invalid = "reject" (device_id, ts, rpm in
  conf/sensors.toml), elsewhere null and then imputed, so the event is scored. A quoted "NaN" is
  a null token of the spec, as in a CSV field: null, imputed.
- Length: a line over 1 MB is a line like any other (the landing file is read whole; the Kafka
  topic is created to accept such messages).

On the code before this test, the landing run fails (run and seen): the lines with bytes that
are not UTF-8 were scored (the file was cut into lines as Java text, each bad byte already
U+FFFD), and so were the object and array given as device_id, the lines with repeated keys and
the lines with text after their object; a file's leading BOM made its first line malformed_row.
"""

from __future__ import annotations

import pandas as pd
import pytest

from harness.paths import SPEC
from sensorpipe.core.spec import load_spec
from sensorpipe.sim.landing import Landing
from sensorpipe.spark.launch import kafka_jars
from streaming.score_stream import make_context, run_available_now
from streaming.source import kafka_input

OK = "scored"
MALFORMED, MISSING, INVALID = "malformed_row", "missing_required", "invalid_value"
BIG = 1_200_000  # characters of padding: lines over 1 MB


def ev(minute: int, extra: bytes = b"", device: bytes = b'"dev-m"') -> bytes:
    """An event of 2026-11-01 00:MM, its fields after device_id and ts as given."""
    return b'{"device_id":%s,"ts":"2026-11-01T00:%02d:00Z"%s}' % (device, minute, extra)


# (line, reason from a landing file, reason from a Kafka message when it differs). Accepted
# events have distinct minutes (no duplicate_key) and all arrive in one batch (no late).
FILE_1 = [  # has bytes that are not UTF-8, CRLF line ends and one bare CR
    (b"\xef\xbb\xbf" + ev(0, b',"temperature":61.5,"rpm":1800'), OK),  # the file's BOM: dropped
    (ev(1, device=b'"dev-m\xff\xfe"'), MALFORMED),  # 0xFF 0xFE: not UTF-8 (old code: scored)
    (ev(2, device=b'"dev-\xed\xa0\x80"'), MALFORMED),  # an encoded surrogate: not UTF-8 (old: scored)
    (b"\xef\xbb\xbf" + ev(3), MALFORMED, OK),  # a BOM inside a file: not JSON; a message's BOM: dropped
    (b"[" + ev(4) + b"]", MALFORMED),  # an array, not an object
    (b"42", MALFORMED),  # scalars
    (b'"dev-m"', MALFORMED),
    (b"null", MALFORMED),
    (b"true", MALFORMED),
    (b"   ", None),  # blank: ignored, not counted (a line number all the same)
    (b"{}", MISSING),  # no device_id, no ts
    (ev(5, device=b'{"id":"dev-m"}'), INVALID),  # an object for the required string (old: scored)
    (ev(6, device=b'["dev-m"]'), INVALID),  # an array for it (old: scored)
    (ev(7, b',"temperature":{"value":61.5}'), OK),  # an object for a float that nulls: imputed
    (ev(8, b',"rpm":[1800]'), INVALID),  # an array for rpm (on_invalid = "reject")
    (ev(9, b',"temperature":"61.5","rpm":"1800"'), OK),  # strings for numbers: their text parses
    (ev(10, b',"temperature":"hot"'), OK),  # does not parse: null, imputed
    (ev(11, b',"rpm":"fast"'), INVALID),
    (ev(12, device=b"7"), OK),  # a number for a string: the device "7"
    (ev(13, b',"temperature":true'), OK),  # "true" is no float: null, imputed
    (ev(14, b',"temperature":NaN'), MALFORMED),  # bare literals are not JSON
    (ev(15, b',"rpm":Infinity'), MALFORMED),
    (ev(16, b',"temperature":-Infinity'), MALFORMED),
    (ev(17, b',"temperature":"NaN"'), OK),  # a null token: null, imputed
    (ev(18, b',"rpm":"Infinity"'), INVALID),  # not a number in the spec's grammar
    (ev(19, b',"rpm":1e400'), INVALID),  # beyond a double: not finite
    (ev(20, b',"temperature":1e400'), OK),  # not finite: null, imputed
    (ev(21, b',"temperature":60,"temperature":99'), MALFORMED),  # a repeated key (old: scored, 99)
    (ev(22, b',"extra":{"a":1,"a":2}'), MALFORMED),  # repeated in a nested object (old: scored)
    (ev(23) + b" " + ev(24), MALFORMED),  # two objects on a line (old: the first scored, 00:24 lost)
    (ev(25) + b"]", MALFORMED),  # the last line of a pretty-printed array (old: scored)
    (ev(26) + b",", MALFORMED),  # one of its middle lines (old: scored)
    (ev(27) + b"}", MALFORMED),  # a stray brace (old: scored)
    (ev(28, b',"note":"' + b"x" * BIG + b'"'), OK),  # over 1 MB, an unknown key: ignored
    (ev(29, b',"rpm":"' + b"1" * BIG + b'"'), INVALID),  # over 1 MB of digits: beyond a 64-bit int
    (ev(30, b',"temperature":70'), OK),
    (ev(31, b',"temperature":6')[:-2], MALFORMED),  # the file ends mid-line
]
FILE_2 = [  # valid UTF-8 but its end, cut inside a character
    (ev(32), OK),
    (b"", None),
    (b'{"device_id":"d\xc3', MALFORMED),  # the first byte of a 2-byte character, then the end
]
FILE_3 = [  # valid UTF-8 (the fast cut) with a BOM and CRLF
    (b"\xef\xbb\xbf" + ev(33), OK),
    (ev(34, b',"temperature":80'), OK),
]
FILES = [(FILE_1, b"\r\n"), (FILE_2, b"\n"), (FILE_3, b"\r\n")]
# what the scored rows hold, by hand: (device_id, minute) -> temperature, rpm as cleaned with the
# model card's parameters (harness/models.py CLEANING: temperature (x - 70) / 10, fill 70;
# rpm clipped to [500, 3000], fill 1500, not scaled)
SCORED_VALUES = {
    ("dev-m", 0): (-0.85, 1800),
    ("dev-m", 7): (0.0, 1500),
    ("dev-m", 9): (-0.85, 1800),
    ("dev-m", 10): (0.0, 1500),
    ("7", 12): (0.0, 1500),
    ("dev-m", 13): (0.0, 1500),
    ("dev-m", 17): (0.0, 1500),
    ("dev-m", 20): (0.0, 1500),
    ("dev-m", 28): (0.0, 1500),
    ("dev-m", 30): (0.0, 1500),
    ("dev-m", 32): (0.0, 1500),
    ("dev-m", 33): (0.0, 1500),
    ("dev-m", 34): (1.0, 1500),
}
KAFKA_ONLY = {("dev-m", 3): (0.0, 1500)}  # the BOM line: a message's BOM is dropped


def file_bytes(entries, newline: bytes) -> bytes:
    """The file: lines joined, a final line break unless its last line is cut. FILE_1's 5th line
    ends with a bare CR (Hadoop's line reader, and the stream, take CR, LF and CRLF)."""
    lines = [e[0] for e in entries]
    data = b"".join(
        line + (b"\r" if (entries is FILE_1 and i == 4) else newline) for i, line in enumerate(lines)
    )
    return data[: -len(newline)] if entries in (FILE_1, FILE_2) else data


def reason(entry, kafka: bool):
    return entry[2] if kafka and len(entry) > 2 else entry[1]


def replaced(line: bytes, at_start: bool) -> str:
    """The raw text the quarantine keeps: bad bytes as U+FFFD, a leading BOM dropped at a start."""
    if at_start and line.startswith(b"\xef\xbb\xbf"):
        line = line[3:]
    return line.decode("utf-8", errors="replace")


@pytest.fixture(scope="module")
def ctx(stream_model):
    return make_context(load_spec(SPEC), str(stream_model))


def read(out, sink: str) -> pd.DataFrame:
    return pd.read_parquet(out / sink) if any((out / sink).glob("*.parquet")) else pd.DataFrame()


def test_messy_lines_from_a_landing_directory(spark, ctx, tmp_path):
    inbox = Landing(tmp_path / "in")
    names = [inbox.put(file_bytes(entries, nl)).name for entries, nl in FILES]
    run_available_now(
        spark, load_spec(SPEC), ctx, str(tmp_path / "in"), str(tmp_path / "out"), echo=lambda m: None
    )
    expected = {}
    for name, (entries, _) in zip(names, FILES):
        for number, entry in enumerate(entries, 1):
            if entry[1] not in (None, OK):
                expected[(name, number)] = (entry[1], replaced(entry[0], number == 1))
    q = read(tmp_path / "out", "quarantine")
    q["source"] = q["source"].str.rsplit("/", n=1).str[-1]
    check_run(tmp_path / "out", q, expected, SCORED_VALUES)


def check_run(out, q: pd.DataFrame, expected: dict, scored: dict) -> None:
    """q: the quarantine, sources as file or topic-partition names; expected: (source, line) ->
    (reason, raw); scored: (device_id, minute) -> (temperature, rpm) as cleaned."""
    lines_in = len(expected) + len(scored)
    s = read(out, "scored")
    assert len(q) + len(s) == lines_in, (len(q), len(s), lines_in)
    got = {(src, int(n)): r for src, n, r in zip(q["source"], q["line"], q["reason"])}
    assert got == {k: r for k, (r, _) in expected.items()}
    raws = {(src, int(n)): raw for src, n, raw in zip(q["source"], q["line"], q["raw"])}
    assert {k: raws[k] for k in expected} == {k: raw for k, (_, raw) in expected.items()}
    minutes = pd.to_datetime(s["ts"]).dt.minute
    values = {
        (d, int(m)): (round(float(t), 9), int(r))
        for d, m, t, r in zip(s["device_id"], minutes, s["temperature"], s["rpm"])
    }
    assert values == scored


@pytest.fixture(scope="module")
def kafka_spark(spark):
    """The session with Spark's Kafka source: its jars added to the running session (ADD JAR),
    as spark-submit --jars would (the session fixture has no connector)."""
    for jar in kafka_jars():
        spark.sql(f"ADD JAR '{jar}'")
    return spark


@pytest.mark.cluster
def test_messy_lines_from_a_kafka_topic(kafka_spark, kafka_broker, ctx, tmp_path):
    from confluent_kafka import Producer  # noqa: PLC0415 (only the Kafka tests need it)
    from confluent_kafka.admin import AdminClient, NewTopic  # noqa: PLC0415

    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap})
    big = {"max.message.bytes": str(4 << 20)}  # the broker's default cap is 1 MB
    for future in admin.create_topics([NewTopic("messy", 1, 1, config=big)]).values():
        future.result(30)
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap, "message.max.bytes": 4 << 20})
    entries = [e for entries, _ in FILES for e in entries if e[1] is not None]
    for entry in entries:  # one partition: message i is offset i, line i + 1
        producer.produce("messy", value=entry[0], partition=0)
    assert producer.flush(60) == 0
    out = tmp_path / "out"
    run_available_now(
        kafka_spark,
        load_spec(SPEC),
        ctx,
        kafka_input(kafka_broker.bootstrap, "messy"),
        str(out),
        echo=lambda m: None,
    )
    expected = {
        ("messy-0", i + 1): (reason(e, kafka=True), replaced(e[0], True))
        for i, e in enumerate(entries)
        if reason(e, kafka=True) != OK
    }
    check_run(out, read(out, "quarantine"), expected, SCORED_VALUES | KAFKA_ONLY)
