"""`sensorpipe simulate`, wired by sensorpipe.cli (which holds its arguments): check them, then
write a history, land a live feed or replay a raw file, or publish to Kafka, writing the
feed's truth (failures.csv, maintenance.csv: sensorpipe.sim.truth) as it goes; and summarize.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path

from sensorpipe.core.spec import load_spec
from sensorpipe.core.values import parse_timestamp
from sensorpipe.sim.feed import EventStream, run_stream
from sensorpipe.sim.history import write_history
from sensorpipe.sim.text import CLEAN, Rates
from sensorpipe.sim.truth import Truth

log = logging.getLogger(__name__)


def _echo(msg: str) -> None:
    """Progress and summaries: INFO lines on stderr (hidden by -q)."""
    log.info(msg)


def _error(msg: str) -> None:
    """A usage error (exit 2): on stderr whatever the log level."""
    print(f"sensorpipe simulate: {msg}", file=sys.stderr, flush=True)


def _start(text: str, interval_s: int) -> int | None:
    if text == "now":
        return int(time.time()) // interval_s * interval_s
    micros = parse_timestamp(text)
    return None if micros is None else micros // 1_000_000


def _rates(args) -> Rates:
    given = {f.name: getattr(args, f"{f.name}_rate") for f in fields(Rates)}
    return CLEAN if args.clean else Rates(**{k: v for k, v in given.items() if v is not None})


def _problem(args, rates: Rates, start: int | None, replay) -> str | None:
    """What is wrong with the arguments (the first thing found), or a falsy value."""
    kafka = getattr(args, "kafka", None)
    return (
        (replay and not args.stream and "--replay needs --stream DIR")
        or (not replay and (args.devices or 0) < 1 and "--devices must be at least 1")
        or (args.interval_s < 1 and "--interval-s must be at least 1")
        or (not all(0 <= r <= 0.5 for r in asdict(rates).values()) and "fault rates must be within 0..0.5")
        or (start is None and f"--start {args.start!r} is neither ISO-8601, epoch seconds nor 'now'")
        or (args.output and not (args.hours or 0) > 0 and "--output needs --hours > 0")
        or (args.stream and not (args.rate or 0) > 0 and "--stream needs --rate > 0 (events per second)")
        or (args.stream and args.file_interval <= 0 and "--file-interval must be > 0")
        or (kafka and not (args.rate or 0) > 0 and "--kafka needs --rate > 0")
        or (kafka and not args.topic and "--kafka needs --topic")
        or (kafka and args.file_interval <= 0 and "--file-interval must be > 0")
        or (getattr(args, "kafka_option", None) and not kafka and "--kafka-option needs --kafka")
        or (
            args.output
            and getattr(args, "truth", None)
            and "--truth is for a feed: a history's logs go to --output"
        )
        or (getattr(args, "rul", None) and not replay and "--rul needs --replay")
    )


def truth_dir(args) -> Path:
    """--truth, or LANDING/_truth (the stream's file source skips names starting with _), or
    for Kafka truth-<TOPIC> in the working directory."""
    if getattr(args, "truth", None):
        return Path(args.truth)
    return Path(args.stream) / "_truth" if args.stream else Path(f"truth-{args.topic}")


def _history(args, spec, rates: Rates, start: int) -> int:
    m = write_history(
        spec, args.output, args.devices, args.hours, args.seed, args.interval_s, rates, start, _echo
    )
    c = m["counts"]
    _echo(
        f"simulate: {c['readings']:,} readings of {args.devices:,} devices over {args.hours:g} h"
        f" -> {args.output}/sensors.csv ({c['rows']:,} rows) in {m['seconds']:.1f} s,"
        f" {c['readings'] / m['seconds']:,.0f} readings/s"
    )
    _echo(f"  failures {json.dumps(m['failures'])}  maintenance {json.dumps(m['maintenance'])}")
    _echo("  faults " + json.dumps({k: v for k, v in c.items() if k not in ("readings", "rows")}))
    return 0


def _events(args, spec, rates: Rates, start: int, replay):
    if replay:
        from sensorpipe.sim.replay import ReplayStream, default_rul  # noqa: PLC0415

        rul = getattr(args, "rul", None) or default_rul(replay)
        _echo(f"simulate: failures from {rul}" if rul else "simulate: no --rul: failures.csv stays empty")
        return ReplayStream(spec, replay, rul=rul)
    return EventStream(spec, args.devices, args.seed, args.interval_s, rates, start)


def _truth(spec, path: Path, replay) -> Truth:
    """The feed's truth files, headed with the events' device and order names."""
    if not replay:
        return Truth(path)
    from sensorpipe.model.features import feature_config  # noqa: PLC0415

    features, raw = feature_config(spec), {c.out: c.name for c in spec.columns}
    return Truth(path, raw.get(features.device, features.device), raw.get(features.order, features.order))


def _publish(args, events) -> int:
    from sensorpipe.sim.kafka import OptionError, run_kafka  # noqa: PLC0415 (confluent-kafka on demand)

    options = dict(getattr(args, "kafka_option", None) or [])
    pace = (args.rate, args.duration, args.file_interval)
    try:
        k = run_kafka(events, args.kafka, args.topic, *pace, _echo, options=options)
    except OptionError as exc:
        _error(str(exc))
        return 2
    _echo(f"simulate: {k['delivered']:,} events -> topic {args.topic} in {k['seconds']:.1f} s")
    return 0


def _land(args, events) -> int:
    s = run_stream(events, args.stream, args.rate, args.duration, args.file_interval, _echo)
    _echo(
        f"simulate: {s['events']:,} events in {s['files']:,} files -> {args.stream} in {s['seconds']:.1f} s"
    )
    _echo(f"  failures {json.dumps(dict(events.failures))}  generated {json.dumps(s['counts'])}")
    return 0


def command(args) -> int:
    """`sensorpipe simulate`: check the arguments (exit 2), run, summarize on stderr."""
    spec = load_spec(args.spec)
    rates, start = _rates(args), _start(args.start, args.interval_s)
    replay = getattr(args, "replay", None)
    problem = _problem(args, rates, start, replay)
    if problem:
        _error(problem)
        return 2
    if args.output:
        return _history(args, spec, rates, start)
    try:
        events = _events(args, spec, rates, start, replay)
    except (ValueError, OSError) as exc:  # a --rul that is not there or does not fit the replay
        _error(str(exc))
        return 2
    path = truth_dir(args)
    with _truth(spec, path, replay) as truth:
        events.truth = truth
        _echo(f"simulate: truth (failures.csv, maintenance.csv) -> {path}")
        return _publish(args, events) if getattr(args, "kafka", None) else _land(args, events)
