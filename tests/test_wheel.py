"""The wheel, installed, works from any directory (issue 16): built from a copy of the sources,
installed with no dependencies into a throwaway virtualenv, and run from a temporary directory
that holds only the spec and the data. First bare: `--version` and a pipe clean (stdlib only).
Then the virtualenv borrows .venv's packages through a .pth file (offline, quick), and a Spark
clean runs with --conf values that the job's own event log must show. Last, with the spec the
wheel ships: simulate a small history, clean it, train a model, stream hand-written events
through it (`stream --available-now`) and write the report."""

from __future__ import annotations

import email
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from conftest import DATA, ROOT, Output, assert_same

pytestmark = pytest.mark.slow

REASONS = {"malformed_row": 5, "missing_required": 3, "invalid_value": 5, "duplicate_key": 4}


def build_wheel(dest: Path) -> Path:
    """`pip wheel` of a copy of the sources (a build in the tree would reuse a stale build/lib),
    with .venv's setuptools: no build isolation, so nothing is downloaded."""
    src = dest / "src"
    found = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    for package in {name.rstrip("*") for name in found["include"]}:
        shutil.copytree(
            ROOT / package, src / package, symlinks=True, ignore=shutil.ignore_patterns("__pycache__")
        )
    linked = [f"conf/{p.name}" for p in sorted((ROOT / "sensorpipe" / "conf").glob("*.toml"))]
    for name in (
        "pyproject.toml",
        "README.md",
        "conf/spark-defaults.conf",
        "conf/log4j2.properties",
        *linked,
    ):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, src / name)  # the conf files: what sensorpipe/{,spark/}conf/ link to
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(dest / "dist"), str(src)], cwd=dest)
    (wheel,) = (dest / "dist").glob("sensorpipe-*.whl")
    return wheel


