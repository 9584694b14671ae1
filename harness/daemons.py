"""Long-running JVM daemons for the clusters: free loopback ports, starting a daemon in its
own process group, waiting until it answers, stopping the whole group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path


class ClusterError(RuntimeError):
    """A cluster could not be set up or did not come up."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n: int) -> list[int]:
    """n distinct free TCP ports on loopback (bound to port 0, then released)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def start_daemon(argv: list[str], log: Path, env: dict | None, cwd: Path) -> subprocess.Popen:
    """A JVM in its own process group (the worker's executors join it), output to `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, cwd=cwd, start_new_session=True,
        )  # fmt: skip


def _group_alive(pgid: int) -> bool:
    """A process of the group that is not a zombie (zombies wait for a parent to reap them)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def stop_daemon(proc: subprocess.Popen) -> None:
    """SIGTERM to the whole group (a worker and its executors), SIGKILL to what is left after 20 s."""
    for sig, wait in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            proc.poll()
            if not _group_alive(proc.pid):
                return
            time.sleep(0.2)


def poll(what: str, ready, timeout: float, procs: list[subprocess.Popen], logs: list[Path]):
    """Call ready() until it returns a true value; fail with the daemons' logs if one exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = [p for p in procs if p.poll() is not None]
        if dead:
            break
        if result := ready():
            return result
        time.sleep(0.5)
    tails = "\n".join(
        f"--- {log}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:]) for log in logs
    )
    raise ClusterError(f"{what} not ready after {timeout:.0f} s\n{tails}")
