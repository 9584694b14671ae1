"""Run a spark-submit that SIGINT / SIGTERM stop the way its Python driver chooses (`sensorpipe
stream`: stop the query between batches, then the session; streaming/score_stream.py).

spark-submit starts in a process group of its own with both signals ignored: a JVM started so
keeps ignoring them (HotSpot installs no handler for a signal its parent ignored), so it never
shuts the SparkContext down under the driver, whose own handlers are then the only ones. This
process forwards either signal to that group and returns the child's exit code; a third
signal kills the group (a driver that has not installed its handlers yet ignores the first two).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def call_stoppable(cmd: list[str], env: dict) -> int:
    if threading.current_thread() is not threading.main_thread():  # no signal handlers there
        return subprocess.call(cmd, env=env, stdin=subprocess.DEVNULL)
    before = {s: signal.signal(s, signal.SIG_IGN) for s in SIGNALS}  # inherited by the child
    received = []
    try:
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, process_group=0)

        def forward(signum, _frame) -> None:
            received.append(signum)
            _signal_group(proc.pid, signal.SIGKILL if len(received) >= 3 else signum)

        for s in SIGNALS:
            signal.signal(s, forward)
        return proc.wait()
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass
