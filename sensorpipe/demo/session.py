"""The demo's run: its output directory, its clock, its child processes, and how a step fails."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from sensorpipe.demo.procs import Processes, python_module

# conf/sensors.toml as package data (a link to it in a checkout, a file in a wheel)
SPEC = Path(__file__).resolve().parents[1] / "conf" / "sensors.toml"
OUT = Path("out") / "demo"  # relative to the working directory: `make demo` runs in the checkout
MARKER = ".sensorpipe-demo"  # only a directory the demo made is emptied by the next run
STEPS = 6


class StepFailed(RuntimeError):
    pass


class Demo:
    """The run's output directory, its clock and its child processes."""

    def __init__(self, out: Path, procs: Processes):
        self.out, self.procs, self.t0, self.step_t0 = out, procs, time.monotonic(), 0.0

    def say(self, msg: str = "") -> None:
        print(msg, flush=True)

    def step(self, n: int, title: str) -> None:
        self.step_t0 = time.monotonic()
        elapsed = int(self.step_t0 - self.t0)
        self.say(f"\n[{n}/{STEPS}] {title}   (elapsed {elapsed // 60}:{elapsed % 60:02d})")

    def done(self, msg: str) -> None:
        self.say(f"      => {msg} ({time.monotonic() - self.step_t0:.1f} s)")

    def sensorpipe(self, name: str, *args) -> None:
        """One CLI command, run to completion; a non-zero exit fails the demo."""
        rc = self.procs.run(name, python_module("sensorpipe.cli", *args))
        if rc:
            raise StepFailed(f"`sensorpipe {args[0]}` exited with {rc}")


def prepare_out(out: Path) -> Path:
    out = out.absolute()
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise StepFailed(f"{out} exists and is not a demo output directory: pass another --out")
        shutil.rmtree(out)  # a stream restarted on an old checkpoint and landing dir would resume it
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by `python -m sensorpipe.demo`; the next demo run empties it\n")
    return out
