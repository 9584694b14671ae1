"""Where the harness, the bench scripts and the tests find the project and its shared data."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository
SHARED = ROOT.parent / "shared" / "data"  # data sets shared between checkouts (C-MAPSS, ...)
SPEC = ROOT / "conf" / "sensors.toml"  # the fleet's spec: the stream harness and its model run on it
