"""Read the landing directory's JSON lines and validate each event with the spec's grammars.

Every field is read as text (from_json turns a JSON number into its text), stripped, a
null token made null, then parsed with the grammars of sensorpipe.core.values as built-in Spark
expressions (sensorpipe.spark.columns, the batch job's; no Python UDF). Reasons, in the
batch job's cascade (sensorpipe.spark.rejects): malformed_row (bytes that are not UTF-8, not
exactly one JSON object, a key repeated in an object), missing_required, invalid_value (an
object or array where a value belongs is invalid too); duplicate_key and late are decided
later, in the per-device state. A UTF-8 BOM is dropped at the start of a landing file, as the
batch engines do, and of a Kafka message (a whole JSON text); the quarantine keeps each line
with its bad bytes as U+FFFD. tests/test_stream_messy.py holds a corpus of such lines.
A line of the common shape (the spec's keys in its order, no whitespace, plain ASCII values:
what the simulator and most producers write) skips both JSON parses: one regex over the whole
line (fast_line_regex) cuts it into its values, each then cast as its grammar would
(tests/test_stream_source.py compares the two paths line by line).
Lines are numbered per file in the JVM (a file is read whole, as one row, then cut into
lines), so "first" among duplicates means file order, then line order, as in the batch
engines.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode

from pyspark.sql import Column as C
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from sensorpipe.core.rows import BOM
from sensorpipe.core.spec import Spec, SpecError
from sensorpipe.core.values import WHITESPACE
from sensorpipe.model.features import FeatureConfig
from sensorpipe.spark.columns import (
    FAST_ISO,
    checked,
    from_fixed_iso,
    iso_parts,
    parse_float,
    parse_int,
    parse_timestamp,
)
from sensorpipe.spark.rejects import invalid_value, missing_required, reject_reason

CORRUPT = "_corrupt"
JSON_OPTIONS = {
    "mode": "PERMISSIVE",
    "columnNameOfCorruptRecord": CORRUPT,
    "allowSingleQuotes": "false",  # JSON, not JavaScript: 'x' is a malformed line
    "allowNonNumericNumbers": "false",
}
VARIANT = "_variant"  # the line parsed as a variant (inside {"_": ...})
EVENT_TIME = "_event_time"  # the watermark's column
ORDER = "_order"  # the order column as a long: epoch microseconds, or the int itself
DRAIN = "_drain"  # a job-written line naming a device whose held events are to be released
FAST = "_fast"  # a common-shape line cut into its values (fast_line_regex)
SEP = "\u0001"  # between the values of a cut line (no such character in a line of that shape)


KAFKA = "kafka://"  # an input "kafka://BOOTSTRAP/TOPIC[?OPTIONS]" reads a Kafka topic instead of a directory
# Spark's Kafka source options (case-insensitive) that --kafka-option passes as they are; any
# other key is a Kafka client property, passed as kafka.<key> (a key given as kafka.<key> too)
SOURCE_OPTIONS = {
    "startingOffsets", "startingOffsetsByTimestamp", "startingTimestamp",
    "startingOffsetsByTimestampStrategy", "failOnDataLoss", "maxOffsetsPerTrigger",
    "minOffsetsPerTrigger", "maxTriggerDelay", "minPartitions", "maxRecordsPerPartition",
    "groupIdPrefix", "includeHeaders", "kafkaConsumer.pollTimeoutMs", "fetchOffset.numRetries",
    "fetchOffset.retryIntervalMs",
}  # fmt: skip
OWN_OPTIONS = {"subscribe", "subscribePattern", "assign", "kafka.bootstrap.servers"}  # --kafka, --topic


def kafka_input(bootstrap: str, topic: str, options: dict | None = None) -> str:
    """The input naming a topic; options (from --kafka-option) ride along as its query string."""
    return f"{KAFKA}{bootstrap}/{topic}" + (f"?{urlencode(options)}" if options else "")


def option_pair(text: str) -> tuple[str, str]:
    """ "KEY=VALUE" (a --kafka-option) -> (KEY, VALUE); the value may hold "=" itself."""
    key, eq, value = text.partition("=")
    if not eq or not key.strip():
        raise ValueError(f"--kafka-option {text!r}: expected KEY=VALUE")
    return key.strip(), value


def source_options(options: dict) -> dict:
    """--kafka-option pairs -> Spark's Kafka source options (see SOURCE_OPTIONS)."""
    spark_names = {name.lower(): name for name in SOURCE_OPTIONS}
    out = {}
    for key, value in options.items():
        name = spark_names.get(key.lower()) or (key if key.startswith("kafka.") else f"kafka.{key}")
        if {key.lower(), name.lower()} & {k.lower() for k in OWN_OPTIONS}:
            raise ValueError(f"--kafka-option {key}: set by --kafka / --topic")
        out[name] = value
    return out


