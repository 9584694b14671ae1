"""The demo's child processes: each in its own process group, its output passed through line
by line, and every group ended (SIGTERM, then SIGKILL) when the demo is interrupted, so a
Ctrl-C leaves no JVM or Python worker behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

# Shown in the logs only: warnings every Spark start, streaming query or restart prints, and
# library deprecation notices, about nothing the demo can change.
NOISE = ("WARNING: Using incubator modules", " WARN ", "FutureWarning:", "UserWarning:")
NOISE_LINES = {"warnings.warn("}  # the second line of a Python warning


class Processes:
    """Children started with start_new_session=True: a signal to the group reaches the JVM,
    its Python workers and the streaming scripts' interpreters too."""

    def __init__(self, echo=None, log_dir: Path | None = None):
        self.echo = echo or (lambda msg: print(msg, flush=True))
        self.log_dir = log_dir  # each process's whole output goes to <log_dir>/<name>.log too
        self._muted: set[int] = set()
        self.live: list[subprocess.Popen] = []
        self._names: dict[int, str] = {}
        self._last_line: dict[int, float] = {}
        self._readers: dict[int, threading.Thread] = {}

    def start(self, name: str, cmd: list[str], env: dict | None = None) -> subprocess.Popen:
        env = dict(os.environ if env is None else env, PYTHONUNBUFFERED="1")
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            bufsize=1,
            text=True,
            errors="replace",
        )
        self.live.append(proc)
        self._names[proc.pid] = name
        reader = threading.Thread(target=self._pass_through, args=(name, proc), daemon=True)
        reader.start()
        self._readers[proc.pid] = reader
        return proc

    def _pass_through(self, name: str, proc: subprocess.Popen) -> None:
        log = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log = (self.log_dir / f"{name}.log").open("a", encoding="utf-8")
        try:
            for raw in proc.stdout:
                self._last_line[proc.pid] = time.monotonic()
                if log:
                    log.write(raw)
                line = raw.rstrip("\r\n").rsplit("\r", 1)[-1]  # a progress bar keeps its last state
                if self._shown(proc, line):
                    self.echo(f"   {name:>7} | {line}")
        finally:
            if log:
                log.close()

    def _shown(self, proc: subprocess.Popen, line: str) -> bool:
        if not line.strip() or proc.pid in self._muted or line.strip() in NOISE_LINES:
            return False
        return not any(n in line for n in NOISE)

    def mute(self, proc: subprocess.Popen) -> None:
        """From now on the process's lines go to its log only (e.g. a JVM's shutdown traces)."""
        self._muted.add(proc.pid)

    def wait(self, proc: subprocess.Popen, heartbeat: float = 30.0) -> int:
        """The exit code, once the process has ended; a line every `heartbeat` seconds of
        silence says it is still at work (Spark's jobs print little on their own)."""
        started = time.monotonic()
        while True:
            try:
                rc = proc.wait(1.0)
                break
            except subprocess.TimeoutExpired:
                now = time.monotonic()
                if now - max(self._last_line.get(proc.pid, started), started) >= heartbeat:
                    self._last_line[proc.pid] = now
                    self.echo(f"   {self._names[proc.pid]:>7} | ... running ({now - started:.0f} s)")
        self._finish(proc)
        return rc

    def run(self, name: str, cmd: list[str], env: dict | None = None) -> int:
        return self.wait(self.start(name, cmd, env))

    def stop(self, proc: subprocess.Popen, first=signal.SIGINT, grace: float = 20.0) -> int:
        """Ask the process's groups to stop with `first` (None: it was asked already), wait
        `grace` seconds; SIGTERM, then SIGKILL, for whoever stays."""
        _end([proc], ((first, grace), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)))
        self._finish(proc)
        return proc.returncode

    def stop_all(self, grace: float = 5.0) -> None:
        """SIGTERM to every group still there, SIGKILL after `grace` seconds, then reap them."""
        procs = list(self.live)
        self._muted.update(p.pid for p in procs)  # their dying words go to the logs only
        _end(procs, ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)))
        for proc in procs:
            self._finish(proc)

    def _finish(self, proc: subprocess.Popen) -> None:
        _signal_group(proc.pid, signal.SIGKILL)  # the leader is gone: anything left is a stray
        reader = self._readers.pop(proc.pid, None)
        if reader:
            reader.join(timeout=5.0)
        if proc.stdout:
            proc.stdout.close()
        if proc in self.live:
            self.live.remove(proc)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _processes() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, process group) of every process, from /proc (empty elsewhere)."""
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        table[int(stat.parent.name)] = (int(fields[1]), int(fields[2]))
    return table


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for child, (parent, _) in _processes().items():
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def command_line(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def _tree_groups(pid: int) -> set[int]:
    """The process groups of pid and its descendants. Some leave their parent's group (the
    pyspark daemon calls setpgid), so the group of the process started is not enough."""
    table = _processes()
    return {pid} | {table[p][1] for p in descendants(pid) if p in table and table[p][1] > 1}


def _end(procs: list[subprocess.Popen], steps) -> None:
    """Signal the groups of procs and of their descendants, step by step, until all are gone;
    the processes started here are reaped on the way."""
    groups = set().union(*(_tree_groups(p.pid) for p in procs)) if procs else set()
    groups.discard(os.getpgrp())
    for sig, wait in steps:
        for pgid in groups if sig is not None else ():
            _signal_group(pgid, sig)
        deadline = time.monotonic() + wait
        while True:
            for p in procs:
                p.poll()
            groups = {g for g in groups if _group_alive(g)}
            if not groups or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if not groups:
            break
    for p in procs:
        try:
            p.wait(5.0)
        except subprocess.TimeoutExpired:
            pass


def on_sigterm_raise_interrupt() -> None:
    """`kill PID` stops the demo the way Ctrl-C does."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def ignore_interrupts() -> None:
    """While the demo stops its processes, a second Ctrl-C must not cut that short."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def python_module(module: str, *args) -> list[str]:
    return [sys.executable, "-m", module, *map(str, args)]
