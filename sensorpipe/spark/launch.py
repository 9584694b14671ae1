"""Run a Spark entry point (jobs/*.py, streaming/*.py) through the pyspark wheel's spark-submit.

Local mode by default, with the project's spark-defaults.conf and log4j2.properties (quiet
local runs; package data under conf/ here, links to the repository's conf/). Any other master
gets neither, so the site's own defaults and logging stay in force, and gets the `make dist`
artifacts (cluster_submit_args). The user's --conf, --deploy-mode and --properties-file pass
through (add_submit_arguments); a --conf wins over the project's settings. Entry points are
found where Python imports them from: the source tree or an installed wheel (script_path).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import site
import subprocess
import sys
from pathlib import Path

from sensorpipe.core.log import FORMAT_ENV, LEVEL_ENV, STDERR_ENV, stderr_for_child
from sensorpipe.spark.stoppable import call_stoppable, die_with

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]  # the source checkout (site-packages when installed): where `make dist` writes
SPARK_DEFAULTS = HERE / "conf" / "spark-defaults.conf"  # local mode only
LOG4J = HERE / "conf" / "log4j2.properties"  # local mode only: warnings, to stderr
KAFKA_LIB = ROOT / "conf" / "kafka" / "spark" / "lib"  # filled by `make setup` (conf/kafka/spark/pom.xml)
# Without that directory (an installed wheel): spark-submit --packages resolves the connector
# and its runtime from Maven; the version of conf/kafka/spark/pom.xml (no 4.3.0 on Maven Central).
KAFKA_PACKAGE = "org.apache.spark:spark-sql-kafka-0-10_2.13:4.2.0"
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

    dist (default: $SENSORPIPE_DIST, else a source checkout's dist/, else ./dist: an installed
    wheel has no checkout) may be a URI (hdfs://...) the two were uploaded to: YARN localizes
    them from there, and caches a world-readable copy on each node, so the 170 MB environment
    is fetched and unpacked once per node, not once per submit.
    """
    checkout = ROOT / "dist" if (ROOT / "pyproject.toml").is_file() else Path("dist").absolute()
    where = str(dist or os.environ.get("SENSORPIPE_DIST") or checkout).rstrip("/")
    zipped, env = f"{where}/sensorpipe.zip", f"{where}/sensorpipe-env.tar.gz"
    missing = [p for p in (zipped, env)[: 1 + python_env] if "://" not in p and not Path(p).is_file()]
    if missing:
        raise SetupError(
            f"missing {', '.join(missing)}: a master other than local[*] needs them. Run `make dist`"
            " in a source checkout and set SENSORPIPE_DIST to its dist/ directory, or to the"
            ' hdfs:// directory they were uploaded to (README, "Running on a cluster")'
        )
    if not python_env:
        return ["--py-files", zipped]
    args = ["--py-files", zipped, "--archives", f"{env}#env"]
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


def kafka_connector(lib: Path = KAFKA_LIB) -> dict:
    """spark_submit_command's keywords for a Kafka job: the jars `make setup` resolved in a source
    checkout; elsewhere (an installed wheel) the connector's Maven coordinates for --packages."""
    return {"jars": kafka_jars(lib)} if lib.is_dir() else {"packages": [KAFKA_PACKAGE]}


def conf_pair(text: str) -> tuple[str, str]:
    """argparse type of --conf: "KEY=VALUE" -> (KEY, VALUE); anything else is a usage error."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value


def add_submit_arguments(parser: argparse.ArgumentParser) -> None:
    """The spark-submit options every Spark command passes through (submit_options)."""
    parser.add_argument("--master", help="Spark master URL (default: local[*])")
    parser.add_argument("--deploy-mode", choices=["client", "cluster"], help="spark-submit --deploy-mode")
    parser.add_argument(
        "--conf",
        action="append",
        type=conf_pair,
        default=[],
        metavar="KEY=VALUE",
        help="a Spark property for spark-submit (repeatable); wins over the project's own",
    )
    parser.add_argument(
        "--properties-file",
        metavar="FILE",
        help="spark-submit --properties-file (in local mode, instead of the project's spark-defaults.conf)",
    )


def submit_options(args: argparse.Namespace) -> dict:
    """add_submit_arguments' values as spark_submit_command's keywords."""
    return {
        "master": args.master,
        "deploy_mode": args.deploy_mode,
        "conf": args.conf,
        "properties_file": args.properties_file,
    }


def project_conf(local: bool, progress: bool) -> dict[str, str]:
    """The properties sensorpipe sets itself: timestamps without a zone are UTC (DESIGN.md) on
    every master; the progress bar only on a terminal (its carriage returns make logs
    unreadable); in local mode, log4j2.properties for the driver (executors share its JVM)."""
    conf = {"spark.sql.session.timeZone": "UTC", "spark.ui.showConsoleProgress": str(progress).lower()}
    if local:
        conf["spark.driver.extraJavaOptions"] = f"-Dlog4j2.configurationFile={LOG4J}"
    return conf


def driver_env_conf(master: str | None, deploy_mode: str | None, env=None) -> dict[str, str]:
    """In cluster deploy mode the driver runs in a container that spark-submit's environment does
    not reach: the logging choice (-v / -q / --log-format, sensorpipe/core/log.py) goes as the
    YARN application master's or the Kubernetes driver's environment. (The executors log nothing.)"""
    env = os.environ if env is None else env
    if deploy_mode != "cluster" or is_local(master):
        return {}
    k8s = (master or "").startswith("k8s://")
    prefix = "spark.kubernetes.driverEnv." if k8s else "spark.yarn.appMasterEnv."
    return {f"{prefix}{var}": env[var] for var in (LEVEL_ENV, FORMAT_ENV) if env.get(var)}


def submit_args(
    master: str | None = None,
    deploy_mode: str | None = None,
    conf=(),
    properties_file: str | None = None,
    progress: bool = False,
) -> list[str]:
    """spark-submit's own options, before the cluster artifacts and the script. conf: (key,
    value) pairs or a dict, merged over project_conf (the user's value wins, one --conf a key)."""
    local = is_local(master)
    properties = properties_file or (SPARK_DEFAULTS if local else None)
    args = ["--master", master or "local[*]"]
    args += ["--deploy-mode", deploy_mode] if deploy_mode else []
    args += ["--properties-file", str(properties)] if properties else []
    for key, value in (project_conf(local, progress) | dict(conf)).items():
        args += ["--conf", f"{key}={value}"]
    return args


def script_path(script: str) -> Path:
    """An entry point's file: "jobs/clean.py" is the module jobs.clean, wherever Python imports
    it from (the source tree, or site-packages for a wheel); another path is taken as given."""
    try:
        spec = importlib.util.find_spec(script.removesuffix(".py").replace("/", "."))
    except ModuleNotFoundError:
        spec = None
    return Path(spec.origin) if spec and spec.origin else Path(script).resolve()


def spark_submit_command(
    script: str,
    args: list[str],
    master: str | None = None,
    jars: list[str] = (),
    *,
    deploy_mode: str | None = None,
    conf=(),
    properties_file: str | None = None,
    packages: list[str] = (),
) -> list[str]:
    import pyspark  # noqa: PLC0415 (only the Spark engines need it)

    submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    conf = driver_env_conf(master, deploy_mode) | dict(conf)
    options = submit_args(master, deploy_mode, conf, properties_file, sys.stderr.isatty())
    if not is_local(master):
        python_env = script not in NO_PYTHON_ON_EXECUTORS
        options += cluster_submit_args(deploy_mode=deploy_mode or "client", python_env=python_env)
    options += ["--jars", ",".join(jars)] if jars else []
    options += ["--packages", ",".join(packages)] if packages else []
    return [str(submit), *options, str(script_path(script)), *args]


def spark_env() -> dict:
    """The driver and the Python workers use this interpreter (pandas, pyarrow live here); a
    source checkout goes on their path (an installed wheel is on it already)."""
    env = dict(os.environ)
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    installed = {Path(p).resolve() for p in site.getsitepackages()}
    code = [] if ROOT in installed else [str(ROOT)]
    env["PYTHONPATH"] = os.pathsep.join(p for p in (*code, env.get("PYTHONPATH", "")) if p)
    return env


def run_spark(
    script: str, args: list[str], master: str | None = None, jars: list[str] = (), stoppable=False, **submit
) -> int:
    """spark-submit the script; submit: spark_submit_command's keywords (submit_options, packages).
    stoppable: SIGINT / SIGTERM go to the job's driver only (sensorpipe.spark.stoppable)."""
    cmd = spark_submit_command(script, args, master, jars, **submit)
    env = spark_env()
    # the job's log and error lines to this process's stderr, not into spark-submit's stdout
    env[STDERR_ENV] = stderr_for_child()  # used by a local driver only (core/log.py)
    if stoppable:
        return call_stoppable(cmd, env)
    # spark-submit (its JVM) gets SIGKILL if this process is SIGKILLed; its driver does the same
    die = die_with(os.getpid())  # (die_with_parent, in each job's __main__)
    return subprocess.call(cmd, env=env, stdin=subprocess.DEVNULL, preexec_fn=die)  # noqa: PLW1509
