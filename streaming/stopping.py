"""Stop a running stream at a batch boundary, quietly, with exactly-once intact.

A stop request (SIGINT / SIGTERM: streaming/score_stream.stop_on_signals sets the event) ends
the query in one of two ways, and neither interrupts a batch:
- between batches (the query is idle): query.stop();
- a batch that starts after the request: its foreachBatch function (guarded) raises
  StopRequested before it writes anything, so the query ends with that error. The batch's
  offsets are in the checkpoint's offset log and nothing of it is committed (no sink manifest,
  no commit log entry, no state store version: the state is computed by the write it never
  made), so the next start replays it, exactly as after a kill -9.
A batch that is running when the request comes runs to its commit; the next one stops.
Spark's and py4j's reports of that error (a Python traceback in each) are silenced by the guard
before it raises (and by the main thread once it sees the request); any other failure still reaches main() as a StreamingQueryException.
"""

from __future__ import annotations

import logging
import threading
import time

from pyspark import SparkContext
from pyspark.errors import StreamingQueryException
from pyspark.sql.streaming import StreamingQuery

# The JVM loggers that report a query's end with an error ("Query ... terminated with error",
# with the Python traceback the writer raised); silenced only once a stop is requested.
SPARK_LOGGERS = ("org.apache.spark.sql.execution.streaming", "org.apache.spark.sql.streaming")
IDLE_CHECKS = 3  # consecutive polls that see no trigger running before the query is stopped
POLL_S = 0.1


class StopRequested(Exception):
    """Raised by a guarded foreachBatch function when the stream was asked to stop."""


def guarded(write, stopping: threading.Event | None):
    """The foreachBatch function `write`, which raises StopRequested instead once `stopping` is set."""

    def write_unless_stopping(df, batch_id: int) -> None:
        if stopping is not None and stopping.is_set():
            # silenced here, before the raise: the driver's main thread notices the request up
            # to a second later, after Spark and py4j have reported this error
            quiet_stop_errors()
            raise StopRequested(f"batch {batch_id} not written: the stream was asked to stop")
        write(df, batch_id)

    return write_unless_stopping


def is_stop(exc: BaseException) -> bool:
    """Whether a query's error is the StopRequested a guarded writer raised (it reaches the
    driver as text: the Python traceback inside the JVM's exception)."""
    return StopRequested.__name__ in str(exc) or StopRequested.__name__ in repr(exc)


def stop_between_batches(query: StreamingQuery, grace_s: float = 300.0) -> None:
    """After a stop request: let the running batch commit, then end the query (see the module
    docstring); a query still busy after grace_s is stopped where it is (its batch replays)."""
    quiet_stop_errors()
    deadline, idle = time.monotonic() + grace_s, 0
    while query.isActive and time.monotonic() < deadline:
        # a trigger that finds no data or ends in the guard is over in a moment: only
        # several idle polls in a row mean no batch is about to reach the guard
        idle = 0 if query.status["isTriggerActive"] else idle + 1
        if idle >= IDLE_CHECKS:
            break
        time.sleep(POLL_S)
    query.stop()  # a no-op on a query the guard ended


def await_or_stop(query: StreamingQuery, stopping: threading.Event | None) -> None:
    """Wait for the query to end (an available-now one does); once `stopping` is set, end it
    (stop_between_batches). The guard's StopRequested is a clean end, not an error."""
    try:
        while not query.awaitTermination(1):
            if stopping is not None and stopping.is_set():
                stop_between_batches(query)
                failed = query.exception()  # the last batch may have failed on its own
                if failed is not None and not is_stop(failed):
                    raise failed
                return
    except StreamingQueryException as exc:
        if not (stopping is not None and stopping.is_set() and is_stop(exc)):
            raise


def quiet_stop_errors() -> None:
    """Silence what reports the guard's StopRequested: the JVM's streaming loggers (and the
    DAGScheduler's "Failed to cancel job group" of a query stopped with no job running) and
    py4j's callback logger, which logs the traceback of any exception a Python callback raises."""
    log4j = SparkContext._jvm.org.apache.logging.log4j
    for name in (*SPARK_LOGGERS, "org.apache.spark.scheduler.DAGScheduler"):
        log4j.core.config.Configurator.setLevel(name, log4j.Level.OFF)
    logging.getLogger("py4j.clientserver").addFilter(_not_a_stop)


def _not_a_stop(record: logging.LogRecord) -> bool:
    exc = record.exc_info[1] if record.exc_info else None
    return not (exc is not None and isinstance(exc, StopRequested))
