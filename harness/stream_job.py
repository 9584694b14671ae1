"""The streaming job as the bench and the kill -9 harness run it: one spark-submit of
streaming/score_stream.py in its own process group, killed with SIGKILL (the whole tree),
restarted from a snapshot of the code, watched through its checkpoint's offsets/ and commits/.
Or as a user runs it: `sensorpipe stream` (start_cli), stopped by a signal, its Prometheus
endpoint scraped (scrape).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from harness.paths import ROOT
from sensorpipe.spark.launch import kafka_jars, spark_env, spark_submit_command
from streaming.source import KAFKA


class JobDied(RuntimeError):
    """The job exited while the harness waited on it; the message ends with its log."""


@dataclass
class Job:
    """One spark-submit of the streaming job in its own process group, output to a log."""

    proc: subprocess.Popen
    log: Path

    @staticmethod
    def start(
        spec, model, landing, out, log: Path, live: bool = True, code: Path = ROOT, master: str = "local[2]",
        max_files: int | None = 1, trigger: str | None = "1s", confs: dict | None = None,
    ) -> Job:  # fmt: skip
        """landing: a directory, or kafka://BOOTSTRAP/TOPIC (max_files is then ignored); trigger
        None: the job's default; confs: extra Spark properties (--conf k=v), e.g. the sinks'
        compaction settings."""
        kafka = str(landing).startswith(KAFKA)
        code = Path(code).resolve()  # the job runs from there (cwd below): local paths made absolute
        spec, model, landing, out = (
            w if "://" in str(w) else Path(w).resolve() for w in (spec, model, landing, out)
        )
        args = ["--spec", str(spec), "--model", str(model), "--input", str(landing), "--output", str(out)]
        args += ["--max-files-per-trigger", str(max_files)] if max_files and not kafka else []
        args += (["--trigger", trigger] if trigger else []) if live else ["--available-now"]
        script = "streaming/score_stream.py"
        cmd = [
            str(code / script) if c == str(ROOT / script) else c
            for c in spark_submit_command(script, args, master, kafka_jars() if kafka else ())
        ]
        at = cmd.index(str(code / script))
        cmd[at:at] = [a for k, v in (confs or {}).items() for a in ("--conf", f"{k}={v}")]
        env = spark_env()
        env["PYTHONPATH"] = os.pathsep.join([str(code), env["PYTHONPATH"]])
        with open(log, "ab") as fh:
            fh.write(f"\n=== {time.strftime('%H:%M:%S')} {' '.join(cmd)}\n".encode())
            # cwd: pyspark's workers (`python -m pyspark.daemon`) put their working directory
            # first on sys.path; from the repository's they would import its streaming/, not code's
            proc = subprocess.Popen(
                cmd, env=env, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=code,
            )  # fmt: skip
        return Job(proc, log)

    def kill(self) -> None:
        """SIGKILL the whole group (spark-submit, the JVM, the Python driver) and the groups of
        its descendants (pyspark.daemon puts the Python workers in a group of their own)."""
        groups = {self.proc.pid} | _descendant_groups(self.proc.pid)
        for pgid in groups:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(60)  # SIGKILLed: it goes at once; a D-state wait must not hang the caller
        wait_for(lambda: not any(map(_group_alive, groups)), 30, "the killed groups to go")

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise JobDied(f"job exited with {self.proc.returncode}:\n{tail}")


def start_cli(args: list[str], log: Path) -> subprocess.Popen:
    """`sensorpipe stream ARGS` in a session of its own (a signal to its group is a Ctrl-C), stderr
    and stdout to `log`."""
    cmd = [sys.executable, "-m", "sensorpipe.cli", "stream", *args]
    with open(log, "ab") as fh:
        return subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def scrape(port: int) -> dict[str, float] | None:
    """The samples at http://127.0.0.1:PORT/metrics as {'name{label="v"}': value}; None while
    nothing answers there."""
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return None
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


def snapshot(dest: Path) -> Path:
    """A copy of the job's code (streaming/, sensorpipe/) for every start of one run: each
    restart runs the same version, as a deployed job would, even while the tree is edited."""
    for name in ("streaming", "sensorpipe"):
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def _descendant_groups(pid: int) -> set[int]:
    """Process groups of pid's descendants (from /proc: Linux)."""
    children: dict[int, list[int]] = {}
    pgid: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        me = int(stat.parent.name)
        children.setdefault(int(fields[1]), []).append(me)
        pgid[me] = int(fields[2])
    out, todo = set(), list(children.get(pid, []))
    while todo:
        p = todo.pop()
        out.add(pgid[p])
        todo += children.get(p, [])
    return out


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def wait_for(cond, timeout: float, what: str, job: Job | None = None, poll: float = 0.2) -> None:
    """Poll cond() until true; fail after timeout seconds or as soon as the job has died."""
    deadline = time.monotonic() + timeout
    while not cond():
        if job is not None:
            job.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}")
        time.sleep(poll)


def batches(out: Path, log: str) -> int:
    """Batches in the checkpoint's offsets/ (planned) or commits/ (done) log."""
    d = out / "checkpoint" / log
    return sum(1 for p in d.iterdir() if p.name.isdigit()) if d.is_dir() else 0


def wait_more(out: Path, log: str, job: Job, timeout: float) -> None:
    """Wait until the checkpoint's `log` holds one batch more than now."""
    before = batches(out, log)
    wait_for(lambda: batches(out, log) > before, timeout, f"a batch more in {log}/", job)
