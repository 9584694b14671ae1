"""Train the failure model from a fleet's cleaned history with Spark doing the heavy part.

    spark-submit --properties-file conf/spark-defaults.conf jobs/train.py --spec conf/sensors.toml \\
        --input OUT --failures SIM/failures.csv --maintenance SIM/maintenance.csv --model models/sensors

(`sensorpipe train --engine spark` runs exactly this.) OUT is any engine's cleaning output.
Features and labels are computed on the cluster (jobs/features.py: window functions, the
definitions of sensorpipe/features.py); devices are split into training and held-out
devices as the pandas path splits them; only a stratified sample of at most the spec's
[model] max_rows rows per split (each class sampled with the same fraction) reaches the
driver, which trains with scikit-learn and registers the model. The card says when a
sample was used. With [features.health], the fleet's load coefficient is fitted on Spark
first (only two sums reach the driver) and each device's indicators are computed in one
Python worker from its whole history (jobs/health.py): a device's history must fit in one.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.features import fitted, with_failure_labels, with_features
from sensorpipe.core.hashing import file_sha256
from sensorpipe.core.log import configure as configure_logging
from sensorpipe.core.output import OutputError
from sensorpipe.core.spec import Spec, SpecError, load_spec
from sensorpipe.core.transform import sensor_cleaning
from sensorpipe.model.classifier import model_config
from sensorpipe.model.features import WARMING, FeatureConfig, feature_config
from sensorpipe.model.history import split_devices
from sensorpipe.model.labels import label_config
from sensorpipe.model.workflow import dir_fingerprint, fit_and_register
from sensorpipe.spark.hfs import HadoopFS
from sensorpipe.spark.models import model_store
from sensorpipe.spark.stoppable import die_with_parent, quiet_when_jvm_ends


def read_clean(spark: SparkSession, spec: Spec, out: str, columns: list[str]) -> tuple[DataFrame, dict]:
    """(rows, stats.json) of a cleaning output: Spark's Parquet or the CSV parts of the others."""
    fs = HadoopFS(spark)
    if not fs.exists(f"{out}/_SUCCESS"):
        raise ValueError(f"{out}: not a finished cleaning output (no _SUCCESS)")
    stats = json.loads(fs.read_bytes(f"{out}/stats.json").decode("utf-8"))
    names = stats["output_columns"]
    parts = fs.list_inputs(f"{out}/clean")
    if any(p.endswith(".parquet") for p in parts):
        rows = spark.read.parquet(f"{out}/clean")
    else:
        schema = T.StructType([T.StructField(n, T.StringType()) for n in names])
        csv = [p for p in parts if p.rsplit("/", 1)[-1].startswith("part-")]
        rows = spark.read.csv(csv, schema=schema, header=False)
    kinds = {c.out: c.type for c in spec.columns}
    cast = {"timestamp": "timestamp", "int": "double", "float": "double"}
    return rows.select(*[F.col(c).cast(cast.get(kinds.get(c), "string")).alias(c) for c in columns]), stats


def read_log(spark: SparkSession, path: str, config: FeatureConfig) -> DataFrame:
    """failures.csv / maintenance.csv: the device and its time, named as the features name them."""
    log = spark.read.csv(path, header=True)
    missing = [c for c in (config.device, config.order) if c not in log.columns]
    if missing:
        raise ValueError(f"{path}: columns missing: {missing} (has {log.columns})")
    return log.select(config.device, F.col(config.order).cast("timestamp").alias(config.order))


def failure_frame(spark: SparkSession, path: str, config: FeatureConfig):
    """The failure log on the driver (pandas, every column: the event figures count by `mode`),
    its times read by Spark as the readings' are, so the two compare alike."""
    log = spark.read.csv(path, header=True)
    read_log(spark, path, config)  # the same column check
    return log.withColumn(config.order, F.col(config.order).cast("timestamp")).toPandas()


def event_rows(df: DataFrame, total: int, max_rows: int, seed: int, device: str):
    """(every training reading of the devices the alerting is chosen on, note or None).

    The alerting (threshold, quiet) is judged on whole device timelines, never on a row
    sample: up to max_rows training rows, that is every row (None: the frame itself); more,
    and it is every row of a seeded shuffle of the devices, as many as fit in max_rows."""
    if total <= max_rows:
        return None, None
    counts = sorted((r[0], r[1]) for r in df.groupBy(device).count().collect())
    order = np.random.default_rng(seed).permutation(len(counts))
    kept, rows = [], 0
    for i in order:
        if kept and rows + counts[i][1] > max_rows:
            continue
        kept.append(counts[i][0])
        rows += counts[i][1]
    note = (
        f"alerting chosen on every reading of {len(kept)} of {len(counts)} training devices"
        f" ({rows:,} of {total:,} rows; max_rows {max_rows:,})"
    )
    return df.where(F.col(device).isin(kept)).toPandas(), note


def as_utc(frame, column: str, zone: str):
    """frame with column's timestamps as UTC datetimes, as the pandas path reads them
    (toPandas gives them naive, in the session's time zone)."""
    if pd.api.types.is_datetime64_any_dtype(frame[column]) and frame[column].dt.tz is None:
        frame[column] = frame[column].dt.tz_localize(zone).dt.tz_convert("UTC")
    return frame


def sample_to_pandas(df: DataFrame, max_rows: int, seed: int):
    """(pandas frame of at most about max_rows rows, rows before sampling): each label value
    is sampled with the same fraction, so class shares are kept."""
    rows = df.count()
    if rows > max_rows:
        share = max_rows / rows
        df = df.sampleBy("label", fractions={0: share, 1: share}, seed=seed)
    return df.toPandas(), rows


