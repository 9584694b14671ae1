"""A Spark standalone cluster on loopback: one master and two 1-core workers.

The daemons come from the pyspark wheel (`spark-class ...Master` / `...Worker`); jobs reach
them with spark-submit and the `make dist` artifacts, as on a real cluster. The workers run
without the project on PYTHONPATH, so a job works only if --py-files and --archives carry
what the executors need.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
import urllib.request
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.daemons import poll, start_daemon, stop_daemon
from harness.paths import ROOT

WORKERS = 2


def spark_class() -> Path:
    import pyspark  # noqa: PLC0415

    return Path(pyspark.__file__).parent / "bin" / "spark-class"


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


def _bound(log: Path) -> tuple[str, str] | None:
    """The master's URL and web UI address once its log says both are bound, else None."""
    text = log.read_text(errors="replace") if log.exists() else ""
    url = re.search(r"Starting Spark master at (spark://\S+)", text)
    web = re.search(r"Successfully started service 'MasterUI' on port (\d+)", text)
    return (url[1], f"http://127.0.0.1:{web[1]}") if url and web else None


def daemon_env(local_dirs: Path) -> dict:
    """The daemons' environment: loopback only, and nothing of the project for the executors."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYSPARK_", "PYTHON", "SPARK_"))}
    return env | {"SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOCAL_DIRS": str(local_dirs)}


def make_dist() -> subprocess.CompletedProcess:
    """`make dist` (dist/sensorpipe.zip fresh, the environment and jar archives when missing),
    one at a time: pytest-xdist's workers may ask for it at once, and two makes writing the same
    dist/*.tmp would corrupt each other."""
    lock = ROOT / "build" / "dist.lock"
    lock.parent.mkdir(exist_ok=True)
    with lock.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        return subprocess.run(
            ["make", "-s", "dist"], cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL,
            timeout=1500, check=False,
        )  # fmt: skip


def build_dist() -> Path:
    """`make dist`, failing with its stderr."""
    made = make_dist()
    if made.returncode:
        raise RuntimeError(f"make dist failed:\n{made.stderr[-3000:]}")
    return ROOT / "dist"


@contextmanager
def running_standalone(base: Path):
    """A master with two registered workers (1 core, 1 GB each) under `base`, killed on exit."""
    build_dist()
    env = daemon_env(base / "local")
    # Port 0 everywhere: the daemons bind what the system gives them and the master's log says
    # which. Ports picked here and bound later raced other tests' daemons (a web UI port taken
    # in between answered with another daemon's HTML page).
    master_argv = [str(spark_class()), "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1"]
    master_argv += ["--port", "0", "--webui-port", "0"]
    procs, logs = [], [base / "master.log"]
    with ExitStack() as stack:
        procs.append(start_daemon(master_argv, logs[0], env, base))
        stack.callback(stop_daemon, procs[0])
        url, web = poll("standalone master", lambda: _bound(logs[0]), 120, procs, logs)
        cluster = StandaloneCluster(url, web, base)
        for i in range(WORKERS):
            work = base / f"worker-{i}"
            work.mkdir()
            argv = [str(spark_class()), "org.apache.spark.deploy.worker.Worker", cluster.url]
            argv += ["--cores", "1", "--memory", "1g", "--host", "127.0.0.1", "--work-dir", str(work)]
            argv += ["--port", "0", "--webui-port", "0"]
            logs.append(base / f"worker-{i}.log")
            procs.append(start_daemon(argv, logs[-1], env, work))
            stack.callback(stop_daemon, procs[-1])
        poll("standalone cluster", lambda: _alive(cluster), 120, procs, logs)
        yield cluster
