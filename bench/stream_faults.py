"""Kill -9 the streaming job again and again while events keep landing; check exactly-once.

  .venv/bin/python bench/stream_faults.py [--kills 8] [--seconds 300] [--devices 8] [--seed 0]

The job (`spark-submit streaming/score_stream.py --trigger 1s --max-files-per-trigger 1`,
in its own process group) scores a landing directory this script keeps feeding with the
simulator's EventStream, one small file at a time by atomic rename. At moments drawn from
a seeded RNG (half of them while a batch is planned but not yet committed) the whole
process group gets SIGKILL and the job restarts from its checkpoint (from a copy of the
code taken at the start, so every restart runs one version). After the last kill two
"tick" files (one reading per device, a day and then two days after the last one) push the
watermark past every real event, so the check does not rest on the end-of-stream drain,
and the job restarts a last time as a --available-now run that processes what is left. One uninterrupted --available-now run over
the same files is the reference: scored/ must hold each valid event exactly once (valid:
counted from the files alone), alerts/ must equal the reference's, row for row, and the
quarantined lines and reasons the reference's. With --kafka the events go to a topic the job
reads (the files only record them), and the reference still reads the files. They are
published one event-time step at a time, each acknowledged before the next, as a fleet's
readings arrive: Spark's watermark is one for all partitions, so a partition that lagged the
other by more than the watermark delay (2 minutes of event time; a file holds 10) would have
its events quarantined as late, and a batch planned mid-file could see such a lag.
The harness is harness/faults.py; tests/test_stream_faults.py runs it small, here it runs
longer with more kills.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.faults import FaultRun, run_with_kills  # noqa: E402

KEY = ["device_id", "ts"]


def summary(r: FaultRun) -> dict:
    """The run's measures, compared here from the data run_with_kills gives back."""
    got = set(zip(r.scored["device_id"], r.scored["ts"]))
    real = {k for k in got if k[1] <= r.last_ts}  # the ticks aside
    try:  # floats to 1e-9: rolling sums over a longer history round differently
        pd.testing.assert_frame_equal(r.alerts, r.reference_alerts, check_exact=False, rtol=1e-9, atol=1e-12)
        alerts_equal = True
    except AssertionError:
        alerts_equal = False
    return {
        "events written": r.events_written,
        "valid events": len(r.valid),
        "scored": len(r.scored),
        "reference scored": len(r.reference_scored),
        "duplicates": int(r.scored.duplicated(KEY).sum()),
        "missing": len(r.valid - real),
        "unexpected": len(real - r.valid),
        "same as reference": got == set(zip(r.reference_scored["device_id"], r.reference_scored["ts"])),
        "alerts": len(r.alerts),
        "alerts equal": alerts_equal,
        "quarantine equal": r.quarantine == r.reference_quarantine,
        "quarantine reasons": dict(Counter(reason for reason, _ in r.quarantine)),
        "reference quarantine reasons": dict(Counter(reason for reason, _ in r.reference_quarantine)),
        "kills": r.kills,
        "restarts": r.restarts,
        "seconds with kills": r.seconds_with_kills,
        "total seconds": r.total_seconds,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=8)
    ap.add_argument(
        "--seconds", type=float, default=300.0, help="about how long the feed-and-kill phase lasts"
    )
    ap.add_argument("--devices", type=int, default=8)
    ap.add_argument("--per-file", type=int, default=80, help="events per landed file")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", help="working directory (default: a new one under bench/data)")
    ap.add_argument("--kafka", nargs=2, metavar=("BOOTSTRAP", "TOPIC"), help="feed a Kafka topic instead")
    args = ap.parse_args()
    from harness.models import make_model  # noqa: PLC0415

    work = Path(args.work or ROOT / "bench" / "data" / f"stream-faults-{time.strftime('%Y%m%d-%H%M%S')}")
    work.mkdir(parents=True, exist_ok=False)
    make_model(work / "model")
    run = run_with_kills(
        work, work / "model", args.kills, args.seconds, args.devices, args.per_file, args.seed,
        kafka=tuple(args.kafka) if args.kafka else None,
    )  # fmt: skip
    r = summary(run)
    print("\n| measure | value |\n|---|---|")
    for name, value in r.items():
        print(f"| {name} | {value} |")
    print(f"\nload average {os.getloadavg()[0]:.1f}, work dir {work}")
    ok = r["duplicates"] == 0 and r["missing"] == 0 and r["same as reference"] and r["alerts equal"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