def train(spark: SparkSession, args) -> tuple[str, dict]:
    spec = load_spec(args.spec)
    features, label, config = feature_config(spec), label_config(spec), model_config(spec)
    if "horizon_hours" not in label:
        raise SpecError(
            spec.path, "label", "jobs/train.py trains on a fleet's history: [label] horizon_hours"
        )
    columns = [features.device, features.order, *features.sensors]
    rows, stats = read_clean(spark, spec, args.input, columns)
    maintenance = read_log(spark, args.maintenance, features) if args.maintenance else None
    cleaning = sensor_cleaning(spec, stats, features.sensors)
    # [features.health]'s fleet parameters, on every device as the pandas path fits them
    # (sensorpipe/model/workflow.py): k from hourly medians in Spark, two sums to the driver
    features = fitted(features, rows, cleaning, maintenance)
    labelled = (
        rows.transform(with_features(features, maintenance))
        .where(~F.col(WARMING))  # the readings a model never sees (sensorpipe.model.features)
        .transform(
            with_failure_labels(features, read_log(spark, args.failures, features), label["horizon_hours"])
        )
    )
    devices = [r[0] for r in rows.select(features.device).distinct().collect()]
    _, held_ids = split_devices(devices, config.holdout, config.seed)
    in_held = F.col(features.device).isin(held_ids)
    frame, total = sample_to_pandas(labelled.where(~in_held), config.max_rows, config.seed)
    held, held_total = sample_to_pandas(labelled.where(in_held), config.max_rows, config.seed)
    whole, whole_note = event_rows(
        labelled.where(~in_held), total, config.max_rows, config.seed, features.device
    )
    if not frame["label"].any():  # as the pandas path says it (sensorpipe/model/workflow.py)
        raise ValueError(
            f"{args.failures}: none of the training devices fails within [label] horizon_hours"
            f" ({label['horizon_hours']:g} h) of a reading: a failure model needs failures to learn"
            " from; simulate a longer history (e.g. --hours 720)"
        )
    zone = spark.conf.get("spark.sql.session.timeZone")
    for part in (frame, held) if whole is None else (frame, held, whole):
        for name in features.sensors:  # int columns came as doubles; pandas features use floats
            part[name] = part[name].astype(float)
        as_utc(part, features.order, zone)
    extra = {
        "cleaning": cleaning,
        "maintenance_log": maintenance is not None,
        "holdout_devices": held_ids,
        "engine": "spark",
    }
    if total > config.max_rows or held_total > config.max_rows:
        extra["sample"] = (
            f"features computed on Spark for all {total:,} training and {held_total:,} held-out rows; "
            f"trained on a stratified sample of {len(frame):,} and scored {len(held):,} held-out rows "
            f"(max_rows {config.max_rows:,}), class shares kept"
        )
    if whole_note:
        extra["alerting_sample"] = whole_note
    data = [{"path": args.input, "sha256": _fingerprint(args.input)}]
    data += [{"path": p, "sha256": _fingerprint(p)} for p in (args.failures, args.maintenance) if p]
    # an hdfs:// registry gets the version uploaded and `current` switched through Hadoop's FileSystem
    store = model_store(spark, args.model)
    # as the pandas path: the failure log makes fit_and_register choose the alerting per event
    failures = as_utc(failure_frame(spark, args.failures, features), features.order, zone)
    version, card = fit_and_register(
        spec, frame, held, total, data, extra, args.model, store, failures, whole, features
    )
    return str(version), card


def _fingerprint(path: str) -> str | None:
    """SHA-256 of a local file or cleaning output; None for a remote one (hdfs://)."""
    local = Path(path.removeprefix("file://"))
    if "://" in path.removeprefix("file://") or not local.exists():
        return None
    return dir_fingerprint(local) if local.is_dir() else file_sha256(local)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Train the failure model: Spark features, a sample to the driver."
    )
    ap.add_argument("--spec", required=True, help="spec with [features], [label] horizon_hours and [model]")
    ap.add_argument("--input", required=True, help="a cleaning output directory (any engine)")
    ap.add_argument("--failures", required=True, help="failure log: device, ts, mode")
    ap.add_argument("--maintenance", help="maintenance log: device, ts (moves `since`'s origin)")
    ap.add_argument("--model", required=True, help="registry directory (versions and `current`)")
    args = ap.parse_args(argv)
    configure_logging()  # -v / -q / --log-format of `sensorpipe`, through the environment
    spark = SparkSession.builder.appName("sensorpipe-train").getOrCreate()
    quiet_when_jvm_ends(spark)
    try:
        version, card = train(spark, args)
    except SpecError as exc:
        print(f"sensorpipe: {exc}", file=sys.stderr)
        return 2
    except (OutputError, ValueError, KeyError) as exc:
        print(f"sensorpipe: run failed: {exc}", file=sys.stderr)
        return 1
    finally:
        spark.stop()
    m = card["metrics"].get("holdout", card["metrics"]["out_of_fold"])
    print(f"model {card['model']['name']} -> {version} (current); threshold {card['threshold']:.3f}")
    print(f"held-out devices: precision {m['precision']:.3f} recall {m['recall']:.3f} f1 {m['f1']:.3f}")
    if card.get("alerting"):
        a, e = card["alerting"], card["alerting"]["out_of_fold_events"]
        print(
            f"alerting: quiet {a['quiet']}; out of fold {e['caught']} of {e['judged']} failures caught,"
            f" {e['false_alerts']} false alerts ({a['objective']['max_false_per_device_day']:g} per device-day allowed)"
        )
    for note in ("sample", "alerting_sample"):
        if card.get(note):
            print(card[note])
    return 0


if __name__ == "__main__":
    die_with_parent()  # the JVM spark-submit started: without it this driver can only fail
    sys.exit(main())
