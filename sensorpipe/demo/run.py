"""`make demo`: a fleet's telemetry from simulation to live alerts, each step a `sensorpipe`
command run as its own process group (Ctrl-C stops them all), its output passed through.

    python -m sensorpipe.demo [--out DIR] [--devices N] [--days D] [--stream-seconds S] [--feed-days F]

1 simulate a history -> 2 clean it on Hadoop Streaming (where no Hadoop can run, as from a
wheel without `hadoop` on PATH: the pipe engine, the same scripts) -> 3 and on Spark, and compare ->
4 features and training (held-out metrics) -> 5 the streaming job scores a live feed ->
6 the HTML report, which judges the stream's alerts against the live feed's truth; the caught /
false figures are printed last. Steps 1-4 are in demo/batch.py, 5 and 6 in demo/stream.py.
The live feed runs event time faster than wall time (--feed-days of readings in
--stream-seconds), so several failures happen while it streams.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sensorpipe.demo.batch import clean, compare, first_engine, simulate, train
from sensorpipe.demo.procs import Processes, ignore_interrupts, on_sigterm_raise_interrupt
from sensorpipe.demo.session import OUT, Demo, StepFailed, prepare_out
from sensorpipe.demo.stream import live_figures, report, stream


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The demo's options, shared with `sensorpipe demo`."""
    ap.add_argument(
        "--out", default=str(OUT), help="emptied first if a demo wrote it (default: ./out/demo, from the cwd)"
    )
    ap.add_argument("--devices", type=int, default=30, help="machines in the fleet")
    ap.add_argument("--days", type=float, default=30.0, help="days of history")
    ap.add_argument("--interval-s", type=int, default=300, help="seconds between a machine's readings")
    ap.add_argument("--seed", type=int, default=0, help="the history's seed (the live feed's: seed + 1)")
    ap.add_argument("--max-rows", type=int, default=100_000, help="training rows at most (0: the spec's)")
    # One thread: OpenMP's spinning threads crawl on a machine whose cores are taken.
    ap.add_argument("--threads", type=int, default=1, help="native threads for training")
    ap.add_argument("--stream-seconds", type=float, default=60.0, help="how long the live feed runs")
    ap.add_argument("--feed-days", type=float, default=10.0, help="days of event time the live feed covers")
    ap.add_argument("--rate", type=float, help="live events per second (default: what --feed-days takes)")
    ap.add_argument("--trigger", default="2s", help="the streaming job's micro-batch interval")


def run(args: argparse.Namespace) -> int:
    on_sigterm_raise_interrupt()
    procs = Processes()
    try:
        d = Demo(prepare_out(Path(args.out)), procs)
        procs.log_dir = d.out / "logs"
        d.say(f"sensorpipe demo -> {d.out}")
        simulate(d, args)
        first = first_engine()
        reports = {first: clean(d, first, 2), "spark": clean(d, "spark", 3)}
        compare(d, reports)
        train(d, args, d.out / f"clean-{first}")
        stream(d, args, 5)
        path = report(d, 6)
        live_figures(d)
    except KeyboardInterrupt:
        ignore_interrupts()
        print("\ndemo: interrupted; stopping its processes", file=sys.stderr, flush=True)
        procs.stop_all()
        print("demo: stopped", file=sys.stderr, flush=True)
        return 130
    except StepFailed as exc:
        procs.stop_all()
        print(f"demo: failed: {exc}", file=sys.stderr, flush=True)
        return 1
    elapsed = int(time.monotonic() - d.t0)
    d.say(f"\ndone in {elapsed // 60}:{elapsed % 60:02d}. Open the report: {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(ap)
    return run(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