def read_kafka(spark: SparkSession, where: str) -> DataFrame:
    """source (topic-partition), line (offset + 1), raw, _drain (false) from a Kafka topic.

    The simulator keys messages by device, so one device's events share a partition and
    "first" among duplicates means offset order there. Needs the Kafka connector jars
    (sensorpipe.spark.launch.kafka_jars)."""
    where, _, query = where.partition("?")
    bootstrap, _, topic = where.removeprefix(KAFKA).partition("/")
    if not bootstrap or not topic:
        raise ValueError(f"{where}: expected kafka://BOOTSTRAP/TOPIC")
    options = {"startingOffsets": "earliest", "failOnDataLoss": "true"}
    options.update(source_options(dict(parse_qsl(query, keep_blank_values=True))))
    records = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("subscribe", topic)
        .options(**options)
        .load()
    )
    return records.select(
        F.concat_ws("-", "topic", F.col("partition").cast("string")).alias("source"),
        (F.col("offset") + 1).alias("line"),
        _without_bom(F.col("value").cast("string")).alias("raw"),  # bytes kept as they are
        F.lit(False).alias(DRAIN),
    ).where(_not_blank("raw"))


def read_lines(spark: SparkSession, landing: str, max_files: int | None = None) -> DataFrame:
    """source, line (1-based), raw, _drain (false): one row per non-blank line of each new file
    (or each message of a Kafka topic, for an input kafka://BOOTSTRAP/TOPIC)."""
    if landing.startswith(KAFKA):
        return read_kafka(spark, landing)
    reader = spark.readStream
    if max_files:
        reader = reader.option("maxFilesPerTrigger", str(max_files))
    # a row per file (never split), cut into lines as Hadoop's LineRecordReader cuts them
    # (LF, CRLF or CR) and numbered, all in the JVM
    files = reader.text(landing, wholetext=True).select(F.col("_metadata.file_path").alias("source"), "value")
    lines = files.select("source", F.posexplode(_cut_lines(F.col("value"))).alias("pos", "raw"))
    # a file's final line break leaves an empty last piece, dropped with the blank lines
    raw = F.when(F.col("pos") == 0, _without_bom(F.col("raw"))).otherwise(F.col("raw"))
    return lines.select(
        "source", (F.col("pos") + 1).alias("line"), raw.alias("raw"), F.lit(False).alias(DRAIN)
    ).where(_not_blank("raw"))


def _cut_lines(text: C) -> C:
    """array<string>: the lines of a file (LF, CRLF or CR), each with its own bytes.

    Spark's split decodes its input as Java text, so a byte that is not UTF-8 would already be
    U+FFFD in its line, which would then pass as UTF-8. A file with such bytes (rare) is cut
    on its bytes instead: as hex pairs, each followed by a comma, so that a line break's code
    can only match a whole byte ("0A," starts at a pair), then each line's hex back to bytes."""
    pairs = F.regexp_replace(F.hex(text), "(..)", "$1,")
    by_bytes = F.transform(
        F.split(pairs, "0D,0A,|0D,|0A,"),
        lambda h: F.unhex(F.replace(h, F.lit(","), F.lit(""))).cast("string"),
    )
    return F.when(F.is_valid_utf8(text), F.split(text, "\r\n|\r|\n")).otherwise(by_bytes)


def _without_bom(text: C) -> C:
    """A leading UTF-8 BOM dropped (the batch engines drop it at the start of a file)."""
    return F.when(text.startswith(BOM), F.substr(text, F.lit(2))).otherwise(text)


def read_drain(spark: SparkSession, where: str) -> DataFrame:
    """The job's own drain requests (streaming/restarts.py writes them): one JSON line per device."""
    return spark.readStream.text(where).select(
        F.col("_metadata.file_path").alias("source"), F.lit(0).cast("long").alias("line"),
        F.col("value").alias("raw"), F.lit(True).alias(DRAIN),
    )  # fmt: skip