def run(cmd: list[str], cwd: Path, env: dict | None = None, code: int = 0) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == code, (
        f"{cmd}: exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("build"))


def test_the_wheels_requirements_admit_the_pinned_versions(wheel):
    """Each extra's ranges hold requirements.txt's pins (the versions the suite proves)."""
    with zipfile.ZipFile(wheel) as z:
        meta = email.message_from_bytes(z.read("sensorpipe-0.1.0.dist-info/METADATA"))
    assert set(meta.get_all("Provides-Extra")) == {"spark", "model", "kafka", "hadoop", "test"}
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    pins = dict(line.split("==") for line in lines if "==" in line and not line.startswith("#"))
    pinned = [r for r in map(Requirement, meta.get_all("Requires-Dist")) if r.name in pins]
    assert [str(r) for r in pinned if not r.specifier.contains(pins[r.name])] == []
    assert {r.name for r in pinned} == {
        "numpy", "pyarrow", "pandas", "pyspark", "prometheus-client", "scikit-learn", "skops",
        "matplotlib", "confluent-kafka", "pytest", "chispa", "duckdb", "polars", "ruff",
        "websocket-client", "import-linter", "pytest-timeout", "pytest-xdist",
    }  # fmt: skip


@pytest.fixture(scope="module")
def installed(tmp_path_factory, wheel):
    """(virtualenv, working directory, environment): the wheel in a fresh virtualenv, no
    third-party package; a directory with messy.toml and messy/ only."""
    base = tmp_path_factory.mktemp("wheel")
    env_dir = base / "venv"
    venv.create(env_dir, with_pip=False)
    pip = [
        sys.executable,
        "-m",
        "pip",
        "--disable-pip-version-check",
        "-q",
        "--python",
        str(env_dir / "bin" / "python"),
    ]
    run([*pip, "install", "--no-deps", str(wheel)], cwd=base)
    work = base / "work"
    work.mkdir()
    shutil.copy(DATA / "messy.toml", work / "messy.toml")
    shutil.copytree(DATA / "messy", work / "messy")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYSPARK_", "PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = os.pathsep.join([str(env_dir / "bin"), env["PATH"]])
    env["SENSORPIPE_LOCAL_HADOOP"] = "1"  # never a cluster's `hadoop`, should the machine have one
    return env_dir, work, env


def site_packages(env_dir: Path) -> Path:
    (path,) = (env_dir / "lib").glob("python3*/site-packages")
    return path


@pytest.fixture(scope="module")
def pipe_clean(installed) -> Output:
    env_dir, work, env = installed
    cmd = [str(env_dir / "bin" / "sensorpipe"), "clean", "--engine", "pipe", "--spec", "messy.toml"]
    run([*cmd, "--input", "messy", "--output", "out-pipe"], cwd=work, env=env)
    return Output(work / "out-pipe")


def test_bare_install_prints_its_version_and_cleans_on_the_pipe_engine(installed, pipe_clean):
    env_dir, work, env = installed
    assert run([str(env_dir / "bin" / "sensorpipe"), "--version"], work, env).stdout == "sensorpipe 0.1.0\n"
    r = pipe_clean.report
    assert (r["engine"], r["rows_in"], r["rows_clean"], r["rows_rejected"]) == ("pipe", 30, 13, 17)
    assert r["rejected_by_reason"] == REASONS
    # the same run from the repository's own code (an independent process) gives the same outputs
    in_repo = work.parent / "out-repo"
    cmd = [
        sys.executable,
        "-m",
        "sensorpipe.cli",
        "clean",
        "--engine",
        "pipe",
        "--spec",
        str(DATA / "messy.toml"),
    ]
    run([*cmd, "--input", str(work / "messy"), "--output", str(in_repo)], cwd=ROOT)
    assert pipe_clean.clean == Output(in_repo).clean and pipe_clean.rejects == Output(in_repo).rejects


def test_bare_install_names_what_hadoop_needs(installed):
    env_dir, work, env = installed
    cmd = [str(env_dir / "bin" / "sensorpipe"), "clean", "--engine", "hadoop", "--spec", "messy.toml"]
    done = run([*cmd, "--input", "messy", "--output", "out-hadoop"], cwd=work, env=env, code=1)
    assert "no hadoop-streaming jar" in done.stderr and "`hadoop` command on PATH" in done.stderr
    assert not (work / "out-hadoop").exists()


@pytest.fixture(scope="module")
def with_spark(installed):
    """The same virtualenv, now also seeing .venv's packages (pyspark, pandas, ...) after its own."""
    env_dir, work, env = installed
    borrowed = sysconfig.get_paths()["purelib"]  # .venv's site-packages: its .pth files stay unread
    (site_packages(env_dir) / "_borrowed.pth").write_text(borrowed + "\n")
    return installed


def test_the_installed_code_is_the_wheels_not_the_repositorys(with_spark):
    env_dir, work, env = with_spark
    probe = (
        "import json, jobs.clean, sensorpipe, streaming.score_stream; "
        "from sensorpipe.spark import launch; from sensorpipe.demo import session; "
        "from sensorpipe.report import build; "
        "print(json.dumps([sensorpipe.__file__, str(launch.script_path('jobs/clean.py')),"
        " str(launch.script_path('streaming/score_stream.py')), str(launch.SPARK_DEFAULTS),"
        " str(session.SPEC), str(build.CONF), sorted(p.name for p in build.CONF.glob('*.toml'))]))"
    )
    paths = json.loads(run([str(env_dir / "bin" / "python"), "-c", probe], work, env).stdout)
    where = site_packages(env_dir)
    assert paths == [
        str(where / "sensorpipe" / "__init__.py"),
        str(where / "jobs" / "clean.py"),
        str(where / "streaming" / "score_stream.py"),
        str(where / "sensorpipe" / "spark" / "conf" / "spark-defaults.conf"),
        str(where / "sensorpipe" / "conf" / "sensors.toml"),  # the demo's default spec
        str(where / "sensorpipe" / "conf"),  # where the report looks for a run's spec
        ["ai4i.toml", "cmapss.toml", "sensors.toml"],
    ]
    for shipped, source in [
        ("spark/conf/spark-defaults.conf", "spark-defaults.conf"),
        ("conf/sensors.toml", "sensors.toml"),
        ("conf/cmapss.toml", "cmapss.toml"),
        ("conf/ai4i.toml", "ai4i.toml"),
    ]:
        copy = where / "sensorpipe" / shipped
        assert not copy.is_symlink() and copy.read_text() == (ROOT / "conf" / source).read_text()


def spark_properties(events: Path) -> tuple[dict, dict]:
    """Spark and System properties from the application's event log (SparkListenerEnvironmentUpdate)."""
    (log,) = events.iterdir()
    for line in log.read_text().splitlines():
        event = json.loads(line)
        if event["Event"] == "SparkListenerEnvironmentUpdate":
            return event["Spark Properties"], event["System Properties"]
    raise AssertionError(f"no environment update in {log}")


def test_installed_spark_clean_agrees_and_its_job_saw_the_passed_conf(with_spark, pipe_clean):
    env_dir, work, env = with_spark
    events = work / "events"
    events.mkdir()
    conf = {
        "spark.sql.shuffle.partitions": "3",  # the project's spark-defaults.conf says 8
        "spark.eventLog.enabled": "true",
        "spark.eventLog.dir": events.as_uri(),
        "spark.eventLog.compress": "false",
        "spark.eventLog.rolling.enabled": "false",
    }
    cmd = [str(env_dir / "bin" / "sensorpipe"), "clean", "--engine", "spark", "--spec", "messy.toml"]
    cmd += ["--input", "messy", "--output", "out-spark", "--format", "csv"]
    run(cmd + [a for k, v in conf.items() for a in ("--conf", f"{k}={v}")], cwd=work, env=env)
    spark = Output(work / "out-spark")
    r = spark.report
    assert (r["engine"], r["rows_in"], r["rows_clean"], r["rows_rejected"]) == ("spark", 30, 13, 17)
    assert r["rejected_by_reason"] == REASONS
    assert_same(spark.clean, pipe_clean.clean)
    assert spark.rejects == pipe_clean.rejects
    assert_same(spark.stats, pipe_clean.stats)
    props, system = spark_properties(events)
    assert props["spark.sql.shuffle.partitions"] == "3"  # the user's --conf over the defaults file
    assert (props["spark.ui.enabled"], props["spark.driver.memory"]) == ("false", "4g")  # the wheel's file
    log4j = site_packages(env_dir) / "sensorpipe" / "spark" / "conf" / "log4j2.properties"
    assert props["spark.driver.extraJavaOptions"].endswith(f"-Dlog4j2.configurationFile={log4j}")
    assert str(site_packages(env_dir) / "jobs" / "clean.py") in system["sun.java.command"]


# The stream's input: 3 of the fleet's devices, 8 readings each half an hour apart, and two
# lines that are not JSON objects. Every line is scored or quarantined.
READINGS = [
    {"device_id": f"dev-{d:05d}", "ts": f"2026-12-01T{h // 2:02d}:{h % 2 * 30:02d}:00Z", "model": "X9"}
    | {"temperature": 60.0 + h, "vibration": 2.0, "pressure": 350.0, "rpm": 1500, "load": 70.0}
    for d in range(3)
    for h in range(8)
]
NOT_EVENTS = ['{"device_id": "dev-00000", "ts": ', "[1, 2]"]


@pytest.fixture(scope="module")
def pipeline(with_spark) -> Path:
    """simulate -> clean (pipe) -> train (pandas) -> stream --available-now -> report, each the
    installed `sensorpipe` run in the working directory, all with the spec the wheel ships."""
    env_dir, work, env = with_spark
    spec = str(site_packages(env_dir) / "sensorpipe" / "conf" / "sensors.toml")
    fleet = ["--devices", "12", "--hours", "480", "--interval-s", "1800", "--seed", "3"]  # 7 failures
    steps = [
        ["simulate", "--spec", spec, *fleet, "--output", "sim"],
        ["clean", "--engine", "pipe", "--spec", spec, "--input", "sim/sensors.csv", "--output", "clean"],
        ["train", "--spec", spec, "--input", "clean", "--model", "model", "--threads", "1"]
        + ["--failures", "sim/failures.csv", "--maintenance", "sim/maintenance.csv"],
        ["stream", "--spec", spec, "--model", "model", "--input", "landing", "--output", "stream"]
        + ["--available-now"],
        ["report", "--clean", "clean", "--model", "model", "--stream", "stream", "--output", "report.html"],
    ]
    (work / "landing").mkdir()
    lines = [json.dumps(r) for r in READINGS] + NOT_EVENTS
    (work / "landing" / "events-000000.jsonl").write_text("\n".join(lines) + "\n")
    for step in steps:
        run([str(env_dir / "bin" / "sensorpipe"), *step], cwd=work, env=env)
    return work


def test_installed_simulate_clean_and_train_register_a_model(with_spark, pipeline):
    env_dir, work, env = with_spark
    shipped = str(site_packages(env_dir) / "sensorpipe" / "conf" / "sensors.toml")
    assert json.loads((pipeline / "sim" / "manifest.json").read_text())["counts"]["rows"] == 11_530
    assert json.loads((pipeline / "clean" / "report.json").read_text())["rows_in"] == 11_530
    version = (pipeline / "model" / "current").read_text().strip()
    card = json.loads((pipeline / "model" / version / "card.json").read_text())
    assert (card["version"], card["spec"]["path"]) == (version, shipped)
    assert (pipeline / "model" / version / "model.skops").is_file()


def test_installed_stream_scores_or_quarantines_every_line(pipeline):
    from sensorpipe.store.sinks import read_frame  # noqa: PLC0415 (pandas)

    scored = read_frame(pipeline / "stream" / "scored")
    assert len(scored) == 24 and sorted(set(scored["device_id"])) == ["dev-00000", "dev-00001", "dev-00002"]
    assert sorted(read_frame(pipeline / "stream" / "quarantine")["reason"]) == ["malformed_row"] * 2
    metrics = [
        json.loads(x)["sensorpipe"] for x in (pipeline / "stream" / "metrics.jsonl").read_text().splitlines()
    ]
    assert (sum(m["events"] for m in metrics), sum(m["scored"] for m in metrics)) == (26, 24)


def test_installed_report_reads_the_run_with_the_shipped_spec(with_spark, pipeline):
    env_dir, work, env = with_spark
    html = (pipeline / "report.html").read_text()
    assert f"Spec: {site_packages(env_dir) / 'sensorpipe' / 'conf' / 'sensors.toml'}." in html
