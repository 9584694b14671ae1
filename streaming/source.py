"""Read the landing directory's JSON lines and validate each event with the spec's grammars.

Every field is read as text (from_json turns a JSON number into its text), stripped, a
null token made null, then parsed with the grammars of sensorpipe.core.values as built-in Spark
expressions (sensorpipe.spark.columns, the batch job's; no Python UDF). Reasons, in the
batch job's cascade (sensorpipe.spark.rejects): malformed_row (not UTF-8, not a JSON
object), missing_required, invalid_value; duplicate_key and late are decided later, in the
per-device state.
Lines are numbered per file in the JVM (a file is read whole, as one row, then cut into
lines), so "first" among duplicates means file order, then line order, as in the batch
engines.
"""

from __future__ import annotations

from pyspark.sql import Column as C
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from sensorpipe.core.spec import Spec, SpecError
from sensorpipe.core.values import WHITESPACE
from sensorpipe.model.features import FeatureConfig
from sensorpipe.spark.columns import checked, iso_parts, parse_float, parse_int, parse_timestamp
from sensorpipe.spark.rejects import invalid_value, missing_required, reject_reason

CORRUPT = "_corrupt"
JSON_OPTIONS = {
    "mode": "PERMISSIVE",
    "columnNameOfCorruptRecord": CORRUPT,
    "allowSingleQuotes": "false",  # JSON, not JavaScript: 'x' is a malformed line
    "allowNonNumericNumbers": "false",
}
EVENT_TIME = "_event_time"  # the watermark's column
ORDER = "_order"  # the order column as a long: epoch microseconds, or the int itself
DRAIN = "_drain"  # a job-written line naming a device whose held events are to be released


KAFKA = "kafka://"  # an input "kafka://BOOTSTRAP/TOPIC" reads a Kafka topic instead of a directory


def kafka_input(bootstrap: str, topic: str) -> str:
    return f"{KAFKA}{bootstrap}/{topic}"


def read_kafka(spark: SparkSession, where: str) -> DataFrame:
    """source (topic-partition), line (offset + 1), raw, _drain (false) from a Kafka topic.

    The simulator keys messages by device, so one device's events share a partition and
    "first" among duplicates means offset order there. Needs the Kafka connector jars
    (sensorpipe.spark.launch.kafka_jars)."""
    bootstrap, _, topic = where.removeprefix(KAFKA).partition("/")
    if not bootstrap or not topic:
        raise ValueError(f"{where}: expected kafka://BOOTSTRAP/TOPIC")
    records = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
        .option("failOnDataLoss", "true")
        .load()
    )
    return records.select(
        F.concat_ws("-", "topic", F.col("partition").cast("string")).alias("source"),
        (F.col("offset") + 1).alias("line"),
        F.col("value").cast("string").alias("raw"),
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
    lines = files.select("source", F.posexplode(F.split("value", "\r\n|\r|\n")).alias("pos", "raw"))
    # a file's final line break leaves an empty last piece, dropped with the blank lines
    return lines.where(_not_blank("raw")).select(
        "source", (F.col("pos") + 1).alias("line"), "raw", F.lit(False).alias(DRAIN)
    )


def read_drain(spark: SparkSession, where: str) -> DataFrame:
    """The job's own drain requests (streaming/restarts.py writes them): one JSON line per device."""
    return spark.readStream.text(where).select(
        F.col("_metadata.file_path").alias("source"), F.lit(0).cast("long").alias("line"),
        F.col("value").alias("raw"), F.lit(True).alias(DRAIN),
    )  # fmt: skip


def with_validated(spec: Spec, features: FeatureConfig):
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

    def transform(lines: DataFrame) -> DataFrame:
        parsed = lines.select(*keep, F.from_json("raw", schema, JSON_OPTIONS).alias("_j"))
        malformed = (
            ~F.is_valid_utf8("raw")
            | ~F.ltrim("raw", F.lit(WHITESPACE)).startswith("{")
            | F.col("_j").isNull()
            | F.col("_j").getField(CORRUPT).isNotNull()
        )
        texts = parsed.select(
            *keep, malformed.alias("_malformed"), *[_text(spec, c).alias(f"_t_{c.name}") for c in fields]
        )
        t = {c.name: F.col(f"_t_{c.name}") for c in fields}
        # staged as the batch job does: each select refers to the previous one's columns, so
        # no regex result is copied into several places of one expression (Spark would run each copy)
        stamps = [c for c in fields if c.type == "timestamp"]
        texts = texts.select("*", *[iso_parts(t[c.name]).alias(f"_iso_{c.name}") for c in stamps])
        parsed_ = texts.select(
            *keep, "_malformed",
            missing_required((c, t[c.name]) for c in fields).alias("_missing"),
            *[t[c.name].alias(f"_t_{c.name}") for c in fields if c.rejects_invalid],
            *[_parsed(t[c.name], c).alias(f"_p_{c.name}") for c in fields],
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
            "reason", *keep,
        )  # fmt: skip

    return transform


def _parsed(text: C, col) -> C:
    """A field's value by its type's grammar (sensorpipe.spark.columns), unchecked; text as is."""
    if col.type == "timestamp":
        return parse_timestamp(text, F.col(f"_iso_{col.name}"))
    return {"float": parse_float, "int": parse_int}.get(col.type, lambda x: x)(text)


def _not_blank(line: str) -> C:
    """Some character that is not whitespace. (Trimming the left end only is enough, and
    cheaper: Spark's right trim with a set of characters indexes the whole line first.)"""
    return F.ltrim(line, F.lit(WHITESPACE)) != ""


def _text(spec: Spec, col) -> C:
    """A field's stripped text; null when absent or a null token."""
    text = F.btrim(F.col("_j").getField(col.name), F.lit(WHITESPACE))
    return F.when(~text.isin(list(spec.null_tokens)), text)