def with_validated(spec: Spec, features: FeatureConfig, fast: bool = True):
    """Lines -> device, _order, _event_time, sensors (doubles, raw), reason, raw, source, line, _drain.

    In stages, each selecting only what the next refers to: JSON; stripped texts; typed
    values; the reason and the event columns.
    """
    by_out = {c.out: c for c in spec.columns}
    order_col = by_out[features.order]
    if order_col.type not in ("timestamp", "int"):
        raise SpecError(spec.path, "features.order", "the stream needs a timestamp or int order column")
    schema = T.StructType([T.StructField(c.name, T.StringType()) for c in spec.columns])
    schema = schema.add(CORRUPT, T.StringType())
    keep = ["raw", "source", "line", DRAIN]
    used = [c for c in spec.columns if c.out in (features.device, features.order, *features.sensors)]
    fields = [c for c in spec.columns if c.required or c.rejects_invalid or c in used]

    fast_regex = fast_line_regex(spec) if fast else None

    def transform(lines: DataFrame) -> DataFrame:
        # A line of the common shape (fast_line_regex: the spec's keys in its order, no
        # whitespace, plain ASCII values) is one JSON object without a repeated key or text
        # after it, by its shape: one regex match cuts it into its values, no JSON parser runs.
        # Any other line takes the full path, two parses, each blind where the other sees:
        # Spark's JSON parser stops after the first value, so the line is parsed inside "[...]"
        # (text after the object breaks the array, or makes it longer, unless it starts with
        # "]") and, as a variant, inside {"_": ...} (broken unless the text after starts with
        # "}"; the variant parser also refuses a key repeated in any object, where from_json
        # would keep the last value). Each expression below asks only for its own path's
        # columns (CASE WHEN evaluates the branch it takes).
        # a matched line becomes SEP + its values, a line that does not match stays as it is
        groups = SEP + SEP.join(f"${i + 1}" for i in range(len(spec.columns)))
        cut = F.split(F.regexp_replace("raw", fast_regex, groups), SEP) if fast_regex else F.lit(None)
        cut_ = lines.select(
            *keep, F.when(F.col("raw").startswith("{"), cut).cast("array<string>").alias(FAST)
        )
        is_fast = F.coalesce(
            (F.size(FAST) == len(spec.columns) + 1) & (F.element_at(FAST, 1) == ""), F.lit(False)
        )
        full = ~F.col("_fast_line")
        parsed = cut_.select(*keep, FAST, is_fast.alias("_fast_line")).select(
            *keep, FAST, "_fast_line",
            F.when(full, F.from_json(F.concat(F.lit("["), "raw", F.lit("]")), T.ArrayType(schema), JSON_OPTIONS)).alias("_js"),
            F.when(full, F.try_parse_json(F.concat(F.lit('{"_":'), "raw", F.lit("}")))).alias(VARIANT),
        )  # fmt: skip
        malformed = (
            ~F.is_valid_utf8("raw")
            | ~_left_trimmed("raw").startswith("{")
            | (F.size("_js") != 1)  # null (a parse error) or another value after the object
            | _json().isNull()
            | _json().getField(CORRUPT).isNotNull()
            | F.col(VARIANT).isNull()
        )
        position = {c.name: i + 2 for i, c in enumerate(spec.columns)}  # in FAST: 1 is the empty head
        texts = parsed.select(
            *keep, VARIANT, "_fast_line",
            F.when(full, malformed).otherwise(F.lit(False)).alias("_malformed"),
            *[
                F.when(full, _text(spec, c)).otherwise(_fast_text(spec, c, F.element_at(FAST, position[c.name])))
                .alias(f"_t_{c.name}")
                for c in fields
            ],
        )  # fmt: skip
        t = {c.name: F.col(f"_t_{c.name}") for c in fields}
        # staged as the batch job does: each select refers to the previous one's columns, so
        # no regex result is copied into several places of one expression (Spark would run each copy)
        stamps = [c for c in fields if c.type == "timestamp"]
        texts = texts.select(
            "*", *[F.when(full, iso_parts(t[c.name])).alias(f"_iso_{c.name}") for c in stamps]
        )
        parsed_ = texts.select(
            *keep, "_malformed",
            missing_required((c, t[c.name]) for c in fields).alias("_missing"),
            *[t[c.name].alias(f"_t_{c.name}") for c in fields if c.rejects_invalid],
            *[
                F.when(full, _parsed(t[c.name], c)).otherwise(_fast_value(t[c.name], c)).alias(f"_p_{c.name}")
                for c in fields
            ],
        )  # fmt: skip
        typed_ = parsed_.select(
            *keep, "_malformed", "_missing",
            *[f"_t_{c.name}" for c in fields if c.rejects_invalid],
            *[checked(F.col(f"_p_{c.name}"), c).alias(f"_v_{c.name}") for c in fields],
        )  # fmt: skip
        invalid = invalid_value(
            (c, F.col(f"_t_{c.name}"), F.col(f"_v_{c.name}")) for c in fields if c.rejects_invalid
        )
        reason = F.when(~F.col(DRAIN), reject_reason(F.col("_malformed"), F.col("_missing"), invalid))
        staged = typed_.select(*keep, *[f"_v_{c.name}" for c in fields], reason.alias("reason"))
        value = {c.out: F.col(f"_v_{c.name}") for c in fields}
        order = value[features.order]
        micros = order if order_col.type == "timestamp" else order * F.lit(1_000_000)
        return staged.select(
            value[features.device].alias(features.device),
            order.cast("bigint").alias(ORDER),
            F.when(F.col("reason").isNull() & ~F.col(DRAIN), F.timestamp_micros(micros)).alias(EVENT_TIME),
            *[value[s].cast("double").alias(s) for s in features.sensors],
            "reason",
            F.make_valid_utf8("raw").alias("raw"),  # as the batch engines quote it: bad bytes as U+FFFD
            *[k for k in keep if k != "raw"],
        )  # fmt: skip

    return transform


