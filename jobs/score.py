"""Batch-score raw readings on Spark with the registry's current failure model.

    spark-submit --properties-file conf/spark-defaults.conf jobs/score.py --spec conf/cmapss.toml \\
        --model models/cmapss --input ../shared/data/cmapss/test_FD001.txt --output OUT

(`sensorpipe score` runs exactly this; --model may be a local path or an hdfs:// URI.)
Features are jobs/features.py's window expressions (a card's fitted [features.health]:
jobs/health.py, per device); the model runs in the Python workers
through mapInPandas and sensorpipe.model.classifier.score. The driver reads the version
`current` names once (the job's pin: a switch mid-run does not mix two models), verifies it
(sensorpipe.model.registry) and broadcasts its bytes; each worker loads them once. OUT is
Parquet: device, order, probability and alert (probability >= the model's threshold); a
device's first [features] warmup - 1 readings (warming) get a null probability and no alert.
"""

from __future__ import annotations

import argparse
import os
import sys
from functools import partial
from pathlib import Path

import numpy as np
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from jobs.features import read_readings, with_features, write_parquet
from sensorpipe.core.log import configure as configure_logging
from sensorpipe.core.output import OutputError
from sensorpipe.core.spec import SpecError, load_spec
from sensorpipe.model.classifier import score
from sensorpipe.model.features import WARMING
from sensorpipe.model.registry import ModelIntegrityError, Version, cached_model, model_of
from sensorpipe.spark.models import read_model, ship
from sensorpipe.spark.stoppable import die_with_parent, quiet_when_jvm_ends

WORKER_COLUMNS = [T.StructField("worker_pid", T.LongType()), T.StructField("model_load", T.StringType())]


def score_batches(version: Version, keep: list[str], worker_columns: bool, batches):
    """mapInPandas body: the kept columns, probability and alert of each batch of feature rows."""
    model, load = cached_model(version)
    for frame in batches:
        proba = probability(frame, model)
        out = frame[keep].assign(probability=proba, alert=proba >= model.threshold)
        if worker_columns:
            out = out.assign(worker_pid=os.getpid(), model_load=load)
        yield out


def probability(frame, model) -> np.ndarray:
    """The model's failure probability per row; NaN (a null in the output, no alert) for a
    warming reading, as the stream and `sensorpipe evaluate` give it none (sensorpipe.model.features)."""
    warm = frame[WARMING].to_numpy(dtype=bool) if WARMING in frame else np.zeros(len(frame), dtype=bool)
    out = np.full(len(frame), np.nan)
    if not warm.all():
        out[~warm] = score(frame[~warm], model).to_numpy()
    return out


def with_scores(model_dir: str | Path, worker_columns: bool = False):
    """Readings (or rows with features) -> device, order, probability, alert, by the current model.

    The driver reads and verifies the version when the transform is applied (a local path,
    or any URI through Hadoop's FileSystem) and broadcasts its bytes; `worker_columns`
    adds each row's worker pid and the id of the model load that scored it (a counter
    would not do: a cache shipped by value per task would ship a fresh counter too).
    """

    def transform(df: DataFrame) -> DataFrame:
        version = read_model(df.sparkSession, str(model_dir))
        features = model_of(version).features
        # like sensorpipe.model.classifier.score: rows that hold the features already are scored as they are
        featured = set(features.names) <= set(df.columns)
        rows = df if featured else df.transform(with_features(features))
        keep = [features.device, features.order]
        schema = T.StructType(
            [rows.schema[c] for c in keep]
            + [T.StructField("probability", T.DoubleType()), T.StructField("alert", T.BooleanType())]
            + (WORKER_COLUMNS if worker_columns else [])
        )
        # a partial of module functions ships by reference: workers import this module and
        # share its cache; a closure would ship the cache by value, a fresh one per task
        body = partial(score_batches, ship(df.sparkSession, version), keep, worker_columns)
        warming = [WARMING] if WARMING in rows.columns else []  # rows with features of their own: none
        return rows.select(*keep, *features.names, *warming).mapInPandas(body, schema)

    return transform


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Score raw readings with the current model on Spark.")
    ap.add_argument("--spec", required=True, help="spec with the raw file's layout")
    ap.add_argument(
        "--model", required=True, help="registry directory (its `current`) or a version directory"
    )
    ap.add_argument("--input", required=True, help="headerless raw readings")
    ap.add_argument("--output", required=True, help="Parquet directory")
    args = ap.parse_args(argv)
    configure_logging()  # -v / -q / --log-format of `sensorpipe`, through the environment
    try:
        spec = load_spec(args.spec)
    except SpecError as exc:
        print(f"sensorpipe: {exc}", file=sys.stderr)
        return 2
    spark = SparkSession.builder.appName("sensorpipe-score").getOrCreate()
    quiet_when_jvm_ends(spark)
    try:
        scores = with_scores(args.model)  # read, verified and pinned as the plan is built
        write_parquet(spark, read_readings(spark, spec, args.input).transform(scores), args.output)
    except SpecError as exc:
        print(f"sensorpipe: {exc}", file=sys.stderr)
        return 2
    except (ModelIntegrityError, OutputError, ValueError) as exc:
        print(f"sensorpipe: run failed: {exc}", file=sys.stderr)
        return 1
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    die_with_parent()  # the JVM spark-submit started: without it this driver can only fail
    # Run as a script this file is __main__, whose functions Spark would ship by value (a
    # fresh model cache per task); run it as jobs.score so they ship by reference.
    from jobs.score import main as job_main

    sys.exit(job_main())
