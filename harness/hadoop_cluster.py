"""A real single-JVM Hadoop cluster: HDFS (NameNode + DataNode) and YARN
(ResourceManager + NodeManager + JobHistory) on loopback, from Hadoop 3.3.6's
MiniHadoopClusterManager (conf/hadoop/cluster/pom.xml; `make setup` resolves it):

    java -cp 'conf/hadoop/cluster/lib/*' org.apache.hadoop.mapreduce.MiniHadoopClusterManager \\
        -format -nnport P -rmport P -jhsport P -writeDetails details.json -D ...

Clients reach it through conf/hadoop/bin/hadoop with HADOOP_CONF_DIR set to the
core-site.xml, yarn-site.xml and mapred-site.xml written here: `cluster.env`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from harness.daemons import ClusterError, free_ports
from harness.paths import ROOT

LIB = ROOT / "conf" / "hadoop" / "cluster" / "lib"
BIN = ROOT / "conf" / "hadoop" / "bin"
MAIN = "org.apache.hadoop.mapreduce.MiniHadoopClusterManager"
# Hadoop 3.3 reflects into these packages (Guice in the web UIs, the NameNode's metrics).
OPENS = [
    f"--add-opens=java.base/{p}=ALL-UNNAMED"
    for p in ("java.lang", "java.lang.reflect", "java.util", "java.util.concurrent", "java.net", "java.io")
    + ("java.nio", "sun.nio.ch", "java.security")
]
# Task JVMs are small: several fit the NodeManager of a 2-core machine at once.
CONTAINER_MB, TASK_JAVA = 512, "-Xmx384m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
START_TIMEOUT = 180.0
PORTS = ("nn", "rm", "scheduler", "tracker", "rm_admin", "rm_web", "jhs", "jhs_web", "jhs_admin")


@dataclass
class HadoopCluster:
    uri: str  # hdfs://127.0.0.1:PORT
    conf_dir: Path  # core-site.xml, yarn-site.xml, mapred-site.xml for clients
    env: dict  # os.environ plus PATH (conf/hadoop/bin), HADOOP_CONF_DIR, HADOOP_HOME, JAVA_HOME
    log: Path

    def url(self, path: str) -> str:
        """hdfs://host:port/path for an absolute HDFS path."""
        return f"{self.uri}/{path.lstrip('/')}"


def java_home() -> str:
    """JAVA_HOME, or the JDK whose `java` is on PATH."""
    if os.environ.get("JAVA_HOME"):
        return os.environ["JAVA_HOME"]
    java = shutil.which("java")
    if not java:
        raise ClusterError("no java on PATH: the Hadoop cluster needs Java 17")
    return str(Path(java).resolve().parent.parent)


def server_settings(ports: dict, base: Path) -> dict:
    """-D settings of the cluster JVM: every daemon on a chosen free port, small containers."""
    a = {k: f"localhost:{v}" for k, v in ports.items()}
    return {
        "hadoop.tmp.dir": str(base / "tmp"),
        "yarn.resourcemanager.scheduler.address": a["scheduler"],
        "yarn.resourcemanager.resource-tracker.address": a["tracker"],
        "yarn.resourcemanager.admin.address": a["rm_admin"],
        "yarn.resourcemanager.webapp.address": a["rm_web"],
        "mapreduce.jobhistory.webapp.address": a["jhs_web"],
        "mapreduce.jobhistory.admin.address": a["jhs_admin"],
        "yarn.scheduler.minimum-allocation-mb": "128",
        "yarn.nodemanager.resource.memory-mb": "4096",
        "yarn.nodemanager.resource.cpu-vcores": "8",
        "yarn.nodemanager.vmem-check-enabled": "false",
        "yarn.nodemanager.disk-health-checker.max-disk-utilization-per-disk-percentage": "99.5",
        "yarn.resourcemanager.nodemanagers.heartbeat-interval-ms": "200",
        "dfs.namenode.heartbeat.recheck-interval": "5000",
    }


def client_sites(ports: dict) -> dict[str, dict]:
    """The client configuration files: where HDFS and YARN are, and the MapReduce job defaults."""
    opts = " ".join([TASK_JAVA, *OPENS])
    return {
        "core-site.xml": {"fs.defaultFS": f"hdfs://127.0.0.1:{ports['nn']}"},
        # one DataNode: an append (the stream's metrics.jsonl) cannot replace a node in its
        # pipeline, so do not try (Hadoop's advice for clusters of fewer than 3 nodes)
        "hdfs-site.xml": {"dfs.client.block.write.replace-datanode-on-failure.enable": "false"},
        "yarn-site.xml": {
            "yarn.resourcemanager.address": f"127.0.0.1:{ports['rm']}",
            "yarn.resourcemanager.scheduler.address": f"127.0.0.1:{ports['scheduler']}",
        },
        "mapred-site.xml": {
            "mapreduce.framework.name": "yarn",
            "mapreduce.jobhistory.address": f"127.0.0.1:{ports['jhs']}",
            # the nodes run the same Hadoop as the cluster: the project's jars
            "mapreduce.application.classpath": f"{LIB}/*",
            "yarn.app.mapreduce.am.resource.mb": str(CONTAINER_MB),
            "yarn.app.mapreduce.am.command-opts": opts,
            "mapreduce.map.memory.mb": str(CONTAINER_MB),
            "mapreduce.reduce.memory.mb": str(CONTAINER_MB),
            "mapreduce.map.java.opts": opts,
            "mapreduce.reduce.java.opts": opts,
            "yarn.app.mapreduce.am.scheduler.heartbeat.interval-ms": "200",
            "mapreduce.client.completion.pollinterval": "200",
            "mapreduce.client.progressmonitor.pollinterval": "500",
            # a small job (at most 9 maps, 1 reducer) runs inside its ApplicationMaster: one
            # JVM, not one per task; jobs with more reducers get a container per task
            "mapreduce.job.ubertask.enable": "true",
        },
    }


