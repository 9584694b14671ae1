"""Run a Spark entry point (jobs/*.py, streaming/*.py) through the pyspark wheel's spark-submit.

Local mode by default; the project's conf/spark-defaults.conf and conf/log4j2.properties
keep local runs quiet. The progress bar is drawn only on a terminal: its carriage returns
make logs unreadable.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "conf"


def spark_submit_command(script: str, args: list[str], master: str | None = None) -> list[str]:
    import pyspark  # noqa: PLC0415 (only the Spark engines need it)

    submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    progress = "true" if sys.stderr.isatty() else "false"
    return [
        str(submit),
        "--master",
        master or "local[*]",
        "--properties-file",
        str(CONF / "spark-defaults.conf"),
        "--driver-java-options",
        f"-Dlog4j2.configurationFile={CONF / 'log4j2.properties'}",
        "--conf",
        f"spark.ui.showConsoleProgress={progress}",
        str(ROOT / script),
        *args,
    ]


def spark_env() -> dict:
    """The driver and the Python workers use this interpreter (pandas, pyarrow live here)."""
    env = dict(os.environ)
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def run_spark(script: str, args: list[str], master: str | None = None) -> int:
    return subprocess.call(
        spark_submit_command(script, args, master), env=spark_env(), stdin=subprocess.DEVNULL
    )
