"""Batch scoring throughput: Spark (jobs/score.py's mapInPandas) next to plain pandas, same model, same rows.

  .venv/bin/python bench/score.py [--rows 1000000] [--model DIR]

The rows are C-MAPSS FD001 test readings with their features, repeated (unit numbers
shifted) to --rows and written once as Parquet. The model is the registry's current
version under --model (default: trains conf/cmapss.toml on train_FD001 into
bench/data/model-cmapss first). Timed: Spark reads the Parquet, scores every row through
mapInPandas (the model loaded once per Python worker) and writes Parquet; pandas reads the
same Parquet, scores it with sensorpipe.model.classifier.score and writes Parquet. One run each, so
read the ratio with the machine's load in mind; the load average is printed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from sensorpipe.core.spec import load_spec  # noqa: E402
from sensorpipe.model.classifier import score  # noqa: E402
from sensorpipe.model.features import with_features  # noqa: E402
from sensorpipe.model.raw import read_raw  # noqa: E402
from sensorpipe.model.registry import load_model  # noqa: E402

DATA = ROOT / "bench" / "data"
CMAPSS = ROOT.parent / "shared" / "data" / "cmapss"


def ensure_model(model_dir: Path) -> Path:
    if not (model_dir / "current").exists():
        train = [
            sys.executable,
            "-m",
            "sensorpipe.cli",
            "train",
            "--spec",
            str(ROOT / "conf" / "cmapss.toml"),
        ]
        train += ["--input", str(CMAPSS / "train_FD001.txt"), "--model", str(model_dir)]
        subprocess.run(train, check=True, cwd=ROOT)
    return model_dir


def feature_rows(rows: int, model_dir: Path, where: Path) -> Path:
    """FD001 test readings with the model's features, repeated to `rows` rows, as Parquet."""
    model = load_model(model_dir)
    spec = load_spec(ROOT / "conf" / "cmapss.toml")
    base = with_features(read_raw(spec, CMAPSS / "test_FD001.txt"), model.features)
    copies = -(-rows // len(base))
    units = base["unit"].max()
    frames = [base.assign(unit=base["unit"] + k * units) for k in range(copies)]
    frame = pd.concat(frames, ignore_index=True).head(rows)
    path = where / f"scoring-{rows}.parquet"
    frame.to_parquet(path, index=False, row_group_size=100_000)
    return path


def time_pandas(path: Path, model_dir: Path, out: Path) -> float:
    start = time.perf_counter()
    model = load_model(model_dir)
    frame = pd.read_parquet(path)
    keep = frame[[model.features.device, model.features.order]]
    proba = score(frame, model).to_numpy()
    keep.assign(probability=proba, alert=proba >= model.threshold).to_parquet(out, index=False)
    return time.perf_counter() - start


def time_spark(path: Path, model_dir: Path, out: Path) -> tuple[float, float]:
    """(seconds for the scoring job, seconds to start the session)."""
    from pyspark.sql import SparkSession

    from jobs.score import with_scores

    t0 = time.perf_counter()
    spark = (
        SparkSession.builder.master("local[*]")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "10000")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("WARN")
    started = time.perf_counter()
    spark.read.parquet(str(path)).transform(with_scores(model_dir)).write.mode("overwrite").parquet(str(out))
    done = time.perf_counter()
    spark.stop()
    return done - started, started - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--model", type=Path, default=DATA / "model-cmapss")
    args = ap.parse_args()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    DATA.mkdir(parents=True, exist_ok=True)
    model_dir = ensure_model(args.model)
    work = Path(tempfile.mkdtemp(prefix="score-bench-", dir=DATA))
    try:
        path = feature_rows(args.rows, model_dir, work)
        pandas_s = time_pandas(path, model_dir, work / "pandas.parquet")
        spark_s, session_s = time_spark(path, model_dir, work / "spark")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()[0]
    card = load_model(model_dir).card
    print(
        f"model {card['model']['name']} ({len(load_model(model_dir).features.names)} features), {args.rows:,} rows,"
        f" {os.cpu_count()} cores, load average {load:.1f}"
    )
    print("| engine | seconds | rows/s | x pandas (time) |")
    print("|---|---:|---:|---:|")
    for name, s in (("pandas (one process)", pandas_s), ("Spark local[*] mapInPandas", spark_s)):
        print(f"| {name} | {s:.1f} | {args.rows / s:,.0f} | {s / pandas_s:.2f} |")
    print(f"(Spark session start, not counted: {session_s:.1f} s)")


if __name__ == "__main__":
    main()
