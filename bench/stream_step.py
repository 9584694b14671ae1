"""One bucket's stateful step (streaming/logic.step, no Spark) as a stream's devices age.

  .venv/bin/python bench/stream_step.py [--hours 0,48,200] [--devices 500] [--per-batch 5]
      [--code DIR]

The live bench (bench/stream.py) runs for minutes of wall time, so its devices' segments
hold a few hours of hourly medians; a stream that runs for days holds hundreds, and the
[features.health] indicators are fitted over a segment's whole hourly history. Per --hours H:
a bucket of --devices devices is warmed by 24 batches of --per-batch readings each (one a
minute of event time: two hours), then every device's kept hourly rows are extended by H
synthetic hours before its first (same segment; y and z near the devices' own), and 24 more
batches are timed (each pack / unpack of the state included, as Spark's state store keeps
it between batches). Prints the median and the slowest batch: the slowest is a batch that
completes an hour. --code DIR runs another checkout's streaming/ and sensorpipe/ (a git
worktree of an older commit) for an A/B; its model is the test suite's small logistic one
(harness/models.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
MIN = 60_000_000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", default="0,48,200")
    ap.add_argument("--devices", type=int, default=500)
    ap.add_argument("--per-batch", type=int, default=5, help="readings per device per batch")
    ap.add_argument("--code", type=Path, default=HERE)
    args = ap.parse_args()
    sys.path[:0] = [str(args.code.resolve()), str(HERE)]
    import numpy as np  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415

    import streaming  # noqa: PLC0415
    from harness.models import events, events_frame, make_model  # noqa: PLC0415
    from harness.paths import SPEC  # noqa: PLC0415
    from sensorpipe.core.spec import load_spec  # noqa: PLC0415
    from sensorpipe.model import health as H  # noqa: PLC0415
    from sensorpipe.model.registry import cached_model  # noqa: PLC0415
    from streaming.logic import BucketState, step  # noqa: PLC0415
    from streaming.score_stream import make_context  # noqa: PLC0415

    print(f"code: {Path(streaming.__file__).parent.parent}")
    model_dir = Path(tempfile.mkdtemp(prefix="stream-step-")) / "model"
    make_model(model_dir)
    ctx = make_context(load_spec(SPEC), str(model_dir))
    model, _ = cached_model(ctx.model)
    d, per = ctx.features.device, args.devices * args.per_batch
    frame = events_frame(events(args.devices, per * 48, seed=5))
    rows = pd.DataFrame(
        {
            d: frame[d],
            "_order": frame["ts"].astype("int64") // 1000,
            **{s: frame[s].astype(float) for s in ctx.features.sensors},
            "reason": None,
            "raw": "{}",
            "source": "f",
            "line": np.arange(len(frame)),
        }
    )
    batches = [rows.iloc[i : i + per] for i in range(0, len(rows), per)]
    print("| kept hours a device | hourly rows in the state | median step s | slowest step s |")
    print("|---:|---:|---:|---:|")
    for hours in [int(h) for h in args.hours.split(",")]:
        st, wm = BucketState.empty(ctx), 0
        for b in batches[:24]:
            _, st = step(ctx, model, b, st, wm)
            wm = max(wm, int(b["_order"].max()) - 2 * MIN)
        kept = st.hours
        if hours:
            first, seg = kept.groupby(d)["hour"].min(), kept.groupby(d)["segment"].first()
            rng = np.random.default_rng(1)
            extra = pd.DataFrame({d: np.repeat(first.index.to_numpy(), hours)})
            extra["segment"] = extra[d].map(seg).to_numpy()
            extra["hour"] = extra[d].map(first).to_numpy() - np.tile(np.arange(hours, 0, -1), len(first))
            base = kept.groupby(d)[["y", "z"]].median()
            extra["y"] = extra[d].map(base["y"]).to_numpy() * (1 + 0.05 * rng.random(len(extra)))
            extra["z"] = extra[d].map(base["z"]).to_numpy() + rng.normal(0, 1, len(extra))
            kept = pd.concat([extra, kept[[d, "segment", "hour", "y", "z"]]], ignore_index=True)
            kept = kept.sort_values([d, "hour"], kind="stable", ignore_index=True)
            if hasattr(H, "READY"):  # the state keeps each completed hour's indicators
                named = kept.rename(columns={d: "device"})
                kept = H.hourly_indicators(named, ctx.features.health).rename(columns={"device": d})
                kept[H.READY] = True
        st, times = replace(st, hours=kept), []
        for b in batches[24:48]:
            t0 = time.perf_counter()
            st = BucketState.unpack(st.pack())
            _, st = step(ctx, model, b, st, wm)
            times.append(time.perf_counter() - t0)
            wm = max(wm, int(b["_order"].max()) - 2 * MIN)
        print(f"| {hours} | {len(st.hours):,} | {np.median(times):.3f} | {max(times):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