def _parsed(text: C, col) -> C:
    """A field's value by its type's grammar (sensorpipe.spark.columns), unchecked; a text as
    is, unless it was a JSON object or array (from_json gives those as their JSON text)."""
    if col.type == "timestamp":
        return parse_timestamp(text, F.col(f"_iso_{col.name}"))
    if col.type in ("float", "int"):
        return {"float": parse_float, "int": parse_int}[col.type](text)
    # the variant tells a JSON string "{...}" from an object; asked only of texts that could be one
    members = F.try_variant_get(VARIANT, "$._", "map<string,variant>")
    kind = F.schema_of_variant(members[col.name])
    could_be = text.startswith("{") | text.startswith("[")
    return F.when(~could_be, text).when(~kind.startswith("OBJECT") & ~kind.startswith("ARRAY"), text)


def _not_blank(line: str) -> C:
    """Some character that is not whitespace. (Trimming the left end only is enough, and
    cheaper: Spark's right trim with a set of characters indexes the whole line first.)"""
    return _left_trimmed(line) != ""


def _left_trimmed(name: str) -> C:
    """The column's text without its leading whitespace, in the SQL form of the trim: the
    two-argument F.ltrim is the same expression, and Spark logs it as deprecated."""
    chars = "".join(f"\\u{ord(c):04x}" for c in WHITESPACE)
    return F.expr(f"TRIM(LEADING '{chars}' FROM `{name}`)")


def _json() -> C:
    """The line's object by from_json (parsed inside "[...]": the array's one element)."""
    return F.try_element_at("_js", F.lit(1))


def _text(spec: Spec, col) -> C:
    """A field's stripped text; null when absent or a null token."""
    text = F.btrim(_json().getField(col.name), F.lit(WHITESPACE))
    return F.when(~text.isin(list(spec.null_tokens)), text)


# The fast path (as jobs/parse.py's fast_line_regex for CSV): a line whose every field has its
# common shape. JSON's own number grammar (so that "01", "1." or "+1" stay malformed_row on the
# full path), a string of printable ASCII without space, quote or backslash (no escapes, nothing
# to strip), an ISO timestamp of the fixed shape, or null.
JSON_NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
JSON_INT = r"-?(?:0|[1-9][0-9]*)"
PLAIN_CHARS = r"[!#-\[\]-~]"  # 0x21-0x7e without '"' (0x22) and '\\' (0x5c)


def _fast_shape(col) -> str:
    """A field's common shape as JSON text (quotes included for a string)."""
    if col.type == "float":
        return JSON_NUMBER
    if col.type == "int":
        return JSON_INT
    if col.type == "timestamp":
        return f'"{FAST_ISO}"'
    return f'"{PLAIN_CHARS}*"'


def fast_line_regex(spec: Spec) -> str | None:
    """One regex (Java's and Python's alike) for a line that is exactly one JSON object with
    the spec's keys in the spec's order, each value in its common shape or null, no whitespace;
    each value (its JSON text) a group. None when a key would need JSON escaping."""
    if not all(re.fullmatch(r"[A-Za-z0-9_]+", c.name) for c in spec.columns):
        return None
    fields = [f'"{c.name}":({_fast_shape(c)}|null)' for c in spec.columns]
    return r"^\{" + ",".join(fields) + r"\}\z"


def _fast_text(spec: Spec, col, value: C) -> C:
    """A fast line's field as _text gives it: null for JSON null (or a null token), a string's
    text without its quotes, a number's text as it is."""
    text = F.substr(value, F.lit(2), F.length(value) - 2) if _fast_shape(col).startswith('"') else value
    text = F.when(value != "null", text)
    inner = _fast_shape(col).strip('"')
    if any(re.fullmatch(inner, t) for t in spec.null_tokens):
        text = F.when(~text.isin(list(spec.null_tokens)), text)
    return text


def _fast_value(text: C, col) -> C:
    """A fast field's value as _parsed gives it: its shape is one the grammar accepts as it is."""
    if col.type == "float":
        return text.try_cast("double")
    if col.type == "int":
        return text.try_cast("bigint")
    if col.type == "timestamp":
        return from_fixed_iso(text)
    return text