def write_site(path: Path, props: dict) -> None:
    rows = "".join(
        f"  <property><name>{escape(k)}</name><value>{escape(v)}</value></property>\n"
        for k, v in props.items()
    )
    path.write_text(f'<?xml version="1.0"?>\n<configuration>\n{rows}</configuration>\n', encoding="utf-8")


def cluster_command(ports: dict, base: Path) -> list[str]:
    """The JVM running NameNode, DataNode, ResourceManager, NodeManager and JobHistory."""
    settings = [a for k, v in server_settings(ports, base).items() for a in ("-D", f"{k}={v}")]
    return [
        str(Path(java_home()) / "bin" / "java"),
        "-Xmx1g",
        *OPENS,
        f"-Dlog4j.configuration=file:{ROOT / 'conf' / 'hadoop' / 'log4j-client.properties'}",
        f"-Dtest.build.data={base / 'data'}",
        "-cp",
        f"{LIB}/*",
        MAIN,
        "-format",
        "-nnport",
        str(ports["nn"]),
        "-rmport",
        str(ports["rm"]),
        "-jhsport",
        str(ports["jhs"]),
        "-writeDetails",
        str(base / "details.json"),
        *settings,
    ]


def client_env(conf_dir: Path) -> dict:
    env = dict(os.environ)
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        HADOOP_CONF_DIR=str(conf_dir),
        HADOOP_HOME=str(LIB.parent),
        JAVA_HOME=java_home(),
        HADOOP_CLIENT_OPTS="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",  # short-lived job clients
    )
    env.pop("SENSORPIPE_LOCAL_HADOOP", None)
    return env


def answers(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_until_up(proc: subprocess.Popen, base: Path, ports: dict, log: Path) -> None:
    """Poll until the manager wrote its details (HDFS and YARN started) and the ports answer."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ClusterError(
                f"the Hadoop cluster exited with {proc.returncode}; its log {log}:\n{tail(log)}"
            )
        if (base / "details.json").exists() and all(answers(ports[k]) for k in ("nn", "rm", "jhs")):
            return
        time.sleep(0.5)
    raise ClusterError(
        f"the Hadoop cluster did not come up in {START_TIMEOUT:.0f}s; its log {log}:\n{tail(log)}"
    )


def tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the cluster's process group (the daemons stop their containers), SIGKILL to
    whatever is left after 20 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(20)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(60)


def check_setup() -> None:
    if not list(LIB.glob("hadoop-minicluster-*.jar")):
        raise ClusterError(
            f"no Hadoop mini cluster in {LIB}: run `make setup` (Maven, conf/hadoop/cluster/pom.xml)"
        )


BIND_ATTEMPTS = 3


def start_cluster(base: Path) -> tuple[subprocess.Popen, dict, Path, Path]:
    """Start the cluster JVM on ports picked free. They are bound seconds later and another
    test's daemon may take one in between: the JVM then exits with a BindException, and it is
    started again on other ports in a fresh directory. Returns (process, ports, conf dir, log)."""
    for attempt in range(1, BIND_ATTEMPTS + 1):
        run = base if attempt == 1 else base / f"attempt-{attempt}"
        run.mkdir(exist_ok=True)
        ports = dict(zip(PORTS, free_ports(len(PORTS))))
        conf_dir = run / "conf"
        conf_dir.mkdir()
        for name, props in client_sites(ports).items():
            write_site(conf_dir / name, props)
        log = run / "cluster.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                cluster_command(ports, run), stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, cwd=run, env=client_env(conf_dir) | {"HADOOP_CONF_DIR": ""},
                start_new_session=True,
            )  # fmt: skip
        try:
            wait_until_up(proc, run, ports, log)
        except ClusterError:
            stop(proc)
            if attempt == BIND_ATTEMPTS or "BindException" not in log.read_text(errors="replace"):
                raise
        else:
            return proc, ports, conf_dir, log
    raise AssertionError("unreachable")


@contextlib.contextmanager
def running_hadoop(base: Path):
    """HDFS + YARN under `base`; killed with its task JVMs on exit."""
    check_setup()
    proc, ports, conf_dir, log = start_cluster(base)
    try:
        yield HadoopCluster(f"hdfs://127.0.0.1:{ports['nn']}", conf_dir, client_env(conf_dir), log)
    finally:
        stop(proc)
