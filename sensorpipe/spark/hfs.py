"""The driver's file work through Hadoop's FileSystem API, so one job runs on file://,
hdfs:// or s3a:// alike: list the inputs, read their headers, stage and commit the output.
Only heads of files and small JSON documents pass through the driver.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from urllib.parse import unquote, urlsplit

from pyspark.sql import SparkSession

from sensorpipe.core.inputs import InputError, header_from_lines
from sensorpipe.core.output import OUR_FILES, OutputError
from sensorpipe.core.spec import Spec

CHUNK = 1 << 16


def display(uri: str) -> str:
    """How a file is named in rejects and reports: local files by their plain path."""
    parts = urlsplit(uri)
    return os.path.abspath(unquote(parts.path)) if parts.scheme in ("", "file") else uri


class HadoopFS:
    def __init__(self, spark: SparkSession):
        self.jvm = spark._jvm
        self.conf = spark._jsc.hadoopConfiguration()

    def _fs(self, path: str):
        p = self.jvm.org.apache.hadoop.fs.Path(path)
        return p.getFileSystem(self.conf), p

    def exists(self, path: str) -> bool:
        fs, p = self._fs(path)
        return fs.exists(p)

    def list_inputs(self, path: str) -> list[str]:
        """The input file, or a directory's visible files sorted by name, as full URIs."""
        fs, p = self._fs(path)
        if not fs.exists(p):
            raise InputError(f"{path}: no such file or directory")
        if fs.getFileStatus(p).isFile():
            return [fs.makeQualified(p).toString()]
        files = [s.getPath() for s in fs.listStatus(p) if s.isFile()]
        return sorted(f.toString() for f in files if not f.getName().startswith(("_", ".")))

    def head_lines(self, path: str):
        """Raw lines from the start of a file, read in chunks (for the header)."""
        fs, p = self._fs(path)
        stream = fs.open(p)
        try:
            pending = b""
            while True:
                chunk = bytes(stream.readNBytes(CHUNK))
                pending += chunk
                *lines, pending = pending.split(b"\n")
                yield from (line + b"\n" for line in lines)
                if len(chunk) < CHUNK:
                    if pending:
                        yield pending
                    return
        finally:
            stream.close()

    def read_header(self, path: str, spec: Spec):
        return (
            header_from_lines(self.head_lines(path), spec, display(path)) if spec.header else (None, -1, -1)
        )

    def write_json(self, path: str, doc: dict) -> None:
        self.write_bytes(path, (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode())

    def write_bytes(self, path: str, data: bytes) -> None:
        fs, p = self._fs(path)
        out = fs.create(p, True)
        try:
            out.write(bytearray(data))
        finally:
            out.close()

    def _check_replaceable(self, out: str) -> None:
        fs, p = self._fs(out)
        if not fs.exists(p):
            return
        names = (
            {s.getPath().getName() for s in fs.listStatus(p)} if fs.getFileStatus(p).isDirectory() else {"?"}
        )
        if names and not names & OUR_FILES:
            raise OutputError(f"{out}: exists and is not a sensorpipe output; refusing to replace it")

    @contextlib.contextmanager
    def staged_output(self, out: str):
        """Yield a staging directory beside `out`; on success write _SUCCESS and swap it in."""
        self._check_replaceable(out)
        fs, target = self._fs(out)
        target = fs.makeQualified(target)
        parent, name = target.getParent(), target.getName()
        stage = self.jvm.org.apache.hadoop.fs.Path(parent, f".{name}.staging-{uuid.uuid4().hex[:8]}")
        fs.mkdirs(stage)
        try:
            yield stage.toString()
            self.write_bytes(stage.toString() + "/_SUCCESS", b"")
            old = self.jvm.org.apache.hadoop.fs.Path(parent, f".{name}.old-{uuid.uuid4().hex[:8]}")
            moved = fs.exists(target) and fs.rename(target, old)
            if not fs.rename(stage, target):
                raise OSError(f"could not move {stage} to {target}")
            if moved:
                fs.delete(old, True)
        except BaseException:
            fs.delete(stage, True)
            raise

    def tidy(self, path: str) -> None:
        """Drop the local file system's .crc side files."""
        fs, p = self._fs(path)
        files = fs.listFiles(p, True)
        while files.hasNext():
            f = files.next().getPath()
            if f.getName().startswith(".") and f.getName().endswith(".crc"):
                fs.delete(f, False)
