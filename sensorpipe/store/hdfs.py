"""HDFS from Python through pydoop (the `hadoop` extra): upload raw CSV, list, read results
back, and the driver's file work of a MapReduce cleaning whose --input and --output are
hdfs:// URIs (inputs, headers, the passes' small outputs, the staged commit).

    sensorpipe hdfs put DATA.csv hdfs://namenode:8020/raw/sensors/
    sensorpipe hdfs ls  hdfs://namenode:8020/clean/sensors
    sensorpipe hdfs cat hdfs://namenode:8020/clean/sensors/stats.json
    sensorpipe hdfs get hdfs://namenode:8020/clean/sensors out/sensors

pydoop finds Hadoop through `hadoop classpath` and HADOOP_CONF_DIR; without a `hadoop`
command on PATH the project's conf/hadoop/bin/hadoop (`make setup`) stands in.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from sensorpipe.core.inputs import InputError, header_from_lines
from sensorpipe.core.output import OUR_FILES, OutputError
from sensorpipe.core.spec import Spec

LAUNCHER = Path(__file__).resolve().parents[2] / "conf" / "hadoop" / "bin"
LOG4J = LAUNCHER.parent / "log4j-client.properties"
_hdfs = None


class HdfsMissing(RuntimeError):
    """pydoop or Hadoop is not installed (a failed run, exit 1)."""


def is_hdfs(path) -> bool:
    return str(path).startswith("hdfs://")


def pydoop_hdfs():
    """pydoop.hdfs with its JVM started. pydoop sets CLASSPATH (from `hadoop classpath`) and
    HADOOP_HOME for it; both are restored after, so later Java subprocesses (spark-submit,
    the local Hadoop) do not inherit Hadoop 3.3.6's jars."""
    global _hdfs  # noqa: PLW0603 (one JVM per process: pydoop starts it once)
    if _hdfs is not None:
        return _hdfs
    saved = {k: os.environ.get(k) for k in ("CLASSPATH", "PATH", "LIBHDFS_OPTS", "HADOOP_HOME")}
    if not shutil.which("hadoop"):
        os.environ["PATH"] = f"{LAUNCHER}{os.pathsep}{saved['PATH'] or ''}"
    # Hadoop's log lines to stderr, as the `hadoop` command does: stdout carries `hdfs cat`
    os.environ.setdefault("LIBHDFS_OPTS", f"-Dlog4j.configuration=file:{LOG4J}")
    try:
        from pydoop import hdfs  # noqa: PLC0415 (optional: the `hadoop` extra)

        hdfs.hdfs("", 0).close()  # the local file system: starts the JVM
    except ImportError:
        raise HdfsMissing(
            "hdfs:// paths need pydoop: `make test` installs it, or see README (pip install sensorpipe[hadoop])"
        ) from None
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    _hdfs = hdfs
    return hdfs


def _same_authority(like: str, listed: str) -> str:
    """`listed` (as HDFS names it) with the scheme and authority the user wrote in `like`, so
    the paths match what Hadoop hands the mappers (mapreduce_map_input_file)."""
    want, got = urlsplit(like), urlsplit(listed)
    return f"{want.scheme}://{want.netloc or got.netloc}{got.path}"


def list_inputs(uri: str) -> list[str]:
    """The file, or a directory's visible files sorted by name (as sensorpipe.core.inputs does)."""
    hdfs = pydoop_hdfs()
    if not hdfs.path.exists(uri):
        raise InputError(f"{uri}: no such file or directory")
    if hdfs.path.isfile(uri):
        return [_same_authority(uri, uri)]
    names = [e["name"] for e in hdfs.lsl(uri) if e["kind"] == "file"]
    visible = [n for n in names if not n.rstrip("/").rsplit("/", 1)[-1].startswith(("_", "."))]
    return sorted(_same_authority(uri, n) for n in visible)


def read_header(uri: str, spec: Spec):
    """sensorpipe.core.inputs.read_header for an HDFS file: only the file's head is read."""
    if not spec.header:
        return None, -1, -1
    with pydoop_hdfs().open(uri, "rb") as f:
        return header_from_lines(iter(f.readline, b""), spec, uri)


