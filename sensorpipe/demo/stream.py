"""The demo's last steps: the streaming job scores a live simulated feed (its per-batch lines
and each alert printed as they come), then the HTML report, whose stream section judges the
alerts against the feed's truth (landing/_truth); the same figures are printed last.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path

from sensorpipe.demo.procs import command_line, descendants, python_module
from sensorpipe.demo.session import SPEC, Demo, StepFailed

STARTUP_S = 240.0  # a Spark session on a busy machine
CATCH_UP_S = 300.0  # after the feed ends, for the job to read the last files
STOP_S = 30.0  # for the job to stop its query and session
SHOWN_ALERTS = 20


def stream_command(d: Demo, args, landing: Path, out: Path) -> list[str]:
    """`sensorpipe stream` on the live feed's landing directory."""
    job = ["--spec", str(SPEC), "--model", str(d.out / "model"), "--input", str(landing)]
    job += ["--output", str(out), "--trigger", args.trigger]
    return python_module("sensorpipe.cli", "stream", *job)


def feed_rate(args) -> float:
    """Events per second for --feed-days of event time in --stream-seconds (or --rate)."""
    if args.rate:
        return float(args.rate)
    readings = args.feed_days * 86400 / args.interval_s * args.devices
    return round(readings / args.stream_seconds)


def stream(d: Demo, args, n: int) -> None:
    rate = feed_rate(args)
    days = rate * args.stream_seconds * args.interval_s / args.devices / 86400
    feed = f"{rate:g} events/s for {args.stream_seconds:g} s: {days:.1f} days of event time"
    d.step(n, f"stream: score a live feed ({feed}; a micro-batch every {args.trigger})")
    landing, out = d.out / "landing", d.out / "stream"
    landing.mkdir()
    cmd = stream_command(d, args, landing, out)
    job = d.procs.start("stream", cmd)
    _wait_started(job, out)
    sim = ["simulate", "--spec", SPEC, "--devices", args.devices, "--stream", landing, "--start", "now"]
    sim += ["--rate", rate, "--duration", args.stream_seconds, "--interval-s", args.interval_s]
    feed = d.procs.start("feed", python_module("sensorpipe.cli", *sim, "--seed", args.seed + 1))
    alerts = AlertPrinter(out / "alerts", d.say)
    while feed.poll() is None:
        alerts.poll()
        if job.poll() is not None:
            raise StepFailed(f"the streaming job ended early (exit {job.returncode})")
        time.sleep(0.5)
    if d.procs.wait(feed):
        raise StepFailed(f"the feed exited with {feed.returncode}")
    landed = sum(p.read_bytes().count(b"\n") for p in landing.glob("events-*.jsonl"))
    d.say(f"      feed done: {landed:,} events landed; waiting for the job to read them all")
    deadline = time.monotonic() + CATCH_UP_S
    while _events_read(out) < landed and time.monotonic() < deadline and job.poll() is None:
        alerts.poll()
        time.sleep(0.5)
    log = d.out / "logs" / "stream.log"
    d.say(f"      {_events_read(out):,} events read; stopping the live job (its whole output: {log})")
    d.procs.mute(job)  # Spark's stack traces of a query stopped from outside say nothing new
    _stop_job(d, job)
    d.say("      final drain: `sensorpipe stream --available-now` scores what the devices still hold")
    if d.procs.run("drain", [*cmd, "--available-now"]):
        raise StepFailed("the final drain of the streaming job failed")
    alerts.poll()
    scored = _rows(out / "scored")
    d.done(f"{landed:,} events, {scored:,} scored, {alerts.count:,} alerts -> {out}")


def _stop_job(d: Demo, job) -> None:
    """SIGINT to the job's Python driver, which stops the query and the session (spark-submit
    then ends too); if that takes too long, SIGTERM and SIGKILL to the job's process groups."""
    drivers = [p for p in descendants(job.pid) if _is_driver(command_line(p))]
    for pid in drivers or [job.pid]:  # none: the job's own process runs the query
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)
    rc = d.procs.stop(job, first=None, grace=STOP_S)
    d.say(f"      streaming job stopped (exit {rc})")


def _is_driver(argv: list[str]) -> bool:
    return len(argv) > 1 and Path(argv[0]).name.startswith("python") and argv[1].endswith("score_stream.py")


