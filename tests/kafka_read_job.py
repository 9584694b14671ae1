"""A topic read back in batch with Spark's Kafka source, for tests/test_kafka.py.

    spark-submit --jars "$(python -c 'from sensorpipe.spark.launch import kafka_jars; print(",".join(kafka_jars()))')" \\
        tests/kafka_read_job.py --bootstrap 127.0.0.1:9092 --topic events --output OUT

OUT is JSON lines: key and value as text, partition and offset.
"""

from __future__ import annotations

import argparse

from pyspark.sql import SparkSession
from pyspark.sql import functions as F


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--output", required=True)
    args = ap.parse_args()
    spark = SparkSession.builder.appName("sensorpipe-kafka-read").getOrCreate()
    try:
        rows = (
            spark.read.format("kafka")
            .option("kafka.bootstrap.servers", args.bootstrap)
            .option("subscribe", args.topic)
            .option("startingOffsets", "earliest")
            .option("endingOffsets", "latest")
            .load()
        )
        texts = rows.select(
            F.col("key").cast("string").alias("key"),
            F.col("value").cast("string").alias("value"),
            "partition",
            "offset",
        )
        texts.coalesce(1).write.json(args.output)
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