def part_lines(directory: str):
    """The text lines of a job output's part-* files, in part order."""
    hdfs = pydoop_hdfs()
    for name in sorted(n for n in hdfs.ls(directory) if n.rsplit("/", 1)[-1].startswith("part-")):
        yield from hdfs.load(name, mode="rt").splitlines()


def write_json(uri: str, doc: dict) -> None:
    pydoop_hdfs().dump(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", uri, mode="wt")


def remove(uri: str) -> None:
    pydoop_hdfs().rm(uri, recursive=True)


def check_replaceable(out: str) -> None:
    hdfs = pydoop_hdfs()
    if not hdfs.path.exists(out):
        return
    names = {n.rsplit("/", 1)[-1] for n in hdfs.ls(out)} if hdfs.path.isdir(out) else {"?"}
    if names and not names & OUR_FILES:
        raise OutputError(f"{out}: exists and is not a sensorpipe output; refusing to replace it")


@contextlib.contextmanager
def staged_output(out: str):
    """sensorpipe.core.output.staged_output on HDFS: a staging directory beside `out`, moved into
    place with `_SUCCESS` written last; removed if the run fails."""
    hdfs = pydoop_hdfs()
    check_replaceable(out)
    parent, name = out.rstrip("/").rsplit("/", 1)
    stage = f"{parent}/.{name}.staging-{uuid.uuid4().hex[:8]}"
    hdfs.mkdir(stage)
    try:
        yield stage
        hdfs.dump(b"", f"{stage}/_SUCCESS")
        old = f"{parent}/.{name}.old-{uuid.uuid4().hex[:8]}" if hdfs.path.exists(out) else None
        if old:
            hdfs.rename(out, old)
        hdfs.rename(stage, out)
        if old:
            hdfs.rm(old)
    except BaseException:
        with contextlib.suppress(OSError, RuntimeError):
            hdfs.rm(stage)
        raise


def add_parser(sub) -> None:
    h = sub.add_parser("hdfs", help="copy files to and from HDFS, list, print (pydoop)")
    op = h.add_subparsers(dest="op", required=True)
    put = op.add_parser("put", help="upload local files into an HDFS directory (created if missing)")
    put.add_argument("local", nargs="+")
    put.add_argument("uri")
    op.add_parser("ls", help="list a directory, recursively: size and URI").add_argument("uri")
    op.add_parser("cat", help="print a file, or a directory's part-* files").add_argument("uri")
    get = op.add_parser("get", help="download a file or a directory tree")
    get.add_argument("uri")
    get.add_argument("local")


def command(args) -> int:
    """`sensorpipe hdfs put|ls|cat|get ...`."""
    hdfs = pydoop_hdfs()
    if args.op == "put":
        hdfs.mkdir(args.uri)
        for local in args.local:
            if not os.path.isfile(local):
                raise InputError(f"{local}: no such file")
            hdfs.put(local, f"{args.uri.rstrip('/')}/{os.path.basename(local)}")
    elif args.op == "ls":
        for e in sorted(hdfs.lsl(args.uri, recursive=True), key=lambda e: e["name"]):
            print(f"{e['size'] if e['kind'] == 'file' else '-':>12}  {e['name']}")
    elif args.op == "cat":
        names = [args.uri] if hdfs.path.isfile(args.uri) else sorted(hdfs.ls(args.uri))
        for name in names:
            if name == args.uri or name.rsplit("/", 1)[-1].startswith("part-"):
                sys.stdout.buffer.write(hdfs.load(name, mode="rb"))
    else:
        hdfs.get(args.uri, args.local) if hdfs.path.isfile(args.uri) else _get_tree(args.uri, args.local)
    return 0


def _get_tree(uri: str, local: str) -> None:
    hdfs = pydoop_hdfs()
    root = urlsplit(uri).path.rstrip("/")
    for e in hdfs.lsl(uri, recursive=True):
        target = Path(local) / urlsplit(e["name"]).path[len(root) :].lstrip("/")
        if e["kind"] == "directory":
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            hdfs.get(e["name"], str(target))
