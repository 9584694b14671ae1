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
(die_with_parent, in streaming/score_stream.py), goes with it without a word (quiet_when_jvm_ends
covers the moment between the JVM's sockets closing and that signal).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time

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


def quiet_when_jvm_ends(spark) -> None:
    """Keep a driver whose JVM was killed from printing tracebacks while die_with_parent's SIGKILL
    is on its way: the kernel closes a dying process's sockets before it signals the children, and
    in that gap the driver's threads see the connections drop. pyspark's accumulator server (a
    thread) printed an EOFError traceback there, cut off by the signal (1 of 17 kill -9s of a busy
    driver on an idle machine; once in a CI run). A hang-up there is dropped: it carries no update.
    A lost py4j connection, uncaught or logged by py4j, is printed GRACE seconds late, in time for
    the signal; with the JVM alive only the delay differs. Calling it again changes nothing."""
    server = getattr(spark.sparkContext, "_accumulatorServer", None)
    if server is not None and not hasattr(server.handle_error, "hang_ups_dropped"):
        default = server.handle_error

        def handle_error(request, client_address) -> None:
            if not isinstance(sys.exc_info()[1], _hang_ups()):
                default(request, client_address)

        handle_error.hang_ups_dropped = True
        server.handle_error = handle_error
    for name in ("py4j.java_gateway", "py4j.clientserver"):  # a filter applies to its own logger only
        logger = logging.getLogger(name)
        if _grace_filter not in logger.filters:
            logger.addFilter(_grace_filter)
    if not hasattr(sys.excepthook, "grace"):
        hook = sys.excepthook

        def excepthook(kind, value, tb) -> None:
            _grace(value)
            hook(kind, value, tb)

        excepthook.grace = True
        sys.excepthook = excepthook


GRACE = 2.0  # seconds: a kill -9'd JVM's PDEATHSIG follows within microseconds


def _hang_ups() -> tuple[type[BaseException], ...]:
    from py4j.protocol import Py4JNetworkError  # noqa: PLC0415 (the CLI imports this module without Spark)

    return (EOFError, ConnectionError, Py4JNetworkError)


def _grace(exc: BaseException | None) -> None:
    if isinstance(exc, _hang_ups()):
        time.sleep(GRACE)


def _grace_filter(record: logging.LogRecord) -> bool:
    """A logging filter that lets every record through, one about a lost connection GRACE late."""
    _grace(record.exc_info[1] if record.exc_info else None)
    return True


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass
