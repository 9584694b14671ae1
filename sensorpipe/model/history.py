"""A fleet's cleaned history as a training set: clean rows, failure and maintenance logs.

    sensorpipe train --spec conf/sensors.toml --input OUT --failures SIM/failures.csv \\
        --maintenance SIM/maintenance.csv --model models/sensors

OUT is any engine's cleaning output (CSV parts without header, or Spark's Parquet);
its stats.json names the columns and holds the fitted statistics the model card keeps so
that the stream can clean raw events the same way. Devices are split into training and
held-out devices by a seeded shuffle of their sorted ids; nothing of a held-out device
is seen in training.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from sensorpipe.core.spec import Spec
from sensorpipe.model.features import FeatureConfig


def read_clean(out: str | Path, spec: Spec, columns: list[str] | None = None) -> tuple[pd.DataFrame, dict]:
    """(rows, stats.json) of a cleaning output; timestamps as UTC datetimes."""
    root = Path(out)
    stats_path = root / "stats.json"
    if not (root / "_SUCCESS").is_file() or not stats_path.is_file():
        raise ValueError(f"{root}: not a finished cleaning output (no _SUCCESS or stats.json)")
    stats = json.loads(stats_path.read_text(encoding="utf-8"))
    names = stats["output_columns"]
    parquet = sorted((root / "clean").glob("*.parquet"))
    if parquet:
        frame = pd.read_parquet(parquet, columns=columns)
    else:
        parts = [p for p in sorted((root / "clean").glob("part-*")) if p.stat().st_size]
        frames = [
            # round_trip: the exact double of each text, as Spark and the stream parse it (pandas'
            # default parser is often one bit off, and a fitted wear level can move with one bit)
            pd.read_csv(
                p,
                header=None,
                names=names,
                usecols=columns,
                keep_default_na=False,
                na_values=[""],
                float_precision="round_trip",
            )
            for p in parts
        ]
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns or names)
    for col in spec.columns:
        if col.type == "timestamp" and col.out in frame.columns:
            frame[col.out] = pd.to_datetime(frame[col.out], utc=True)
    return frame, stats


def read_log(path: str | Path, config: FeatureConfig) -> pd.DataFrame:
    """A failures.csv / maintenance.csv: device and ts columns (named as the features' device
    and order), ts parsed as UTC."""
    frame = pd.read_csv(path, dtype={config.device: str})
    missing = [c for c in (config.device, config.order) if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: columns missing: {missing} (has {list(frame.columns)})")
    return frame.assign(**{config.order: pd.to_datetime(frame[config.order], utc=True)})


def split_devices(devices, share: float, seed: int) -> tuple[list, list]:
    """(training devices, held-out devices): a seeded shuffle of the sorted ids."""
    ids = sorted(set(devices))
    order = np.random.default_rng(seed).permutation(len(ids))
    k = max(1, round(len(ids) * share)) if len(ids) > 1 else 0
    held = sorted(ids[i] for i in order[:k])
    return sorted(set(ids) - set(held)), held


def stratified_sample(frame: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    """At most max_rows rows with the label's class shares kept (each class sampled alike)."""
    if len(frame) <= max_rows:
        return frame
    share = max_rows / len(frame)
    parts = [g.sample(frac=share, random_state=seed) for _, g in frame.groupby("label", sort=True)]
    return pd.concat(parts).sort_index()
