"""Run a spark-submit that SIGINT / SIGTERM stop the way its Python driver chooses (`sensorpipe
stream`: stop the query between batches, then the session; streaming/score_stream.py).

spark-submit starts in a process group of its own with both signals ignored: a JVM started so
keeps ignoring them (HotSpot installs no handler for a signal its parent ignored), so it never
shuts the SparkContext down under the driver, whose own handlers are then the only ones. This
process forwards either signal to that group and returns the child's exit code; a third
signal kills the group (a driver that has not installed its handlers yet ignores the first two).
On Linux spark-submit also dies with this process: killed itself (SIGKILL, which nothing can
catch), it would otherwise leave the job running in its group. The JVM gets SIGKILL (the one
signal it does not ignore), and the Python driver, which asks for the same of its JVM
(die_with_parent, in streaming/score_stream.py), goes with it without a word.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def call_stoppable(cmd: list[str], env: dict) -> int:
    if threading.current_thread() is not threading.main_thread():  # no signal handlers there
        return subprocess.call(cmd, env=env, stdin=subprocess.DEVNULL)
    before = {s: signal.signal(s, signal.SIG_IGN) for s in SIGNALS}  # inherited by the child
    received = []
    try:
        # preexec_fn: a prctl and a getppid, no lock a thread of ours could hold across the fork
        die = die_with(os.getpid())
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, process_group=0, preexec_fn=die)  # noqa: PLW1509

        def forward(signum, _frame) -> None:
            received.append(signum)
            _signal_group(proc.pid, signal.SIGKILL if len(received) >= 3 else signum)

        for s in SIGNALS:
            signal.signal(s, forward)
        return proc.wait()
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


def die_with(parent: int):
    """A preexec_fn (None off Linux) by which the child gets SIGKILL when `parent`, the thread
    that starts it, ends; a child whose parent is already gone kills itself at once."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child must not import

    def in_child() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
        if os.getppid() != parent:  # the parent died before prctl: no signal will come
            os.kill(os.getpid(), signal.SIGKILL)

    return in_child


def die_with_parent() -> None:
    """Linux: SIGKILL this process when its parent ends. A Spark driver's parent is the JVM that
    started it (PythonRunner, whose thread waits for it); without the JVM it can only fail, with
    a py4j traceback."""
    hook = die_with(os.getppid())
    if hook is not None:
        hook()


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass
