"""The spark-submit commands sensorpipe builds (sensorpipe/spark/launch.py), written out by
hand: the project's defaults and log4j in local mode only, the user's --conf over them, and
--master / --deploy-mode / --conf / --properties-file passed through by every Spark command.
tests/test_wheel.py runs one for real and reads the properties the job saw."""

from __future__ import annotations

import io
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pyspark
import pytest

from harness.paths import ROOT
from sensorpipe.cli import main as cli
from sensorpipe.spark import launch

SUBMIT = str(Path(pyspark.__file__).parent / "bin" / "spark-submit")
DEFAULTS = str(ROOT / "sensorpipe" / "spark" / "conf" / "spark-defaults.conf")
LOG4J = f"-Dlog4j2.configurationFile={ROOT / 'sensorpipe' / 'spark' / 'conf' / 'log4j2.properties'}"


@pytest.fixture(autouse=True)
def not_a_terminal(monkeypatch):
    """The progress bar follows stderr: not a terminal here, whatever pytest's -s says."""
    monkeypatch.setattr("sys.stderr", io.StringIO())


@pytest.fixture
def dist(monkeypatch, tmp_path):
    """Stand-ins for the `make dist` artifacts a cluster master needs."""
    for name in ("sensorpipe.zip", "sensorpipe-env.tar.gz"):
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setenv("SENSORPIPE_DIST", str(tmp_path))
    return tmp_path


def test_local_mode_gets_the_project_defaults_and_log4j():
    cmd = launch.spark_submit_command("jobs/clean.py", ["--spec", "s.toml"])
    assert cmd == [
        SUBMIT,
        "--master",
        "local[*]",
        "--properties-file",
        DEFAULTS,
        "--conf",
        "spark.sql.session.timeZone=UTC",
        "--conf",
        "spark.ui.showConsoleProgress=false",
        "--conf",
        f"spark.driver.extraJavaOptions={LOG4J}",
        str(ROOT / "jobs" / "clean.py"),
        "--spec",
        "s.toml",
    ]


def test_the_user_conf_wins_and_a_properties_file_replaces_the_projects():
    conf = [("spark.driver.extraJavaOptions", "-Dx=1"), ("spark.sql.shuffle.partitions", "3")]
    cmd = launch.spark_submit_command("jobs/score.py", [], "local[2]", conf=conf, properties_file="my.conf")
    assert cmd[1:-1] == [
        "--master",
        "local[2]",
        "--properties-file",
        "my.conf",
        "--conf",
        "spark.sql.session.timeZone=UTC",
        "--conf",
        "spark.ui.showConsoleProgress=false",
        "--conf",
        "spark.driver.extraJavaOptions=-Dx=1",  # one entry a key: the user's value
        "--conf",
        "spark.sql.shuffle.partitions=3",
    ]


def test_yarn_gets_neither_the_defaults_nor_log4j(dist):
    cmd = launch.spark_submit_command(
        "jobs/score.py", ["--x"], "yarn", conf={"spark.executor.instances": "4"}
    )
    assert cmd[: cmd.index("--py-files")] == [
        SUBMIT,
        "--master",
        "yarn",
        "--conf",
        "spark.sql.session.timeZone=UTC",
        "--conf",
        "spark.ui.showConsoleProgress=false",
        "--conf",
        "spark.executor.instances=4",
    ]
    assert cmd[-2:] == [str(ROOT / "jobs" / "score.py"), "--x"]
    assert not [a for a in cmd if "log4j" in a or "spark-defaults" in a]


def test_yarn_cluster_deploy_mode_with_the_sites_properties_file(dist):
    cmd = launch.spark_submit_command(
        "jobs/clean.py", [], "yarn", deploy_mode="cluster", properties_file="/etc/spark/conf/site.conf"
    )
    assert cmd[1:7] == [
        "--master",
        "yarn",
        "--deploy-mode",
        "cluster",
        "--properties-file",
        "/etc/spark/conf/site.conf",
    ]
    assert cmd[cmd.index("--py-files") + 1] == str(dist / "sensorpipe.zip")


def test_cluster_deploy_mode_gives_the_driver_the_logging_choice(dist, monkeypatch):
    """-q / --log-format reach a driver in a YARN container or a Kubernetes pod as its environment."""
    monkeypatch.setenv("SENSORPIPE_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("SENSORPIPE_LOG_FORMAT", "json")
    yarn = launch.spark_submit_command("jobs/score.py", [], "yarn", deploy_mode="cluster")
    assert yarn[: yarn.index("--py-files")] == [
        SUBMIT,
        "--master",
        "yarn",
        "--deploy-mode",
        "cluster",
        "--conf",
        "spark.sql.session.timeZone=UTC",
        "--conf",
        "spark.ui.showConsoleProgress=false",
        "--conf",
        "spark.yarn.appMasterEnv.SENSORPIPE_LOG_LEVEL=WARNING",
        "--conf",
        "spark.yarn.appMasterEnv.SENSORPIPE_LOG_FORMAT=json",
    ]
    k8s = launch.spark_submit_command(
        "jobs/score.py", [], "k8s://https://api:6443", deploy_mode="cluster",
        conf=[("spark.kubernetes.driverEnv.SENSORPIPE_LOG_FORMAT", "text")],
    )  # fmt: skip
    assert k8s[5 : k8s.index("--py-files")] == [
        "--conf",
        "spark.sql.session.timeZone=UTC",
        "--conf",
        "spark.ui.showConsoleProgress=false",
        "--conf",
        "spark.kubernetes.driverEnv.SENSORPIPE_LOG_LEVEL=WARNING",
        "--conf",
        "spark.kubernetes.driverEnv.SENSORPIPE_LOG_FORMAT=text",  # the user's --conf wins
    ]
    client = launch.spark_submit_command("jobs/score.py", [], "yarn", deploy_mode="client")
    local = launch.spark_submit_command("jobs/score.py", [], "local[2]", deploy_mode="cluster")
    assert not [a for a in client + local if "SENSORPIPE" in a]  # the driver has this environment


@pytest.fixture
def submitted(monkeypatch):
    """The commands the CLI would run, instead of running them."""
    seen = []

    def fake_run(script, args, master=None, jars=(), stoppable=False, **submit):
        seen.append(launch.spark_submit_command(script, args, master, jars, **submit))
        return 0

    monkeypatch.setattr(launch, "run_spark", fake_run)
    return seen


PASSED = ["--master", "local[2]", "--deploy-mode", "client", "--properties-file", "site.conf"]
PASSED += ["--conf", "spark.sql.shuffle.partitions=3", "--conf", "spark.executor.memory=2g"]


def test_every_spark_command_passes_the_submit_options_through(submitted, tmp_path):
    sensors, cmapss = str(ROOT / "conf" / "sensors.toml"), str(ROOT / "conf" / "cmapss.toml")
    out = str(tmp_path / "out")
    commands = {
        "jobs/clean.py": [
            "clean",
            "--engine",
            "spark",
            "--spec",
            sensors,
            "--input",
            "in.csv",
            "--output",
            out,
        ],
        "jobs/features.py": ["features", "--spec", cmapss, "--input", "train.txt", "--output", out],
        "jobs/train.py": ["train", "--engine", "spark", "--spec", cmapss, "--input", "t.txt", "--model", "m"],
        "jobs/score.py": ["score", "--spec", cmapss, "--model", "m", "--input", "t.txt", "--output", out],
        "streaming/score_stream.py": ["stream", "--spec", sensors, "--model", "m", "--input", "land"]
        + ["--output", out],
    }
    for argv in commands.values():
        assert cli([*argv, *PASSED]) == 0
    want = [
        "--master",
        "local[2]",
        "--deploy-mode",
        "client",
        "--properties-file",
        "site.conf",
        "--conf",
        "spark.sql.session.timeZone=UTC",
        "--conf",
        "spark.ui.showConsoleProgress=false",
        "--conf",
        f"spark.driver.extraJavaOptions={LOG4J}",
        "--conf",
        "spark.sql.shuffle.partitions=3",
        "--conf",
        "spark.executor.memory=2g",
    ]
    assert [cmd[1:17] for cmd in submitted] == [want] * 5
    assert [cmd[17] for cmd in submitted] == [str(ROOT / script) for script in commands]
    assert submitted[1][18:] == ["--spec", cmapss, "--input", "train.txt", "--output", out]


def test_a_kafka_stream_gets_the_connector(submitted, tmp_path):
    sensors = str(ROOT / "conf" / "sensors.toml")
    argv = ["stream", "--spec", sensors, "--model", "m", "--kafka", "b:9092", "--topic", "t"]
    assert cli([*argv, "--output", str(tmp_path / "out")]) == 0
    jars = submitted[0][submitted[0].index("--jars") + 1].split(",")
    assert [Path(j).name for j in jars] == [
        "commons-pool2-2.13.1.jar",
        "kafka-clients-3.9.2.jar",
        "spark-sql-kafka-0-10_2.13-4.2.0.jar",
        "spark-token-provider-kafka-0-10_2.13-4.2.0.jar",
    ]


def test_without_the_setup_jars_the_connector_comes_from_maven(tmp_path):
    assert launch.kafka_connector(tmp_path / "no-lib") == {
        "packages": ["org.apache.spark:spark-sql-kafka-0-10_2.13:4.2.0"]
    }
    pom = ET.parse(ROOT / "conf" / "kafka" / "spark" / "pom.xml").getroot()
    version = pom.find("{http://maven.apache.org/POM/4.0.0}properties/{*}spark.version").text
    assert version == "4.2.0"  # the jars of `make setup` and the coordinates agree


@pytest.mark.parametrize("bad", ["spark.sql.shuffle.partitions", "=3", " =3"])
def test_a_conf_without_key_and_value_is_a_usage_error(bad, capsys):
    sensors = str(ROOT / "conf" / "sensors.toml")
    with pytest.raises(SystemExit) as exit_:
        cli(["clean", "--engine", "spark", "--spec", sensors, "--input", "x", "--output", "y", "--conf", bad])
    assert exit_.value.code == 2
    assert f"argument --conf: expected KEY=VALUE, got {bad!r}" in capsys.readouterr().err


def test_a_conf_value_may_hold_equals_signs():
    assert launch.conf_pair("spark.driver.extraJavaOptions=-Da=b -Dc=d") == (
        "spark.driver.extraJavaOptions",
        "-Da=b -Dc=d",
    )


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out == "sensorpipe 0.1.0\n"


def test_the_package_data_are_the_conf_files():
    for name in ("spark-defaults.conf", "log4j2.properties"):
        assert (launch.HERE / "conf" / name).read_text() == (ROOT / "conf" / name).read_text()


def test_a_missing_extra_is_named_not_a_traceback(monkeypatch, tmp_path, capsys):
    """The wheel installed without [spark]: `sensorpipe stream` says which extra to install."""
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark -> ModuleNotFoundError
    argv = ["stream", "--spec", str(ROOT / "conf" / "sensors.toml"), "--model", str(tmp_path / "m")]
    assert cli([*argv, "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err == "sensorpipe: stream needs pyspark: pip install 'sensorpipe[spark]'\n"
