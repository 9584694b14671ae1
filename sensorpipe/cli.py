"""The `sensorpipe` command: thin wiring from arguments to the engines.

Exit codes: 0 success, 2 bad usage or invalid spec (the message names the key and the
file), 1 a run that failed (nothing half-written: see sensorpipe.store.base).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys

from sensorpipe import version as package_version
from sensorpipe.core import log
from sensorpipe.core.inputs import InputError
from sensorpipe.core.output import OutputError
from sensorpipe.core.rows import LayoutError
from sensorpipe.core.spec import SpecError, load_spec
from sensorpipe.demo.run import add_arguments as demo_arguments
from sensorpipe.spark.launch import add_submit_arguments, conf_pair, submit_options
from sensorpipe.store import hdfs
from sensorpipe.store.local import LocalStore


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sensorpipe", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"sensorpipe {package_version()}")
    log.add_arguments(p)  # -v / -q / --log-format, before the command: `sensorpipe -q clean ...`
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("clean", help="clean a raw CSV with a spec")
    c.add_argument("--engine", choices=["hadoop", "pipe", "spark"], default="pipe")
    c.add_argument("--spec", required=True)
    c.add_argument("--input", required=True)
    c.add_argument("--output", required=True)
    c.add_argument("--reducers", type=int, default=2, help="reduce tasks per MapReduce pass")
    c.add_argument("--split-mb", type=float, default=32.0, help="MapReduce input split size")
    c.add_argument("--python", help="interpreter the streaming scripts run with on task nodes")
    add_submit_arguments(c)  # --engine spark
    c.add_argument(
        "--format", choices=["parquet", "csv"], default="parquet", help="clean/ format of --engine spark"
    )
    d = sub.add_parser("demo", help="simulate, clean (Hadoop, Spark), train, stream, report: `make demo`")
    demo_arguments(d)
    v = sub.add_parser("validate-spec", help="check a spec file and print its columns")
    v.add_argument("spec")
    _simulate_parser(sub)
    _model_parsers(sub)
    _report_parser(sub)
    _stream_parser(sub)
    _features_parser(sub)
    hdfs.add_parser(sub)
    return p


TRAIN_EXAMPLES = """examples:
  run-to-failure series ([label] rul_max): raw files
    sensorpipe train --spec conf/cmapss.toml --input ../shared/data/cmapss/train_FD001.txt --model models/cmapss
  a fleet's history ([label] horizon_hours): a cleaning output with the simulator's logs
    sensorpipe simulate --spec conf/sensors.toml --devices 30 --hours 720 --interval-s 300 --output out/sim
    sensorpipe clean --spec conf/sensors.toml --input out/sim/sensors.csv --output out/clean
    sensorpipe train --spec conf/sensors.toml --input out/clean --failures out/sim/failures.csv \\
        --maintenance out/sim/maintenance.csv --model models/sensors"""

SIMULATE_EXAMPLES = """examples:
  sensorpipe simulate --spec conf/sensors.toml --devices 30 --hours 720 --interval-s 300 --output out/sim
  sensorpipe simulate --spec conf/sensors.toml --devices 100 --rate 5000 --stream out/landing  # truth: out/landing/_truth
  sensorpipe simulate --spec conf/cmapss.toml --replay ../shared/data/cmapss/test_FD001.txt --rate 5000 \\
      --stream out/landing-cmapss  # failures from RUL_FD001.txt beside it
  sensorpipe simulate --spec conf/sensors.toml --devices 100 --rate 5000 --kafka HOST:9092 --topic t \\
      --truth out/truth"""


def _model_parsers(sub) -> None:
    t = sub.add_parser(
        "train",
        help="train the failure classifier; register it as the current version",
        epilog=TRAIN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument("--spec", required=True, help="spec with [features], [label] and [model] sections")
    t.add_argument(
        "--input",
        required=True,
        nargs="+",
        help="[label] rul_max: raw run-to-failure file(s) (C-MAPSS train_FD001.txt); [label] horizon_hours:"
        " one cleaning output directory (`sensorpipe clean --output DIR` of a simulated history)",
    )
    t.add_argument("--model", required=True, help="registry directory (versions and `current`)")
    t.add_argument("--threads", type=int, help="cap on native threads (default: the libraries' own)")
    t.add_argument(
        "--failures",
        help="failures.csv (device_id,ts,mode) of `simulate --output` or a feed's --truth; required with"
        " [label] horizon_hours, and it must hold failures of the training devices",
    )
    t.add_argument(
        "--engine",
        choices=["pandas", "spark"],
        default="pandas",
        help="spark: features on Spark, a sample to the driver",
    )
    add_submit_arguments(t)  # --engine spark
    t.add_argument("--maintenance", help="maintenance log (device, ts): `since` counts from the last one")
    e = sub.add_parser(
        "evaluate",
        help="judge the current model on test data: C-MAPSS against RUL truth, a fleet per event",
        epilog="examples:\n  sensorpipe evaluate --spec conf/cmapss.toml --model models/cmapss --input"
        " ../shared/data/cmapss/test_FD001.txt \\\n      --truth ../shared/data/cmapss/RUL_FD001.txt"
        " --output out/eval\n  sensorpipe evaluate --spec conf/sensors.toml --model models/sensors --input"
        " out/clean-seed7 \\\n      --failures out/sim-seed7/failures.csv --maintenance"
        " out/sim-seed7/maintenance.csv --output out/eval-fleet",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    e.add_argument("--spec", required=True, help="the spec the model was trained with")
    e.add_argument("--model", required=True, help="registry directory (its `current`) or a version directory")
    e.add_argument(
        "--input",
        required=True,
        help="[label] rul_max: raw test file of series cut before failure (C-MAPSS test_FD001.txt);"
        " [label] horizon_hours: a cleaning output of a history the model did not train on",
    )
    e.add_argument(
        "--truth",
        help="[label] rul_max: remaining useful life at each device's last reading, a line per device (RUL_FD001.txt)",
    )
    e.add_argument(
        "--failures", help="[label] horizon_hours: the test history's failures.csv (device_id,ts,mode)"
    )
    e.add_argument(
        "--maintenance", help="[label] horizon_hours: its maintenance.csv (`since` counts from it)"
    )
    e.add_argument(
        "--output",
        required=True,
        help="directory for metrics.json and predictions.csv (a fleet: metrics.json, alerts.csv, failures.csv)",
    )
    s = sub.add_parser(
        "score",
        help="batch-score raw readings on Spark with the current model",
        epilog="example:\n  sensorpipe score --spec conf/cmapss.toml --model models/cmapss"
        " --input ../shared/data/cmapss/test_FD001.txt --output out/scores",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("--spec", required=True, help="spec with the raw file's layout")
    s.add_argument("--model", required=True, help="registry directory (its `current`) or a version directory")
    s.add_argument(
        "--input", required=True, help="raw readings in the spec's layout (C-MAPSS test_FD001.txt)"
    )
    s.add_argument("--output", required=True, help="Parquet: device, order, probability, alert")
    add_submit_arguments(s)


def _stream_parser(sub) -> None:
    s = sub.add_parser(
        "stream",
        help="score live JSON-lines events on Spark Structured Streaming",
        epilog="example (a simulated feed into a landing directory, scored as it lands):\n"
        "  sensorpipe simulate --spec conf/sensors.toml --devices 50 --rate 1000 --stream out/landing &\n"
        "  sensorpipe stream --spec conf/sensors.toml --model models/sensors --input out/landing"
        " --output out/stream",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("--spec", required=True, help="the spec the events' fields follow (conf/sensors.toml)")
    s.add_argument("--model", required=True, help="registry directory (its `current`) or a version directory")
    source = s.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--input",
        help="landing directory of JSON-lines files (`simulate --stream DIR` writes one; names starting"
        " with _ or . are skipped)",
    )
    source.add_argument(
        "--kafka", metavar="BOOTSTRAP", help="read the events from a Kafka topic (with --topic)"
    )
    s.add_argument("--topic", help="Kafka topic (--kafka)")
    s.add_argument(
        "--output", required=True, help="OUT: scored/, alerts/, quarantine/, checkpoint/, metrics.jsonl"
    )
    s.add_argument(
        "--trigger",
        help="micro-batch interval (250ms, 1s, 2 seconds; 0s: back to back); default: the job's, 250ms",
    )
    s.add_argument("--available-now", action="store_true", help="process the files there, then stop")
    s.add_argument("--max-files-per-trigger", type=int)
    s.add_argument("--maintenance", help="maintenance log (device, ts): `since` counts from the last one")
    s.add_argument(
        "--kafka-option", action="append", default=[], type=conf_pair, metavar="KEY=VALUE",
        help="repeatable, with --kafka: a Spark Kafka source option (maxOffsetsPerTrigger=1000,"
        " startingOffsets=latest) as is, any other key a Kafka client property (security.protocol=SASL_SSL)",
    )  # fmt: skip
    s.add_argument("--metrics-port", type=int, help="serve Prometheus metrics from the driver on this port")
    add_submit_arguments(s)


def cmd_stream(args) -> int:
    from sensorpipe.spark.launch import kafka_connector, run_spark  # noqa: PLC0415

    load_spec(args.spec)
    if args.kafka and not args.topic:
        raise OutputError("stream --kafka needs --topic")
    source = ["--kafka", args.kafka, "--topic", args.topic] if args.kafka else ["--input", args.input]
    job = ["--spec", args.spec, "--model", args.model, *source, "--output", args.output]
    job += (["--trigger", args.trigger] if args.trigger else []) + (
        ["--available-now"] if args.available_now else []
    )
    if args.max_files_per_trigger:
        job += ["--max-files-per-trigger", str(args.max_files_per_trigger)]
    if args.maintenance:
        job += ["--maintenance", args.maintenance]
    if args.kafka_option and not args.kafka:
        raise OutputError("stream --kafka-option needs --kafka")
    job += [a for k, v in args.kafka_option for a in ("--kafka-option", f"{k}={v}")]
    job += ["--metrics-port", str(args.metrics_port)] if args.metrics_port is not None else []
    submit = {**(kafka_connector() if args.kafka else {}), **submit_options(args)}
    return 1 if run_spark("streaming/score_stream.py", job, stoppable=True, **submit) else 0


def _report_parser(sub) -> None:
    r = sub.add_parser("report", help="one self-contained HTML page from earlier runs' outputs")
    r.add_argument("--clean", action="append", default=[], help="a cleaning output directory (repeatable)")
    r.add_argument("--spec", help="the cleaning spec (default: the conf/*.toml whose hash stats.json names)")
    r.add_argument("--model", help="model registry directory (its `current`) or a version directory")
    r.add_argument("--evaluation", help="output directory of `sensorpipe evaluate` (metrics.json)")
    r.add_argument("--stream", help="streaming job output directory (metrics.jsonl, scored/, alerts/)")
    r.add_argument(
        "--history", help="the simulated history the model was trained on (listed with the runs read)"
    )
    r.add_argument(
        "--truth",
        help="the live feed's truth: the directory `simulate --stream LANDING` appends failures.csv to"
        " (LANDING/_truth; LANDING itself also works): the stream's alerts are judged against it per event",
    )
    r.add_argument("--sample-rows", type=int, default=200_000, help="rows read per output for distributions")
    r.add_argument("--output", default="out/report.html")


def _simulate_parser(sub) -> None:
    s = sub.add_parser(
        "simulate",
        help="a fleet's telemetry with faults: history CSV or live JSON lines",
        epilog=SIMULATE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument(
        "--spec",
        required=True,
        help="the columns the readings follow (conf/sensors.toml; with --replay the file's)",
    )
    s.add_argument("--devices", type=int, help="machines in the fleet (not with --replay)")
    s.add_argument("--replay", help="a raw file (e.g. C-MAPSS test_FD001.txt) to replay as the --stream feed")
    where = s.add_mutually_exclusive_group(required=True)
    where.add_argument("--output", help="history: sensors.csv, failures.csv, maintenance.csv, manifest.json")
    where.add_argument("--stream", help="landing directory: events-<seq>.jsonl files appear by atomic rename")
    where.add_argument("--kafka", metavar="BOOTSTRAP", help="publish the JSON events to Kafka (with --topic)")
    s.add_argument("--topic", help="Kafka topic (--kafka)")
    s.add_argument(
        "--kafka-option", action="append", default=[], type=conf_pair, metavar="KEY=VALUE",
        help="a producer property for --kafka (confluent-kafka / librdkafka), repeatable",
    )  # fmt: skip
    s.add_argument(
        "--truth",
        metavar="DIR",
        help="where a feed appends the failures and maintenance it generates, as they happen"
        " (failures.csv, maintenance.csv, as a history's); default: STREAM/_truth with --stream,"
        " truth-TOPIC in the working directory with --kafka",
    )
    s.add_argument(
        "--rul",
        metavar="FILE",
        help="--replay's remaining useful life per unit (C-MAPSS RUL_FD001.txt; default: RUL_<x>"
        " beside a test_<x> replay): failures.csv gets each unit's failure at last cycle + RUL",
    )
    s.add_argument("--hours", type=float, help="simulated hours of history (--output)")
    s.add_argument("--rate", type=float, help="events per second (--stream)")
    s.add_argument("--duration", type=float, help="seconds to stream (default: until Ctrl-C)")
    s.add_argument("--file-interval", type=float, default=1.0, help="seconds between stream files")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--interval-s", type=int, default=60, help="seconds between a device's readings")
    s.add_argument("--start", default="2026-11-01T00:00:00Z", help="first reading's time: ISO-8601 or now")
    for fault in ("missing", "malformed", "stuck", "spike", "duplicate", "late"):
        s.add_argument(f"--{fault}-rate", type=float, help=f"share of readings with a {fault} fault")
    s.add_argument("--clean", action="store_true", help="no faults in the feed (sensor noise stays)")


def cmd_clean(args) -> int:
    load_spec(args.spec)  # a bad spec or output is a usage error (exit 2) before anything runs
    if not hdfs.is_hdfs(args.output):  # an HDFS output is checked where the run opens HDFS
        LocalStore().check_replaceable(args.output)
    if args.engine == "spark":
        from sensorpipe.spark.launch import run_spark  # noqa: PLC0415

        job = ["--spec", args.spec, "--input", args.input, "--output", args.output, "--format", args.format]
        return 1 if run_spark("jobs/clean.py", job, **submit_options(args)) else 0
    from mapreduce.runner import clean  # noqa: PLC0415

    report = clean(
        args.spec,
        args.input,
        args.output,
        engine=args.engine,
        python=args.python,
        split_bytes=max(1, int(args.split_mb * 1024 * 1024)),
        reducers=args.reducers,
    )
    print(
        json.dumps(
            {
                k: report[k]
                for k in ("engine", "rows_in", "rows_clean", "rows_rejected", "rejected_by_reason", "seconds")
            }
        )
    )
    return 0


def cmd_validate(args) -> int:
    spec = load_spec(args.spec)
    for c in spec.columns:
        print(f"{c.name}\t{c.type}\t-> {c.out}{'  (dropped)' if c.name in spec.drop else ''}")
    return 0


def cmd_demo(args) -> int:
    from sensorpipe.demo.run import run as demo  # noqa: PLC0415

    return demo(args)


def cmd_simulate(args) -> int:
    from sensorpipe.sim.command import command  # noqa: PLC0415 (numpy and pyarrow load on demand)

    return command(args)


def _model_run(work):
    """Bad data (a column missing, a truth file that does not fit) is a failed run."""
    try:
        return work()
    except (SpecError, OutputError):
        raise
    except (ValueError, KeyError) as exc:
        raise RuntimeError(str(exc)) from exc


def cmd_train(args) -> int:
    if args.engine == "spark":
        from sensorpipe.spark.launch import run_spark  # noqa: PLC0415

        load_spec(args.spec)
        job = [
            "--spec",
            args.spec,
            "--input",
            *args.input,
            "--model",
            args.model,
            "--failures",
            args.failures or "",
        ]
        job += ["--maintenance", args.maintenance] if args.maintenance else []
        return 1 if run_spark("jobs/train.py", job, **submit_options(args)) else 0
    from sensorpipe.model.workflow import events_table, holdout_table, run_train  # noqa: PLC0415

    publishing = contextlib.nullcontext()
    if "://" in args.model:  # an hdfs:// registry: uploaded, `current` switched through Hadoop's FileSystem
        from sensorpipe.spark.models import hadoop_store  # noqa: PLC0415

        publishing = hadoop_store()
    with publishing as store:
        version, card = _model_run(
            lambda: run_train(
                args.spec, args.input, args.model, args.threads, args.failures, args.maintenance, store
            )
        )
    oof, base = card["metrics"]["out_of_fold"], card["baseline"]["oof"]
    print(f"model {card['model']['name']} -> {version} (current); threshold {card['threshold']:.3f}")
    cv = {name: round(v["average_precision"], 4) for name, v in card["cv"].items()}
    print(f"cv average precision: {json.dumps(cv)}")
    print(f"out of fold: precision {oof['precision']:.3f} recall {oof['recall']:.3f} f1 {oof['f1']:.3f}")
    print(f"baseline {card['baseline']['sensor']}, out of fold: f1 {base['f1']:.3f}")
    if card.get("sample"):
        print(card["sample"])
    if "holdout" in card["metrics"]:
        print(holdout_table(card))
    if "holdout_events" in card["metrics"]:
        print(events_table(card))
    return 0


def cmd_evaluate(args) -> int:
    from sensorpipe.model.workflow import comparison_table, run_evaluate  # noqa: PLC0415

    logs = (args.failures, args.maintenance)
    doc = _model_run(lambda: run_evaluate(args.spec, args.model, args.input, args.truth, args.output, *logs))
    print(f"{doc['label']}, n = {doc['n']}: roc_auc {_num(doc['roc_auc'])}, pr_auc {_num(doc['pr_auc'])}")
    print(comparison_table(doc))
    if doc.get("events"):
        from sensorpipe.model.tables import event_rows, judged_line  # noqa: PLC0415

        base = doc.get("baseline") or {}
        print(judged_line(doc["events"], "test fleet per event"))
        rows = [(doc["model"]["name"], doc["events"])] + ([("baseline", base["events"])] if base else [])
        print("\n".join(event_rows(rows, "test fleet")))
    return 0


def _num(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def cmd_score(args) -> int:
    from sensorpipe.spark.launch import run_spark  # noqa: PLC0415

    load_spec(args.spec)
    LocalStore().check_replaceable(args.output)
    job = ["--spec", args.spec, "--model", args.model, "--input", args.input, "--output", args.output]
    return 1 if run_spark("jobs/score.py", job, **submit_options(args)) else 0


def _features_parser(sub) -> None:
    f = sub.add_parser("features", help="rolling-window features (and labels) of raw readings on Spark")
    f.add_argument("--spec", required=True, help="spec with the raw layout and a [features] section")
    f.add_argument("--input", required=True, help="headerless raw file(s), e.g. C-MAPSS train_FD001.txt")
    f.add_argument("--output", required=True, help="Parquet directory")
    f.add_argument("--no-labels", action="store_true", help="leave out rul and label (test series)")
    add_submit_arguments(f)


def cmd_features(args) -> int:
    """jobs/features.py through spark-submit."""
    from sensorpipe.spark.launch import run_spark  # noqa: PLC0415

    load_spec(args.spec)
    job = ["--spec", args.spec, "--input", args.input, "--output", args.output]
    job += ["--no-labels"] if args.no_labels else []
    return 1 if run_spark("jobs/features.py", job, **submit_options(args)) else 0


def cmd_report(args) -> int:
    from sensorpipe.report.build import command  # noqa: PLC0415 (matplotlib and pyarrow load on demand)

    return command(args)


# the modules of pyproject.toml's extras a command may import late -> the extra that brings each
EXTRAS = {"pyspark": "spark", "pandas": "spark", "pyarrow": "spark", "prometheus_client": "spark"}
EXTRAS |= {"sklearn": "model", "skops": "model", "matplotlib": "model", "threadpoolctl": "model"}
EXTRAS |= {"confluent_kafka": "kafka", "pydoop": "hadoop"}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    log.configure(args.verbosity, args.log_format)  # children (spark-submit, the demo's) inherit it
    try:
        run = {"clean": cmd_clean, "demo": cmd_demo, "validate-spec": cmd_validate, "simulate": cmd_simulate}
        run.update(train=cmd_train, evaluate=cmd_evaluate, score=cmd_score, features=cmd_features)
        run.update(report=cmd_report, hdfs=hdfs.command)
        run.update(stream=cmd_stream)
        return run[args.command](args)
    except (SpecError, OutputError) as exc:
        print(f"sensorpipe: {exc}", file=sys.stderr)
        return 2
    except (InputError, LayoutError, RuntimeError, OSError) as exc:
        print(f"sensorpipe: run failed: {exc}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as exc:  # an engine's extra not installed (pyproject.toml)
        top = (exc.name or "").split(".")[0]
        if top not in EXTRAS:
            raise
        extra = EXTRAS[top]
        print(f"sensorpipe: {args.command} needs {top}: pip install 'sensorpipe[{extra}]'", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("sensorpipe: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