def _wait_started(job, out: Path) -> None:
    """The query has started once it has written its checkpoint's metadata."""
    deadline = time.monotonic() + STARTUP_S
    while not (out / "checkpoint" / "metadata").exists():
        if job.poll() is not None:
            raise StepFailed(f"the streaming job exited with {job.returncode} before its query started")
        if time.monotonic() > deadline:
            raise StepFailed(f"the streaming job's query did not start within {STARTUP_S:.0f} s")
        time.sleep(0.5)


def _events_read(out: Path) -> int:
    """Event lines the job has read, from its per-batch metrics (a replayed batch counts once)."""
    batches = {}
    try:
        lines = (out / "metrics.jsonl").read_text().splitlines()
    except OSError:
        return 0
    for line in lines:
        try:
            doc = json.loads(line)
        except ValueError:
            continue  # the line being written
        batches[doc["batchId"]] = doc.get("observedMetrics", {}).get("sensorpipe", {}).get("events", 0)
    return sum(batches.values())


def _rows(sink: Path) -> int:
    import pyarrow.parquet as pq  # noqa: PLC0415

    return sum(pq.ParquetFile(p).metadata.num_rows for p in sorted(sink.glob("batch-*.parquet")))


class AlertPrinter:
    """Prints the rows of each alerts/ file as the job commits it."""

    def __init__(self, sink: Path, echo):
        self.sink, self.echo, self.seen, self.count = sink, echo, set(), 0

    def poll(self) -> None:
        import pyarrow.parquet as pq  # noqa: PLC0415

        for path in sorted(self.sink.glob("batch-*.parquet")):
            if path.name in self.seen:
                continue
            self.seen.add(path.name)
            for a in pq.read_table(path).to_pylist():
                self.count += 1
                if self.count <= SHOWN_ALERTS:
                    device, ts = next(iter(a.values())), a.get("ts")
                    when = f"{ts:%Y-%m-%d %H:%M} UTC" if hasattr(ts, "strftime") else ts
                    self.echo(
                        f"   ALERT   | {device} at {when}: failure probability"
                        f" {a['probability']:.2f} (threshold {a['threshold']:.2f}); top sensors {a['top_sensors']}"
                    )
                elif self.count == SHOWN_ALERTS + 1:
                    self.echo("   ALERT   | ... more: the batch lines count them, the report lists them")


def report(d: Demo, n: int) -> Path:
    d.step(n, "write the HTML report")
    path = d.out / "report.html"
    d.sensorpipe(
        "report",
        "report",
        *(a for out in sorted(d.out.glob("clean-*")) for a in ("--clean", out)),  # hadoop|pipe, spark
        *("--model", d.out / "model", "--stream", d.out / "stream", "--history", d.out / "sim"),
        *("--truth", d.out / "landing" / "_truth", "--output", path),
    )
    d.done(f"{path} ({path.stat().st_size / 1e6:.1f} MB)")
    return path


def live_figures(d: Demo) -> None:
    """The stream's alerts judged against the feed's truth, as the report's stream section does."""
    from sensorpipe.report.build import objective  # noqa: PLC0415 (pandas, pyarrow)
    from sensorpipe.report.live import NO_ALERTS, judge_live, read_spans, truth_failures  # noqa: PLC0415
    from sensorpipe.report.stream import read_alerts  # noqa: PLC0415

    out = d.out / "stream"
    alerts, spans = read_alerts(out / "alerts"), read_spans(out / "scored")
    failures = truth_failures(d.out / "landing" / "_truth")
    if spans is None or failures is None:
        d.say("\nlive: no scored rows or no truth to judge the alerts against")
        return
    m = judge_live(
        NO_ALERTS if alerts is None else alerts, failures, spans, objective(d.out / "model", None)
    )[0]
    modes = ", ".join(f"{k} {v['caught']}/{v['caught'] + v['missed']}" for k, v in m["by_mode"].items())
    lead = f"{m['lead_median_hours']:.1f} h" if m["lead_median_hours"] is not None else "-"
    rate = f"{m['false_per_device_day']:.3f}" if m["false_per_device_day"] is not None else "-"
    d.say(
        f"\nlive, judged against the feed's truth: {m['caught']} of {m['judged']} failures caught"
        f" ({modes or 'none judged'}; {m['unjudged']} unjudged: watched under {m['window_hours']:g} h),"
        f" median lead {lead}; {m['false_alerts']} false of {m['alerts']} alerts, {rate} per device-day"
        f" over {m['device_days']:.1f} device-days"
    )
