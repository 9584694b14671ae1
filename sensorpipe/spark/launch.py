"""Run a Spark entry point (jobs/*.py, streaming/*.py) through the pyspark wheel's spark-submit.

Local mode by default; the project's conf/spark-defaults.conf and conf/log4j2.properties
keep local runs quiet. The progress bar is drawn only on a terminal: its carriage returns
make logs unreadable. Any other master gets the `make dist` artifacts (cluster_submit_args),
and a job that reads Kafka gets the connector's jars (kafka_jars).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"
KAFKA_LIB = CONF / "kafka" / "spark" / "lib"  # filled by `make setup` (conf/kafka/spark/pom.xml)
# The connector and what the wheel lacks of its runtime; the rest is in pyspark/jars.
KAFKA_ARTIFACTS = (
    "spark-sql-kafka-0-10",
    "spark-token-provider-kafka-0-10",
    "kafka-clients",
    "commons-pool2",
)
ENV_PYTHON = "./env/bin/python"  # the environment archive unpacks as ./env in each container
# Jobs whose executors run no Python (built-in column expressions only): the zip is enough,
# and each executor is spared fetching and unpacking the environment (about 160 MB).
NO_PYTHON_ON_EXECUTORS = frozenset({"jobs/clean.py", "jobs/features.py"})


class SetupError(RuntimeError):
    """Something `make setup` or `make dist` makes is missing."""


def is_local(master: str | None) -> bool:
    return master is None or master == "local" or master.startswith("local[")


def cluster_submit_args(
    dist: Path | None = None, deploy_mode: str = "client", python_env: bool = True
) -> list[str]:
    """spark-submit options that carry the project to a cluster's executors.

    dist/sensorpipe.zip (the Python packages) goes with --py-files; the venv-pack archive
    dist/sensorpipe-env.tar.gz (pandas, pyarrow, scikit-learn) with --archives, unpacked as
    ./env in every executor's (and, in cluster deploy mode, the driver's) working directory.
    In client mode the driver keeps this interpreter. python_env=False: the zip only.
    """
    dist = Path(os.environ.get("SENSORPIPE_DIST", ROOT / "dist")) if dist is None else dist
    zipped, env = dist / "sensorpipe.zip", dist / "sensorpipe-env.tar.gz"
    missing = [str(p) for p in (zipped, env)[: 1 + python_env] if not p.is_file()]
    if missing:
        raise SetupError(f"missing {', '.join(missing)}: run `make dist`")
    if not python_env:
        return ["--py-files", str(zipped)]
    args = ["--py-files", str(zipped), "--archives", f"{env}#env"]
    args += ["--conf", f"spark.pyspark.python={ENV_PYTHON}"]
    if deploy_mode == "client":
        args += ["--conf", f"spark.pyspark.driver.python={sys.executable}"]
    return args


def kafka_jars(lib: Path = KAFKA_LIB) -> list[str]:
    """The jars a job that reads or writes Kafka needs beside the pyspark wheel's, for --jars."""
    jars = sorted(str(p) for p in lib.glob("*.jar") if p.name.startswith(KAFKA_ARTIFACTS))
    found = {a for a in KAFKA_ARTIFACTS if any(Path(j).name.startswith(a) for j in jars)}
    if found != set(KAFKA_ARTIFACTS):
        raise SetupError(
            f"no {', '.join(sorted(set(KAFKA_ARTIFACTS) - found))} jar in {lib}: run `make setup`"
        )
    return jars


def spark_submit_command(
    script: str, args: list[str], master: str | None = None, jars: list[str] = ()
) -> list[str]:
    import pyspark  # noqa: PLC0415 (only the Spark engines need it)

    submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    progress = "true" if sys.stderr.isatty() else "false"
    extra = [] if is_local(master) else cluster_submit_args(python_env=script not in NO_PYTHON_ON_EXECUTORS)
    if jars:
        extra += ["--jars", ",".join(jars)]
    return [
        str(submit),
        "--master",
        master or "local[*]",
        "--properties-file",
        str(CONF / "spark-defaults.conf"),
        "--driver-java-options",
        f"-Dlog4j2.configurationFile={CONF / 'log4j2.properties'}",
        "--conf",
        f"spark.ui.showConsoleProgress={progress}",
        *extra,
        str(ROOT / script),
        *args,
    ]


def spark_env() -> dict:
    """The driver and the Python workers use this interpreter (pandas, pyarrow live here)."""
    env = dict(os.environ)
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def run_spark(script: str, args: list[str], master: str | None = None, jars: list[str] = ()) -> int:
    return subprocess.call(
        spark_submit_command(script, args, master, jars), env=spark_env(), stdin=subprocess.DEVNULL
    )
