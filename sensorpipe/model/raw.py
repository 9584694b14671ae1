"""Read raw readings with a spec's layout, and the C-MAPSS truth file, into pandas.

The NASA C-MAPSS files are whitespace-separated without a header; the truth file
(RUL_FD00x.txt) holds the remaining useful life at the last cycle of each test unit,
one line per unit in unit order.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sensorpipe.core.spec import Spec
from sensorpipe.model.features import FeatureConfig


def read_raw(spec: Spec, path: str | Path) -> pd.DataFrame:
    """A raw file as a DataFrame whose columns carry the spec's output names."""
    names = [c.name for c in spec.columns]
    sep = r"\s+" if spec.delimiter == "whitespace" else spec.delimiter
    if spec.header:
        frame = pd.read_csv(path, sep=sep, na_values=list(spec.null_tokens), encoding="utf-8-sig")
        frame.columns = [str(c).strip() for c in frame.columns]
        frame = frame[names]
    else:
        frame = pd.read_csv(path, sep=sep, header=None, names=names, na_values=list(spec.null_tokens))
    frame = frame.rename(columns={c.name: c.out for c in spec.columns}).drop(columns=list(spec.drop))
    for col in spec.columns:
        if col.type == "timestamp" and col.out in frame:
            frame[col.out] = pd.to_datetime(frame[col.out], utc=True)
    return frame


def read_truth(path: str | Path) -> pd.Series:
    """The RUL at each test unit's last cycle, indexed by unit number (1, 2, ...)."""
    values = pd.read_csv(path, sep=r"\s+", header=None).iloc[:, 0].astype(int)
    return pd.Series(values.to_numpy(), index=pd.RangeIndex(1, len(values) + 1), name="rul")


def last_readings(frame: pd.DataFrame, config: FeatureConfig) -> pd.DataFrame:
    """Each device's last reading (features must already be computed on the whole series)."""
    ordered = frame.sort_values([config.device, config.order], kind="stable")
    return ordered.groupby(config.device, sort=True).tail(1).set_index(config.device, drop=False)
