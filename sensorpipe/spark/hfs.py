"""Hadoop's FileSystem API over py4j as a sensorpipe.store.base.Store, so a Spark driver's file
work runs on file://, hdfs:// or s3a:// alike; the one JVM file helper of the batch jobs and
the stream (its sinks' batch files, its pin, its drain requests).
"""

from __future__ import annotations

from collections.abc import Iterator

from pyspark.sql import SparkSession

from sensorpipe.core.inputs import local_path
from sensorpipe.store.base import DIR, FILE, OTHER, Entry, Store

CHUNK = 1 << 16


def display(name: str) -> str:
    """How a file is named in rejects and reports: local files by their plain path. `name` is
    as Hadoop's Path prints it (unescaped; sensorpipe.core.inputs.path_parts)."""
    return local_path(name) or name


class HadoopFS(Store):
    """Only heads of files and small documents pass through the driver."""

    def __init__(self, spark: SparkSession):
        self.jvm = spark._jvm
        self.conf = spark._jsc.hadoopConfiguration()
        self.gateway = spark.sparkContext._gateway
        self.path_class = self.jvm.org.apache.hadoop.fs.Path  # looked up once: each lookup is a py4j call

    def _fs(self, path: str):
        p = self.path_class(path)
        return p.getFileSystem(self.conf), p

    @staticmethod
    def _kind(status) -> str:
        return FILE if status.isFile() else DIR if status.isDirectory() else OTHER

    def kind(self, path: str) -> str | None:
        fs, p = self._fs(path)
        return self._kind(fs.getFileStatus(p)) if fs.exists(p) else None

    def entries(self, directory: str) -> list[Entry]:
        fs, p = self._fs(directory)
        listed = [(s.getPath().toString(), self._kind(s)) for s in fs.listStatus(p)]
        return [Entry(uri.rsplit("/", 1)[-1], uri, kind) for uri, kind in listed]

    def qualify(self, path: str) -> str:
        fs, p = self._fs(path)
        return fs.makeQualified(p).toString()

    def split(self, path: str) -> tuple[str, str]:
        fs, p = self._fs(path)
        q = fs.makeQualified(p)
        return q.getParent().toString(), q.getName()

    def head_lines(self, path: str) -> Iterator[bytes]:
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

    def read_bytes(self, path: str) -> bytes:
        fs, p = self._fs(path)
        stream = fs.open(p)
        try:
            return bytes(stream.readAllBytes())
        finally:
            stream.close()

    def _bare(self, fs, p):
        """A local file system without its .crc sidecars (the sidecar of p deleted): Hadoop's
        local rename moves a file and its sidecar in two steps, so a kill -9 between them left
        a file that then failed its checksum (found by the stream's kill -9 test). HDFS: as is."""
        if fs.getScheme() != "file":
            return fs
        raw = fs.getRawFileSystem()
        raw.delete(fs.getChecksumFile(p), False)
        return raw

    def write_bytes(self, path: str, data: bytes) -> None:
        fs, p = self._fs(path)
        out = self._bare(fs, p).create(p, True)
        try:
            out.write(bytearray(data))
        finally:
            out.close()

    def mkdir(self, path: str) -> None:
        fs, p = self._fs(path)
        fs.mkdirs(p)

    def rename(self, src: str, dst: str) -> None:
        fs, p = self._fs(src)
        if not fs.rename(p, self.path_class(dst)):
            raise OSError(f"could not move {src} to {dst}")

    def delete(self, path: str) -> None:
        fs, p = self._fs(path)
        fs.delete(p, True)

    def display(self, path: str) -> str:
        return display(path)

    # -- beyond the Store protocol: what the stream's sinks and restarts need -------------

    def glob(self, pattern: str) -> list[str]:
        """The full names matching a Hadoop glob pattern (batch-0000000007-*)."""
        fs, p = self._fs(pattern)
        return [s.getPath().toString() for s in fs.globStatus(p) or []]

    def append(self, path: str, data: bytes) -> None:
        """Append to a file, creating it (Hadoop's append: HDFS supports it, the local
        file system does not)."""
        fs, p = self._fs(path)
        stream = fs.append(p) if fs.exists(p) else fs.create(p, False)
        try:
            stream.write(bytearray(data))
        finally:
            stream.close()

    def replace(self, src: str, dst: str) -> None:
        """Rename src over an existing dst in one step: FileContext's rename with OVERWRITE,
        atomic on HDFS and on a local disk (FileSystem.rename refuses an existing file)."""
        fs, target = self._fs(dst)
        if fs.getScheme() == "file":  # rename(2), the sidecars gone first (_bare)
            source = self.path_class(src)
            self._bare(fs, source)
            if not self._bare(fs, target).rename(source, target):
                raise OSError(f"could not move {src} to {dst}")
            return
        rename = self.jvm.org.apache.hadoop.fs.Options.Rename
        options = self.gateway.new_array(rename, 1)
        options[0] = rename.OVERWRITE
        target = self.path_class(dst)
        context = self.jvm.org.apache.hadoop.fs.FileContext.getFileContext(target.toUri(), self.conf)
        context.rename(self.path_class(src), target, options)

    def lengths(self, directory: str) -> dict[str, int]:
        """The files of a directory (not its subdirectories) and their sizes in bytes; one
        listing. Nothing there: empty."""
        fs, p = self._fs(directory)
        if not fs.exists(p):
            return {}
        return {s.getPath().getName(): s.getLen() for s in fs.listStatus(p) if s.isFile()}
