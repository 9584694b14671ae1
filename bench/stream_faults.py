"""Kill -9 the streaming job again and again while events keep landing; check exactly-once.

  .venv/bin/python bench/stream_faults.py [--kills 8] [--seconds 300] [--devices 8] [--seed 0]

The job (`spark-submit streaming/score_stream.py --trigger 1s --max-files-per-trigger 1`,
in its own process group) scores a landing directory this script keeps feeding with the
simulator's EventStream, one small file at a time by atomic rename. At moments drawn from
a seeded RNG (half of them while a batch is planned but not yet committed) the whole
process group gets SIGKILL and the job restarts from its checkpoint (from a copy of the
code taken at the start, so every restart runs one version). After the last kill two
"tick" files (one reading per device, a day and then two days after the last one) push the
watermark past every real event, so the check does not rest on the end-of-stream drain,
and the job restarts a last time as a --available-now run that processes what is left. One uninterrupted --available-now run over
the same files is the reference: scored/ must hold each valid event exactly once (valid:
counted from the files alone), alerts/ must equal the reference's, row for row, and the
quarantined lines and reasons the reference's. With --kafka the events go to a topic the job
reads (the files only record them), and the reference still reads the files. They are
published one event-time step at a time, each acknowledged before the next, as a fleet's
readings arrive: Spark's watermark is one for all partitions, so a partition that lagged the
other by more than the watermark delay (2 minutes of event time; a file holds 10) would have
its events quarantined as late, and a batch planned mid-file could see such a lag.
tests/test_stream_faults.py runs this small; here it runs longer with more kills.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from sensorpipe.core.spec import load_spec  # noqa: E402
from sensorpipe.sim import simulate  # noqa: E402
from sensorpipe.sim.kafka import Sender, producer  # noqa: E402
from sensorpipe.sim.simulate import EventStream, Rates, device_names  # noqa: E402
from sensorpipe.spark.launch import kafka_jars, spark_env, spark_submit_command  # noqa: E402
from streaming.source import KAFKA, kafka_input  # noqa: E402

SPEC = ROOT / "conf" / "sensors.toml"
# faults whose outcome does not depend on where batches begin: no late readings
RATES = Rates(missing=0.002, malformed=0.002, stuck=0.002, spike=0.001, duplicate=0.002, late=0.0)
KEY = ["device_id", "ts"]
TS = re.compile(rb'"ts":"([^"]*)"')


class JobDied(RuntimeError):
    pass


@dataclass
class Job:
    """One spark-submit of the streaming job in its own process group, output to a log."""

    proc: subprocess.Popen
    log: Path

    @staticmethod
    def start(
        spec, model, landing, out, log: Path, live: bool = True, code: Path = ROOT, master: str = "local[2]",
        max_files: int | None = 1, trigger: str = "1s",
    ) -> Job:  # fmt: skip
        """landing: a directory, or kafka://BOOTSTRAP/TOPIC (max_files is then ignored)."""
        kafka = str(landing).startswith(KAFKA)
        args = ["--spec", str(spec), "--model", str(model), "--input", str(landing), "--output", str(out)]
        args += ["--max-files-per-trigger", str(max_files)] if max_files and not kafka else []
        args += ["--trigger", trigger] if live else ["--available-now"]
        script = "streaming/score_stream.py"
        cmd = [
            str(code / script) if c == str(ROOT / script) else c
            for c in spark_submit_command(script, args, master, kafka_jars() if kafka else ())
        ]
        env = spark_env()
        env["PYTHONPATH"] = os.pathsep.join([str(code), env["PYTHONPATH"]])
        with open(log, "ab") as fh:
            fh.write(f"\n=== {time.strftime('%H:%M:%S')} {' '.join(cmd)}\n".encode())
            proc = subprocess.Popen(
                cmd, env=env, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                start_new_session=True,
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
        self.proc.wait()
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


_LANDED_NS = [0]


def land(landing: Path, seq: int, data: bytes) -> Path:
    """Land events-<seq>.jsonl, its mtime after the previous file's (sensorpipe.sim.simulate.land)."""
    path = landing / f"events-{seq:06d}.jsonl"
    _LANDED_NS[0] = simulate.land(path, data, _LANDED_NS[0])
    return path


def read_sink(out: Path, sink: str) -> pd.DataFrame:
    d = out / sink
    if not any(d.glob("*.parquet")):
        return pd.DataFrame()
    frame = pd.read_parquet(d)
    if len(frame):
        ts = pd.to_datetime(frame["ts"])
        frame["ts"] = ts.dt.tz_convert("UTC").dt.tz_localize(None) if ts.dt.tz else ts
    return frame


def valid_keys(landing: Path) -> set[tuple[str, pd.Timestamp]]:
    """(device_id, ts) of every line that is a JSON object with both, computed from the files
    alone: what the spec accepts of this feed (no late readings; a duplicate counts once)."""
    keys = set()
    for path in sorted(landing.glob("events-*.jsonl")):
        for line in path.read_text(errors="replace").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if not isinstance(row, dict) or row.get("device_id") is None or row.get("ts") is None:
                continue
            ts = row["ts"]
            stamp = pd.Timestamp(ts, unit="s") if isinstance(ts, int) else pd.Timestamp(ts).tz_localize(None)
            keys.add((row["device_id"], stamp))
    return keys


def steps(data: bytes) -> list[bytes]:
    """data's lines cut where the event time moves on; a line with no readable ts (a broken
    one) stays with the lines before it."""
    out, current, ts = [], [], None
    for line in data.splitlines(keepends=True):
        found = TS.search(line)
        if found and found.group(1) != ts and current:
            out.append(b"".join(current))
            current = []
        ts = found.group(1) if found else ts
        current.append(line)
    return out + [b"".join(current)] if current else out


def tick(devices: int, when: pd.Timestamp) -> bytes:
    return "".join(
        json.dumps({"device_id": d, "ts": when.strftime("%Y-%m-%dT%H:%M:%SZ")}) + "\n"
        for d in device_names(devices)
    ).encode()


def run_with_kills(
    work: Path, model: Path, kills: int, seconds: float, devices: int = 6, per_file: int = 60,
    seed: int = 0, timeout: float = 900.0, echo=print, kafka: tuple[str, str] | None = None,
) -> dict:  # fmt: skip
    """Feed, kill and restart `kills` times over about `seconds`, drain, run the reference.

    kafka = (bootstrap, topic): each file's events are also published to the topic (keyed by
    device, acknowledged before the next step) and the job and the reference read the topic;
    the landing directory then only records what was fed."""
    started = time.monotonic()
    rng = random.Random(seed)
    landing, out, ref, log = work / "landing", work / "out", work / "reference", work / "job.log"
    landing.mkdir(parents=True)
    code = snapshot(work / "code")
    stream = EventStream(load_spec(SPEC), devices, seed=seed, rates=RATES)
    source = kafka_input(*kafka) if kafka else landing
    sender = Sender(producer(kafka[0]), kafka[1]) if kafka else None
    seq, last_ts = 0, None

    def put(data: bytes) -> None:
        nonlocal seq
        land(landing, seq, data)
        seq += 1
        for step in steps(data) if sender else ():
            sender.send(step)
            sender.producer.flush(30)

    def feed(n_files: int) -> None:
        for _ in range(n_files):
            put(stream.take(per_file))

    feed(2)
    job, restarts = Job.start(SPEC, model, source, out, log, code=code), 0
    pause = seconds / (kills + 1)
    try:
        for k in range(kills):
            feed(1)
            wait_more(out, "commits", job, timeout)  # progress since this (re)start
            feed(1 + rng.randrange(3))
            if rng.random() < 0.5:  # while a batch is planned and not committed
                wait_more(out, "offsets", job, timeout)
                when, delay = "in batch", rng.uniform(0, 1.5)
            else:
                when, delay = "anytime", rng.uniform(0, pause)
            deadline = time.monotonic() + delay
            wait_for(lambda t=deadline: time.monotonic() >= t, delay + 1, "the kill moment", job)
            state = (batches(out, "offsets"), batches(out, "commits"))
            job.kill()
            echo(f"kill {k + 1}/{kills} ({when}, +{delay:.1f} s): offsets {state[0]}, commits {state[1]}")
            feed(1)
            if k < kills - 1:  # after the last kill, the drain below is the restart
                job, restarts = Job.start(SPEC, model, source, out, log, code=code), restarts + 1
    finally:
        job.kill()
    last_ts = max(ts for _, ts in valid_keys(landing))
    put(tick(devices, last_ts + pd.Timedelta(days=1)))
    put(tick(devices, last_ts + pd.Timedelta(days=2)))
    if sender:
        sender.close()
        sender = None  # librdkafka's threads go with the producer (else they outlive the broker)
    # the killed run restarted from its checkpoint to drain, and the uninterrupted reference over
    # the files fed (also for a Kafka run: its reference reads the same events from the files)
    drain = Job.start(SPEC, model, source, out, log, live=False, code=code, max_files=None)
    restarts += 1
    reference = Job.start(
        SPEC, model, landing, ref, work / "reference.log", live=False, code=code, max_files=None
    )
    assert drain.wait(timeout) == 0, log.read_text(errors="replace")[-3000:]
    faulted = time.monotonic() - started
    assert reference.wait(timeout) == 0, (work / "reference.log").read_text(errors="replace")[-3000:]
    return summarize(landing, out, ref, kills, restarts, faulted, time.monotonic() - started, last_ts)


def summarize(landing, out, ref, kills, restarts, faulted, total, last_ts) -> dict:
    scored, expect = read_sink(out, "scored"), read_sink(ref, "scored")
    got = set(zip(scored["device_id"], scored["ts"]))
    real = {k for k in got if k[1] <= last_ts}  # the ticks aside
    valid = {k for k in valid_keys(landing) if k[1] <= last_ts}
    alerts, ref_alerts = _by_key(read_sink(out, "alerts")), _by_key(read_sink(ref, "alerts"))
    return {
        "events written": sum(p.read_bytes().count(b"\n") for p in landing.glob("events-*.jsonl")),
        "valid events": len(valid),
        "scored": len(scored),
        "reference scored": len(expect),
        "duplicates": int(scored.duplicated(KEY).sum()),
        "missing": len(valid - real),
        "unexpected": len(real - valid),
        "same as reference": got == set(zip(expect["device_id"], expect["ts"])),
        "alerts": len(alerts),
        "alerts equal": same_rows(alerts, ref_alerts),
        "quarantine equal": quarantined(out) == quarantined(ref),
        "quarantine reasons": reasons(out),
        "reference quarantine reasons": reasons(ref),
        "kills": kills,
        "restarts": restarts,
        "seconds with kills": round(faulted, 1),
        "total seconds": round(total, 1),
        "scored rows": scored,
        "reference rows": expect,
        "alert rows": (alerts, ref_alerts),
    }


def quarantined(out: Path) -> list[tuple[str, str]]:
    """(reason, raw line) of every quarantined line, sorted (where a line came from differs:
    a file and line, or a topic partition and offset)."""
    q = read_sink(out, "quarantine")
    return sorted(zip(q["reason"], q["raw"])) if len(q) else []


def reasons(out: Path) -> dict[str, int]:
    """How many lines were quarantined for each reason (a lost event shows here if it went late)."""
    return dict(Counter(reason for reason, _ in quarantined(out)))


def _by_key(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values([*KEY, "episode"]).reset_index(drop=True) if len(frame) else frame


def same_rows(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Equal row for row; floats to 1e-9 (rolling sums over a longer history round differently)."""
    try:
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9, atol=1e-12)
    except AssertionError:
        return False
    return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=8)
    ap.add_argument(
        "--seconds", type=float, default=300.0, help="about how long the feed-and-kill phase lasts"
    )
    ap.add_argument("--devices", type=int, default=8)
    ap.add_argument("--per-file", type=int, default=80, help="events per landed file")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", help="working directory (default: a new one under bench/data)")
    ap.add_argument("--kafka", nargs=2, metavar=("BOOTSTRAP", "TOPIC"), help="feed a Kafka topic instead")
    args = ap.parse_args()
    from tests.stream_fixtures import make_model  # noqa: PLC0415

    work = Path(args.work or ROOT / "bench" / "data" / f"stream-faults-{time.strftime('%Y%m%d-%H%M%S')}")
    work.mkdir(parents=True, exist_ok=False)
    make_model(work / "model")
    r = run_with_kills(
        work, work / "model", args.kills, args.seconds, args.devices, args.per_file, args.seed,
        kafka=tuple(args.kafka) if args.kafka else None,
    )  # fmt: skip
    print("\n| measure | value |\n|---|---|")
    for name, value in r.items():
        if not name.endswith("rows"):
            print(f"| {name} | {value} |")
    print(f"\nload average {os.getloadavg()[0]:.1f}, work dir {work}")
    ok = r["duplicates"] == 0 and r["missing"] == 0 and r["same as reference"] and r["alerts equal"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
