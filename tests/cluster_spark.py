"""A Spark standalone cluster for the cluster tests: one master and two 1-core workers on loopback.

The daemons come from the pyspark wheel (`spark-class ...Master` / `...Worker`); jobs reach
them with spark-submit and the `make dist` artifacts, as on a real cluster. The workers run
without the project on PYTHONPATH, so a test passes only if --py-files and --archives carry
what the executors need.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spark_class() -> Path:
    import pyspark  # noqa: PLC0415

    return Path(pyspark.__file__).parent / "bin" / "spark-class"


def start_daemon(argv: list[str], log: Path, env: dict, cwd: Path) -> subprocess.Popen:
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
    pytest.fail(f"{what} not ready after {timeout:.0f} s\n{tails}")


@dataclass(frozen=True)
class StandaloneCluster:
    url: str  # spark://127.0.0.1:P
    web: str  # http://127.0.0.1:Q
    work: Path  # the workers' work directories (executor logs under app-*/N/)

    def status(self) -> dict:
        with urllib.request.urlopen(f"{self.web}/json/", timeout=5) as r:
            return json.load(r)


def _alive(cluster: StandaloneCluster) -> int:
    try:
        return cluster.status().get("aliveworkers", 0) >= WORKERS
    except OSError:
        return False


def daemon_env(local_dirs: Path) -> dict:
    """The daemons' environment: loopback only, and nothing of the project for the executors."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYSPARK_", "PYTHON", "SPARK_"))}
    return env | {"SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOCAL_DIRS": str(local_dirs)}


def build_dist() -> Path:
    """dist/sensorpipe.zip (fresh each session) and the environment archive (built when missing)."""
    subprocess.run(["make", "-s", "dist"], cwd=ROOT, check=True, stdin=subprocess.DEVNULL)
    return ROOT / "dist"


@contextmanager
def running_standalone(base: Path):
    """A master with two registered workers (1 core, 1 GB each) under `base`, killed on exit."""
    build_dist()
    env = daemon_env(base / "local")
    port, web = free_port(), free_port()
    cluster = StandaloneCluster(f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{web}", base)
    master_argv = [str(spark_class()), "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1"]
    master_argv += ["--port", str(port), "--webui-port", str(web)]
    procs, logs = [], [base / "master.log"]
    with ExitStack() as stack:
        procs.append(start_daemon(master_argv, logs[0], env, base))
        stack.callback(stop_daemon, procs[0])
        for i in range(WORKERS):
            work = base / f"worker-{i}"
            work.mkdir()
            argv = [str(spark_class()), "org.apache.spark.deploy.worker.Worker", cluster.url]
            argv += ["--cores", "1", "--memory", "1g", "--host", "127.0.0.1", "--work-dir", str(work)]
            argv += ["--webui-port", str(free_port())]
            logs.append(base / f"worker-{i}.log")
            procs.append(start_daemon(argv, logs[-1], env, work))
            stack.callback(stop_daemon, procs[-1])
        poll("standalone cluster", lambda: _alive(cluster), 120, procs, logs)
        yield cluster


@pytest.fixture(scope="session")
def standalone_cluster(tmp_path_factory):
    """A running master with two registered workers (1 core, 1 GB each); killed at teardown."""
    with running_standalone(tmp_path_factory.mktemp("standalone")) as cluster:
        yield cluster
