"""HDFS from Python through pydoop (the `hadoop` extra): upload raw CSV, list, read results
back, and the driver's file work of a MapReduce cleaning whose --input and --output are
hdfs:// URIs (inputs, headers, the passes' small outputs, the staged commit).

    sensorpipe hdfs put DATA.csv hdfs://namenode:8020/raw/sensors/
    sensorpipe hdfs ls  hdfs://namenode:8020/clean/sensors
    sensorpipe hdfs cat hdfs://namenode:8020/clean/sensors/stats.json
    sensorpipe hdfs get hdfs://namenode:8020/clean/sensors out/sensors

pydoop finds Hadoop through `hadoop classpath` and HADOOP_CONF_DIR: the `hadoop` command on
PATH, else $HADOOP_HOME/bin/hadoop, else (a source checkout) the project's
conf/hadoop/bin/hadoop (`make setup`); with none of them the command fails and says so.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

from sensorpipe.core.inputs import InputError, path_parts
from sensorpipe.store.base import DIR, FILE, OTHER, Entry, Store

LAUNCHER = Path(__file__).resolve().parents[2] / "conf" / "hadoop" / "bin"  # a checkout's only
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
    if importlib.util.find_spec("pydoop") is None:
        raise HdfsMissing(
            "hdfs:// paths need pydoop: `make test` installs it, or see README (pip install sensorpipe[hadoop])"
        )
    saved = {k: os.environ.get(k) for k in ("CLASSPATH", "PATH", "LIBHDFS_OPTS", "HADOOP_HOME")}
    found = hadoop_bin(shutil.which("hadoop"), saved["HADOOP_HOME"])
    os.environ["PATH"] = os.pathsep.join(p for p in (found, saved["PATH"]) if p)
    if LOG4J.is_file():  # Hadoop's log lines to stderr, as `hadoop` does: stdout carries `hdfs cat`
        os.environ.setdefault("LIBHDFS_OPTS", f"-Dlog4j.configuration=file:{LOG4J}")
    try:
        from pydoop import hdfs  # noqa: PLC0415 (optional: the `hadoop` extra)

        hdfs.hdfs("", 0).close()  # the local file system: starts the JVM
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    _hdfs = hdfs
    return hdfs


def hadoop_bin(on_path: str | None, hadoop_home: str | None, launcher: Path = LAUNCHER) -> str:
    """The directory to put first on PATH so that pydoop runs a `hadoop`: "" when `hadoop` is
    on PATH already, else $HADOOP_HOME/bin, else a source checkout's conf/hadoop/bin."""
    if on_path:
        return ""
    for where in (Path(hadoop_home) / "bin" if hadoop_home else None, launcher):
        if where is not None and (where / "hadoop").is_file():
            return str(where)
    home = f"no bin/hadoop in HADOOP_HOME={hadoop_home}" if hadoop_home else "HADOOP_HOME is not set"
    raise HdfsMissing(
        f"hdfs:// paths need Hadoop: no `hadoop` command on PATH and {home}. Install Hadoop and put"
        " its `hadoop` on PATH or set HADOOP_HOME (a source checkout's `make setup` provides one)"
    )


def _same_authority(like: str, listed: str) -> str:
    """`listed` (as HDFS names it) with the scheme and authority the user wrote in `like`, so
    the paths match what Hadoop hands the mappers (mapreduce_map_input_file)."""
    (scheme, authority, _), (_, got, path) = path_parts(like), path_parts(listed)
    return f"{scheme}://{authority or got}{path}"


_KINDS = {"file": FILE, "directory": DIR}


def _name(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


class HdfsStore(Store):
    """HDFS through pydoop: the driver's file work of a MapReduce cleaning on hdfs:// URIs."""

    def __init__(self):
        self.hdfs = pydoop_hdfs()

    def kind(self, path: str) -> str | None:
        if not self.hdfs.path.exists(path):
            return None
        if self.hdfs.path.isfile(path):
            return FILE
        return DIR if self.hdfs.path.isdir(path) else OTHER

    def entries(self, directory: str) -> list[Entry]:
        listed = [(e["name"], _KINDS.get(e["kind"], OTHER)) for e in self.hdfs.lsl(directory)]
        return [Entry(_name(uri), _same_authority(directory, uri), kind) for uri, kind in listed]

    def qualify(self, path: str) -> str:
        return _same_authority(path, path)

    def split(self, path: str) -> tuple[str, str]:
        parent, name = path.rstrip("/").rsplit("/", 1)
        return parent, name

    def head_lines(self, path: str) -> Iterator[bytes]:
        with self.hdfs.open(path, "rb") as f:
            yield from iter(f.readline, b"")

    def read_bytes(self, path: str) -> bytes:
        return self.hdfs.load(path, mode="rb")

    def write_bytes(self, path: str, data: bytes) -> None:
        self.hdfs.dump(data, path)

    def mkdir(self, path: str) -> None:
        self.hdfs.mkdir(path)

    def rename(self, src: str, dst: str) -> None:
        self.hdfs.rename(src, dst)

    def replace(self, src: str, dst: str) -> None:
        # libhdfs renames only onto a free name; Hadoop's rename with OVERWRITE (one step) is
        # Java API only: sensorpipe.spark.hfs.HadoopFS has it
        raise OSError(
            f"{dst}: pydoop cannot replace a file in one step (libhdfs has no rename with overwrite); "
            "write it from a Spark driver (sensorpipe.spark.hfs.HadoopFS)"
        )

    def delete(self, path: str) -> None:
        if self.hdfs.path.exists(path):
            self.hdfs.rm(path, recursive=True)


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
    root = path_parts(uri)[2].rstrip("/")
    for e in hdfs.lsl(uri, recursive=True):
        target = Path(local) / path_parts(e["name"])[2][len(root) :].lstrip("/")
        if e["kind"] == "directory":
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            hdfs.get(e["name"], str(target))
