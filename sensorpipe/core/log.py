"""Logging for `sensorpipe` and the processes it starts: levels (-q, default, -v) and formats
(text for people, json for machines). configure() records the choice in SENSORPIPE_LOG_LEVEL
and SENSORPIPE_LOG_FORMAT, and a child (a spark-submit job, a demo step) configures itself from them.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import stat
import sys
from datetime import UTC, datetime

LEVEL_ENV, FORMAT_ENV = "SENSORPIPE_LOG_LEVEL", "SENSORPIPE_LOG_FORMAT"
# /proc/<pid>/fd/2 of the `sensorpipe` process that spark-submits a job (sensorpipe/spark/launch.py):
# the job's Python driver writes its stderr there, since spark-submit (PythonRunner) pipes the
# driver's stderr into its own stdout, where the command's results go
STDERR_ENV = "SENSORPIPE_STDERR"
VERBOSITY = {-1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}
FORMATS = ("text", "json")
# The project's loggers get the chosen level; other libraries' (py4j, matplotlib) stay at
# WARNING even with -v: their debug lines are not ours to show.
PROJECT = ("sensorpipe", "mapreduce", "jobs", "streaming")
_RECORD_FIELDS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def add_arguments(parser) -> None:
    """-v / -q / --log-format on an argparse parser; unset, configure() reads the environment."""
    loud = parser.add_mutually_exclusive_group()
    loud.add_argument(
        "-v", "--verbose", dest="verbosity", action="store_const", const=1, help="debug lines too"
    )
    loud.add_argument(
        "-q", "--quiet", dest="verbosity", action="store_const", const=-1, help="warnings and errors only"
    )
    parser.add_argument("--log-format", choices=FORMATS, help="text (default) or json: one object per line")


def configure(verbosity: int | None = None, fmt: str | None = None) -> None:
    """Log to stderr at WARNING (-1), INFO (0) or DEBUG (1) in `fmt`; what is not given comes
    from the environment (else INFO, text). Calling it again replaces the earlier setup. A
    spark-submit'd driver first takes back the stderr of the `sensorpipe` that started it (STDERR_ENV)."""
    reattach_stderr(os.environ.pop(STDERR_ENV, ""))
    if verbosity is None:
        name = os.environ.get(LEVEL_ENV, "INFO").upper()
        level = logging.getLevelNamesMapping().get(name, logging.INFO)
    else:
        level = VERBOSITY[max(-1, min(1, verbosity))]
    fmt = fmt or os.environ.get(FORMAT_ENV, "")
    fmt = fmt if fmt in FORMATS else "text"
    handler = _Stderr()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter(level <= logging.DEBUG))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Stderr)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for name in PROJECT:
        logging.getLogger(name).setLevel(level)
    os.environ[LEVEL_ENV], os.environ[FORMAT_ENV] = logging.getLevelName(level), fmt


def announce(logger: logging.Logger, msg: str, *args) -> None:
    """Log an INFO line that -q does not hide: the one line a user who asked for something must
    see (`sensorpipe: stream stopped after N batches` after a Ctrl-C). It is formatted as any INFO
    line (the message alone, or a json object with level INFO)."""
    # handle() skips the level check that logger.info() makes; the handlers have no level
    logger.handle(logger.makeRecord(logger.name, logging.INFO, "", 0, msg, args, None))


def stderr_for_child() -> str:
    """STDERR_ENV's value for a child that should write its stderr to this process's: the path of
    fd 2 in /proc. A regular file (`2> log`) is set to append first, so that this process, the
    child's descendants that inherit fd 2 (a JVM) and the child writing through its own opening
    all add at the end instead of over one another."""
    try:
        if stat.S_ISREG(os.fstat(2).st_mode):
            fcntl.fcntl(2, fcntl.F_SETFL, fcntl.fcntl(2, fcntl.F_GETFL) | os.O_APPEND)
    except OSError:
        return ""
    return f"/proc/{os.getpid()}/fd/2"


def reattach_stderr(path: str, depth: int = 4) -> bool:
    """Point this process's stderr (fd 2) at `path`, /proc/<pid>/fd/2 of one of its ancestors
    (`depth` generations at most): whether it did. Not when pid is no ancestor (a driver in a
    cluster container, where that pid is some other process), not a regular file written without
    O_APPEND (the two writers' offsets would overwrite each other), not what cannot be opened
    (a socket): stderr then stays where it was."""
    parts = path.split("/")
    if len(parts) != 5 or parts[:2] != ["", "proc"] or parts[3] != "fd" or not parts[2].isdigit():
        return False
    pid, fd = int(parts[2]), parts[4]
    if pid not in _ancestors(os.getpid(), depth):
        return False
    try:
        if os.path.isfile(path) and not _flags(pid, fd) & os.O_APPEND:
            return False
        target = os.open(path, os.O_WRONLY | os.O_APPEND)
    except OSError:
        return False
    sys.stderr.flush()
    os.dup2(target, 2)
    os.close(target)
    return True


def _ancestors(pid: int, depth: int) -> list[int]:
    out = []
    for _ in range(depth):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                pid = int(fh.read().rsplit(")", 1)[1].split()[1])  # the field after the state: ppid
        except (OSError, ValueError, IndexError):
            break
        out.append(pid)
    return out


def _flags(pid: int, fd: str) -> int:
    with open(f"/proc/{pid}/fdinfo/{fd}") as fh:
        for line in fh:
            if line.startswith("flags:"):
                return int(line.split()[1], 8)
    return 0


class _Stderr(logging.StreamHandler):
    """Writes to sys.stderr as it is at each record, so a redirected or captured stderr gets it."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _):
        pass


class TextFormatter(logging.Formatter):
    """By default an INFO record is its message alone, as the progress lines always read (each
    says where it comes from: `[pipe] count: done in 0.4s`, `simulate: ...`), and a warning or
    error says `sensorpipe: warning: ...`; with -v every line has its time, level and logger."""

    def __init__(self, verbose: bool = False):
        detail = "%(asctime)s.%(msecs)03d %(levelname)-7s %(name)s: %(message)s"
        super().__init__(detail if verbose else "%(message)s", "%H:%M:%S")
        self.verbose = verbose

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if self.verbose or record.levelno == logging.INFO:
            return text
        return f"sensorpipe: {record.levelname.lower()}: {text}"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts (ISO-8601 UTC), level, logger, message, then the record's
    `extra` fields and, with an exception, its traceback as `exc`."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        doc = {
            "ts": ts.replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and key not in doc:
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)
