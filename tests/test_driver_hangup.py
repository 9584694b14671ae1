"""A driver whose JVM is killed prints no traceback while the SIGKILL that die_with_parent asked
for is on its way (sensorpipe/spark/stoppable.py, quiet_when_jvm_ends). A CI run of
test_stream_stop.py caught pyspark's accumulator server printing an EOFError traceback there."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest
from py4j.protocol import Py4JNetworkError

from conftest import ROOT
from sensorpipe.spark import stoppable
from sensorpipe.spark.stoppable import quiet_when_jvm_ends

PY4J_LOGGERS = ("py4j.java_gateway", "py4j.clientserver")

# A fresh driver whose accumulator server sees a client authenticate and hang up, as the JVM's
# connection does when the JVM dies: pyspark prints "Exception occurred during processing of
# request ... EOFError" unless the driver was made quiet (argv[1] == "quiet").
HANG_UP = textwrap.dedent(
    """
    import socket, sys, time
    from pyspark.sql import SparkSession
    spark = SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false").getOrCreate()
    if sys.argv[1] == "quiet":
        from sensorpipe.spark.stoppable import quiet_when_jvm_ends
        quiet_when_jvm_ends(spark)
    server = spark.sparkContext._accumulatorServer
    with socket.create_connection(server.server_address) as s:
        s.sendall(server.auth_token.encode())
    time.sleep(2)  # the server thread polls every second
    print("end", file=sys.stderr)
    spark.stop()
    """
)


@pytest.fixture
def restored(spark, monkeypatch):
    """The suite's session and the process's hooks as they were, after the test."""
    server = spark.sparkContext._accumulatorServer
    monkeypatch.setattr(server, "handle_error", server.handle_error)
    for name in PY4J_LOGGERS:
        monkeypatch.setattr(logging.getLogger(name), "filters", [])
    slept: list[float] = []
    monkeypatch.setattr(stoppable, "time", SimpleNamespace(sleep=slept.append))
    return server, slept


def test_an_accumulator_hang_up_is_dropped_and_other_errors_still_print(spark, restored, capfd):
    server, _ = restored
    quiet_when_jvm_ends(spark)
    quiet_when_jvm_ends(spark)  # again: no second wrapper
    for hang_up in (EOFError(), ConnectionResetError(104, "Connection reset by peer")):
        try:
            raise hang_up
        except (OSError, EOFError):
            server.handle_error(None, ("127.0.0.1", 40000))
    assert capfd.readouterr().err == ""
    try:
        raise ValueError("The value of the provided token to the AccumulatorServer is not correct.")
    except ValueError:
        server.handle_error(None, ("127.0.0.1", 40001))
    err = capfd.readouterr().err
    assert "('127.0.0.1', 40001)" in err
    assert "ValueError: The value of the provided token" in err


def test_a_lost_py4j_connection_prints_after_the_grace(spark, restored, monkeypatch):
    _, slept = restored
    seen = []
    monkeypatch.setattr(sys, "excepthook", lambda kind, value, tb: seen.append(kind))
    quiet_when_jvm_ends(spark)
    quiet_when_jvm_ends(spark)  # again: one grace, not two
    sys.excepthook(Py4JNetworkError, Py4JNetworkError("Answer from Java side is empty"), None)
    assert (seen, slept) == ([Py4JNetworkError], [2.0])
    sys.excepthook(KeyError, KeyError("device_id"), None)  # not a lost connection: no wait
    assert (seen, slept) == ([Py4JNetworkError, KeyError], [2.0])

    for name in PY4J_LOGGERS:
        assert logging.getLogger(name).filters == [stoppable._grace_filter]
    record = logging.LogRecord("py4j.clientserver", logging.ERROR, __file__, 1, "lost", None, None)
    assert stoppable._grace_filter(record) is True and slept == [2.0]
    record.exc_info = (ConnectionRefusedError, ConnectionRefusedError(111, "Connection refused"), None)
    assert stoppable._grace_filter(record) is True and slept == [2.0, 2.0]


@pytest.mark.parametrize(("mode", "traceback"), [("default", True), ("quiet", False)])
def test_a_real_accumulator_server_after_a_hang_up(mode, traceback, tmp_path):
    """The real server thread of a fresh driver: pyspark's own output without the guard (so that
    the test above tests the case that happens), none with it."""
    script = tmp_path / "hang_up.py"
    script.write_text(HANG_UP)
    cmd = [sys.executable, str(script), mode]
    done = subprocess.run(cmd, check=False, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.rstrip().endswith("end")
    assert ("EOFError" in done.stderr) is traceback
    assert ("Traceback" in done.stderr) is traceback
