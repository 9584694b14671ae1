"""The live proof (issue 15): stream another seed's fleet and judge the alerts against its truth.

    .venv/bin/python bench/live.py [--out out/live] [--spec conf/sensors.toml] [--feed-seed 5]
                                   [--model DIR] [--maintenance]

1. history (unless --model): `sensorpipe simulate` of the default fleet (30 devices, 30 days,
   a reading per 300 s, seed 0, the demo's), cleaned by the pipe engine, and `sensorpipe
   train` on it with --spec (conf/sensors.toml by default; held-out devices, alerting
   chosen out of fold);
2. feed: `sensorpipe simulate --stream OUT/landing` of another seed's fleet (--feed-seed;
   30 devices, --feed-days of event time), its truth in OUT/landing/_truth;
3. `sensorpipe stream --available-now` on the landing directory with that model (with
   --maintenance: the feed's maintenance log, so `since` counts as it did in training);
4. the stream's alerts judged against the feed's truth (sensorpipe.report.live, as the
   report's stream section and the demo judge them), printed beside the same model's
   held-out offline figures from its card, and written to OUT/live.json.

Re-run after a model change with the same arguments (the steps start from scratch).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "conf" / "sensors.toml"  # --spec's default
INTERVAL_S = 300


def sensorpipe(log: Path, *args) -> None:
    """One CLI step, its output appended to log; a failing step ends the run."""
    argv = [sys.executable, "-m", "sensorpipe.cli", *map(str, args)]
    start = time.monotonic()
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(argv)}\n")
        out.flush()
        rc = subprocess.call(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    print(f"  {args[0]}: exit {rc} in {time.monotonic() - start:.0f} s", flush=True)
    if rc:
        raise SystemExit(f"{args[0]} failed (exit {rc}); see {log}")


def history_model(out: Path, log: Path, spec: Path, threads: int) -> Path:
    sim, clean, model = out / "sim", out / "clean", out / "model"
    sensorpipe(log, "simulate", "--spec", spec, "--devices", 30, "--hours", 720, "--interval-s", INTERVAL_S,
               "--seed", 0, "--output", sim)  # fmt: skip
    sensorpipe(
        log, "clean", "--engine", "pipe", "--spec", spec, "--input", sim / "sensors.csv", "--output", clean
    )
    sensorpipe(log, "train", "--spec", spec, "--input", clean, "--model", model, "--threads", threads,
               "--failures", sim / "failures.csv", "--maintenance", sim / "maintenance.csv")  # fmt: skip
    return model


def feed(out: Path, log: Path, spec: Path, seed: int, days: float, seconds: float) -> Path:
    landing = out / "landing"
    rate = round(30 * days * 86400 / INTERVAL_S / seconds)
    sensorpipe(log, "simulate", "--spec", spec, "--devices", 30, "--stream", landing, "--seed", seed,
               "--interval-s", INTERVAL_S, "--rate", rate, "--duration", seconds,
               "--start", "2026-12-01T00:00:00Z")  # fmt: skip
    return landing


def judge(model: Path, stream: Path, landing: Path) -> dict:
    from sensorpipe.report.build import objective
    from sensorpipe.report.live import NO_ALERTS, judge_live, read_spans, truth_failures
    from sensorpipe.report.stream import read_alerts

    alerts, spans = read_alerts(stream / "alerts"), read_spans(stream / "scored")
    failures = truth_failures(landing / "_truth")
    if spans is None or failures is None:
        raise SystemExit(f"no scored rows in {stream} or no truth in {landing}/_truth")
    return judge_live(NO_ALERTS if alerts is None else alerts, failures, spans, objective(model, None))[0]


def line(name: str, m: dict) -> str:
    modes = ", ".join(
        f"{k} {v['caught']}/{v['caught'] + v['missed']}" for k, v in sorted(m["by_mode"].items())
    )
    lead = "-" if m.get("lead_median_hours") is None else f"{m['lead_median_hours']:.1f}"
    p10 = "-" if m.get("lead_p10_hours") is None else f"{m['lead_p10_hours']:.1f}"
    rate = "-" if m.get("false_per_device_day") is None else f"{m['false_per_device_day']:.4f}"
    return (
        f"| {name} | {m['caught']}/{m['judged']} | {modes} | {m['unjudged']} | {lead} | {p10} |"
        f" {m['false_alerts']}/{m['alerts']} | {rate} | {m['device_days']:.1f} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="out/live", help="work directory (emptied first)")
    ap.add_argument("--spec", default=str(SPEC), help="the spec to train and stream with")
    ap.add_argument("--model", help="an existing registry to stream with (skips step 1)")
    ap.add_argument("--feed-seed", type=int, default=5, help="the live fleet's seed (training uses 0)")
    ap.add_argument("--feed-days", type=float, default=30.0, help="days of event time the feed covers")
    ap.add_argument("--feed-seconds", type=float, default=10.0, help="wall seconds the feed takes")
    ap.add_argument("--maintenance", action="store_true", help="give the stream the feed's maintenance log")
    ap.add_argument("--threads", type=int, default=2, help="native threads for training")
    args = ap.parse_args()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    out = (ROOT / args.out).resolve()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    log = out / "steps.log"
    spec = Path(args.spec).resolve()
    print(f"live proof in {out} (every step's output: {log})", flush=True)
    model = Path(args.model).resolve() if args.model else history_model(out, log, spec, args.threads)
    landing = feed(out, log, spec, args.feed_seed, args.feed_days, args.feed_seconds)
    stream = out / "stream"
    job = [
        "stream",
        "--spec",
        spec,
        "--model",
        model,
        "--input",
        landing,
        "--output",
        stream,
        "--available-now",
    ]
    if args.maintenance:
        job += ["--maintenance", landing / "_truth" / "maintenance.csv"]
    sensorpipe(log, *job)
    live = judge(model, stream, landing)
    from sensorpipe.model.registry import read_card, resolve

    card = read_card(resolve(model))
    held = (card.get("metrics") or {}).get("holdout_events")
    alerting = card.get("alerting") or {}
    print(
        f"\nmodel {card.get('version')} ({(card.get('model') or {}).get('name')}), threshold"
        f" {card.get('threshold', float('nan')):.3f}, quiet {alerting.get('quiet')}; feed seed {args.feed_seed},"
        f" {args.feed_days:g} days, spec {args.spec}, maintenance log to the stream: {'yes' if args.maintenance else 'no'}"
    )
    print(
        "| run | caught | by mode | unjudged | lead median h | lead p10 h | false/alerts | false per device-day | device-days |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print(line(f"live (seed {args.feed_seed} feed)", live))
    if held:
        print(line("offline held-out devices (card)", held))
    (out / "live.json").write_text(json.dumps({"live": live, "holdout": held, "args": vars(args)}, indent=2))


if __name__ == "__main__":
    main()
