"""Submit one sensorpipe step to real Hadoop Streaming.

With a `hadoop` command on PATH the job goes to that cluster (`hadoop jar
hadoop-streaming.jar ...`); otherwise the project's local Hadoop runs it in the local job
runner: the pyspark wheel's Hadoop client jars plus the streaming jar that `make setup`
resolves from Maven Central into conf/hadoop/lib/. The step's figures are count records in
its output (mapreduce/runner.py); Hadoop's counters are only what the client logs, if it logs
them at all: they go into report.json's `counters`, for reading, and decide nothing.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from sensorpipe.core.inputs import as_pattern

ROOT = Path(__file__).resolve().parent.parent
LOCAL_LIB = ROOT / "conf" / "hadoop" / "lib"
LOG4J = ROOT / "conf" / "hadoop" / "log4j2.properties"
STREAMING_MAIN = "org.apache.hadoop.streaming.HadoopStreaming"
log = logging.getLogger(__name__)
# A verbatim step's output lines are written exactly as the mapper printed them: with the
# keyonlytext reader the whole line is the key and the value is null, so TextOutputFormat
# appends no separator (the text reader would add a trailing tab to a line without one).
VERBATIM = ["-D", "stream.map.output=keyonlytext"]


class HadoopMissing(RuntimeError):
    pass


def streaming_jar() -> str:
    jars = sorted(glob.glob(str(LOCAL_LIB / "hadoop-streaming-*.jar")))
    if not jars:
        raise HadoopMissing(
            f"no hadoop-streaming jar in {LOCAL_LIB}: install Hadoop and put its `hadoop` command on"
            " PATH (with HADOOP_HOME), or run `make setup` in a source checkout"
        )
    return jars[-1]


def local_command() -> list[str]:
    """java with the wheel's Hadoop client jars and the streaming jar (local job runner)."""
    jar = streaming_jar()  # first: an installed package has no conf/hadoop/lib
    try:
        import pyspark  # noqa: PLC0415
    except ImportError:
        raise HadoopMissing(
            "pyspark (for its Hadoop client jars) is not installed: pip install 'sensorpipe[spark]'"
        ) from None
    jars = Path(pyspark.__file__).parent / "jars"
    java = shutil.which("java") or (Path(os.environ.get("JAVA_HOME", "")) / "bin" / "java")
    if not Path(java).exists():
        raise HadoopMissing("no java on PATH (Java 17 is needed for --engine hadoop)")
    return [
        str(java),
        "-Xmx1g",
        f"-Dlog4j2.configurationFile={LOG4J}",
        "-cp",
        f"{jars}/*:{jar}",
        STREAMING_MAIN,
    ]


def cluster_command() -> list[str] | None:
    hadoop = shutil.which("hadoop")
    if not hadoop or os.environ.get("SENSORPIPE_LOCAL_HADOOP"):
        return None
    home = os.environ.get("HADOOP_HOME", str(Path(hadoop).resolve().parent.parent))
    jars = sorted(glob.glob(f"{home}/share/hadoop/tools/lib/hadoop-streaming-*.jar"))
    return [hadoop, "jar", jars[-1] if jars else streaming_jar()]


def job_args(step, files: list[str], python: str, local: bool, split_bytes: int, workers: int) -> list[str]:
    d = [
        "-D",
        f"mapreduce.job.name=sensorpipe-{step.name}",
        "-D",
        "stream.map.input.ignoreKey=false",
        "-D",
        "textinputformat.record.delimiter=\n",
        "-D",
        f"mapreduce.input.fileinputformat.split.maxsize={split_bytes}",
        "-D",
        f"mapreduce.job.reduces={step.reducers if step.reducer else 0}",
    ]
    if local:
        d += [
            "-D",
            "mapreduce.framework.name=local",
            "-D",
            f"mapreduce.local.map.tasks.maximum={workers}",
            "-D",
            f"mapreduce.local.reduce.tasks.maximum={workers}",
        ]
    if step.reducer:
        d += [
            "-D",
            f"stream.num.map.output.key.fields={step.key_fields}",
            "-D",
            f"mapreduce.partition.keypartitioner.options=-k1,{step.partition_fields}",
        ]
    if step.combiner:  # the combiner's output is read with the reduce-output settings: keep keys whole
        d += ["-D", f"stream.num.reduce.output.key.fields={step.key_fields}"]
    if step.verbatim:
        d += VERBATIM
    args = d + ["-files", ",".join(files), "-mapper", f"{python} {step.mapper}"]
    if step.combiner:
        args += ["-combiner", f"{python} {step.combiner}"]
    if step.reducer:
        args += [
            "-reducer",
            f"{python} {step.reducer}",
            "-partitioner",
            "org.apache.hadoop.mapred.lib.KeyFieldBasedPartitioner",
        ]
    else:
        args += ["-reducer", "NONE"]
    for path in step.inputs:
        args += ["-input", as_pattern(path, commas=True)]  # a file name, not a glob or a list
    return args + ["-output", step.output]


_COUNTERS = re.compile(r"Counters: \d+\n((?:\t.*\n?)+)")


def parse_counters(log: str) -> dict:
    """Counter groups from the job client's log ('Counters: N' then indented lines): {} when
    the client logs at WARN, which is why no figure of the report is taken from here."""
    groups: dict = {}
    for block in _COUNTERS.findall(log):
        group = None
        for line in block.splitlines():
            if line.startswith("\t\t") and group is not None and "=" in line:
                name, _, value = line.strip().rpartition("=")
                groups[group][name] = int(value)
            elif line.startswith("\t"):
                group = line.strip()
                groups.setdefault(group, {})
    return groups


def run_job(
    step, workdir: str, files: list[str], python: str, split_bytes: int, workers: int, echo=None
) -> dict:
    """Run one step; return the counters its client logged (for reading only). Raises
    RuntimeError with the log tail on failure. echo: the progress lines (default: INFO)."""
    echo = echo or log.info
    cluster = cluster_command()
    cmd = (cluster or local_command()) + job_args(step, files, python, cluster is None, split_bytes, workers)
    log.debug("  %s: %s", step.name, " ".join(cmd))
    proc = subprocess.Popen(
        cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    lines = []
    for raw in proc.stdout:
        line = raw.decode("utf-8", "replace")
        lines.append(line)
        if "map " in line and "reduce " in line and "%" in line:
            echo(f"  {step.name}: {line.split('Job: ', 1)[-1].strip()}")
        else:
            log.debug("  %s: %s", step.name, line.rstrip())
    code = proc.wait()
    if code != 0:
        tail = "".join(lines[-40:])
        raise RuntimeError(f"Hadoop Streaming step {step.name!r} failed (exit {code}):\n{tail}")
    return parse_counters("".join(lines))


if __name__ == "__main__":
    print(" ".join(local_command()), file=sys.stderr)
