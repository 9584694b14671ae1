"""The stream's sinks (OUT/scored/, alerts/, quarantine/) as a reader must see them: whole
micro-batches or none of one, each row once. The one reader of the project: the report, the
kill -9 harness and the tests read a sink here, and so should a user's query.

A sink is a directory of Parquet files and `_manifest.json`, the list of its visible files.
streaming/sinks.py writes a batch's files into the directory under new names, then replaces
the manifest (one atomic rename, on a local disk as on HDFS) with one that names them: that
rename is the batch's commit. A batch replayed after a crash (same id, same rows) replaces
its own files the same way. Compaction merges committed files into one, swaps it for them
in the manifest, and only then deletes them. So a file the manifest does not name is no part
of the sink: a batch in the middle of its commit, the originals of a compaction about to be
deleted, or what a crash left behind (the job deletes those when it starts again). A plain
listing of the directory can see them; reading the files the manifest names cannot.

    _manifest.json   {"format": 1, "files": [{"name": "batch-0000000007-3f9c01ab-00000.parquet",
                     "first": 7, "last": 7, "level": 0, "bytes": 51234}, ...]}

in batch order; first / last: the micro-batches whose rows the file holds; level: how many
compactions made it (0: a batch's own file). A sink without a manifest (written before
there were manifests, or by another tool) is the Parquet files the directory lists.
"""

from __future__ import annotations

import json
import re

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

MANIFEST = "_manifest.json"
FORMAT = 1
LEGACY = re.compile(r"batch-(\d{10})-\d{5}\.parquet")  # a batch's file before manifests


# -- the format (the writer, streaming/sinks.py, uses it too) ------------------------------


def batch_file(batch_id: int, token: str, n: int) -> str:
    """The name of a batch's n-th file; token: one per attempt, so a replay never overwrites."""
    return f"batch-{batch_id:010d}-{token}-{n:05d}.parquet"


def merged_file(first: int, last: int, token: str) -> str:
    """The name of a compaction's file holding batches first..last."""
    return f"batch-{first:010d}-{last:010d}-{token}.parquet"


def entry(name: str, first: int, last: int, level: int, size: int) -> dict:
    return {"name": name, "first": first, "last": last, "level": level, "bytes": size}


def dumps(files: list[dict]) -> bytes:
    return json.dumps({"format": FORMAT, "files": files}, indent=1).encode()


def loads(data: bytes) -> list[dict]:
    doc = json.loads(data)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("files"), list):
        raise ValueError(f"not a sink manifest of format {FORMAT}")
    return doc["files"]


def legacy_entries(names: list[str], sizes: dict[str, int]) -> list[dict]:
    """The manifest entries of a sink written before manifests: its batch-<id>-<n>.parquet."""
    found = [(int(m.group(1)), m.group(0)) for m in map(LEGACY.fullmatch, names) if m]
    return [entry(name, b, b, 0, sizes.get(name, 0)) for b, name in sorted(found)]


# -- reading -------------------------------------------------------------------------------


def _filesystem(sink: str, filesystem: pafs.FileSystem | None) -> tuple[pafs.FileSystem, str]:
    if filesystem is not None:
        return filesystem, sink.rstrip("/")
    if "://" in sink and not sink.startswith("file:"):
        return pafs.FileSystem.from_uri(sink)  # hdfs://, s3://: pyarrow's own file systems
    return pafs.LocalFileSystem(), str(sink).removeprefix("file://").removeprefix("file:").rstrip("/")


def files(sink, filesystem: pafs.FileSystem | None = None) -> list[str] | None:
    """The paths of the sink's visible files, in batch order; None when there is no sink."""
    fs, root = _filesystem(str(sink), filesystem)
    try:
        with fs.open_input_stream(f"{root}/{MANIFEST}") as fh:
            return [f"{root}/{e['name']}" for e in loads(fh.read())]
    except FileNotFoundError:
        pass
    info = fs.get_file_info(root)
    if info.type != pafs.FileType.Directory:
        return None
    listed = fs.get_file_info(pafs.FileSelector(root))
    names = sorted(i.base_name for i in listed if i.type == pafs.FileType.File)
    return [f"{root}/{n}" for n in names if n.endswith(".parquet") and not n.startswith(("_", "."))]


def dataset(sink, filesystem: pafs.FileSystem | None = None) -> ds.Dataset | None:
    """A pyarrow dataset of the sink's visible files (None when it has none). It is a snapshot:
    a compaction that commits meanwhile deletes files it names; read_table() retries then."""
    paths = files(sink, filesystem)
    if not paths:
        return None
    fs, _ = _filesystem(str(sink), filesystem)
    return ds.dataset(paths, format="parquet", filesystem=fs)


def read_table(sink, columns=None, filter=None, filesystem=None, attempts: int = 5) -> pa.Table | None:  # noqa: A002
    """The sink's rows (columns, a pyarrow filter expression), None when it has no file. Reads
    the manifest again when a file it named went away (a compaction committed meanwhile)."""
    for attempt in range(attempts):
        try:
            data = dataset(sink, filesystem)
            return None if data is None else data.to_table(columns=columns, filter=filter)
        except FileNotFoundError:
            if attempt == attempts - 1:
                raise
    return None


def read_frame(sink, columns=None, filter=None, filesystem=None) -> pd.DataFrame:
    """read_table() as pandas; an empty frame when the sink has no file."""
    table = read_table(sink, columns, filter, filesystem)
    return pd.DataFrame() if table is None else table.to_pandas()
