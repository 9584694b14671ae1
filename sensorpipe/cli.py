"""The `sensorpipe` command: thin wiring from arguments to the engines.

Exit codes: 0 success, 2 bad usage or invalid spec (the message names the key and the
file), 1 a run that failed (nothing half-written: see sensorpipe.output).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sensorpipe.inputs import InputError
from sensorpipe.output import OutputError, check_replaceable
from sensorpipe.rows import LayoutError
from sensorpipe.spec import SpecError, load_spec


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sensorpipe", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("clean", help="clean a raw CSV with a spec")
    c.add_argument("--engine", choices=["hadoop", "pipe", "spark"], default="pipe")
    c.add_argument("--spec", required=True)
    c.add_argument("--input", required=True)
    c.add_argument("--output", required=True)
    c.add_argument("--reducers", type=int, default=2, help="reduce tasks per MapReduce pass")
    c.add_argument("--split-mb", type=float, default=32.0, help="MapReduce input split size")
    c.add_argument("--python", help="interpreter the streaming scripts run with on task nodes")
    c.add_argument("--master", help="Spark master URL (--engine spark)")
    c.add_argument(
        "--format", choices=["parquet", "csv"], default="parquet", help="clean/ format of --engine spark"
    )
    d = sub.add_parser("demo", help="simulate, clean on Hadoop Streaming and the pipe engine, compare")
    d.add_argument("--rows", type=int, default=100_000)
    d.add_argument("--out", default="out/demo")
    v = sub.add_parser("validate-spec", help="check a spec file and print its columns")
    v.add_argument("spec")
    return p


def cmd_clean(args) -> int:
    load_spec(args.spec)  # a bad spec or output is a usage error (exit 2) before anything runs
    check_replaceable(Path(args.output).absolute())
    if args.engine == "spark":
        from sensorpipe.launch import run_spark  # noqa: PLC0415

        job = ["--spec", args.spec, "--input", args.input, "--output", args.output, "--format", args.format]
        return 1 if run_spark("jobs/clean.py", job, args.master) else 0
    from mapreduce.runner import clean  # noqa: PLC0415

    report = clean(
        args.spec,
        args.input,
        args.output,
        engine=args.engine,
        python=args.python,
        split_bytes=max(1, int(args.split_mb * 1024 * 1024)),
        reducers=args.reducers,
    )
    print(
        json.dumps(
            {
                k: report[k]
                for k in ("engine", "rows_in", "rows_clean", "rows_rejected", "rejected_by_reason", "seconds")
            }
        )
    )
    return 0


def cmd_validate(args) -> int:
    spec = load_spec(args.spec)
    for c in spec.columns:
        print(f"{c.name}\t{c.type}\t-> {c.out}{'  (dropped)' if c.name in spec.drop else ''}")
    return 0


def cmd_demo(args) -> int:
    from sensorpipe.demo import main as demo  # noqa: PLC0415

    return demo(["--rows", str(args.rows), "--out", args.out])


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return {"clean": cmd_clean, "demo": cmd_demo, "validate-spec": cmd_validate}[args.command](args)
    except (SpecError, OutputError) as exc:
        print(f"sensorpipe: {exc}", file=sys.stderr)
        return 2
    except (InputError, LayoutError, RuntimeError, OSError) as exc:
        print(f"sensorpipe: run failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("sensorpipe: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
