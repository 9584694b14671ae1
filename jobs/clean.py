"""Clean raw CSV with a spec on Spark; the same output layout and results as Hadoop Streaming.

    spark-submit --properties-file conf/spark-defaults.conf jobs/clean.py \\
        --spec conf/sensors.toml --input raw.csv --output OUT [--format parquet|csv]

(`sensorpipe clean --engine spark` runs exactly this.) On a cluster add
`--py-files dist/sensorpipe.zip`; no Python runs on executors: the cleaning is built-in
column expressions only. Passes over the data: one reads the input and parses it into a
cached frame (jobs/lines.py: each split's lines counted on that cache give line numbers),
one more over that cache parses the few lines off the fast path in full into a second,
small cache, then aggregations (stats, vocabularies, clip counts) and the two writes over
the caches. Without a key the first aggregation (counts, means, min, max) is computed while
the caches are built instead of being a pass of its own. Each write counts the rows it
writes (an Observation on the write): report.json's rows_clean is what clean/ got, checked
against rows_in and the rejects counted in the stats' aggregation, never derived from them.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import statistics
import sys
import time

from pyspark import StorageLevel
from pyspark.sql import Column as C
from pyspark.sql import DataFrame, DataFrameWriter, Observation, SparkSession
from pyspark.sql import functions as F

from jobs.apply import clipped_counts, select_clean
from jobs.fit import first_aggregates, fit, mergeable, merged
from jobs.lines import Lines, read_lines
from jobs.parse import duplicated_keys, with_duplicates_rejected, with_parsed_columns
from sensorpipe.core.inputs import InputError
from sensorpipe.core.log import configure as configure_logging
from sensorpipe.core.output import OutputError, report_document
from sensorpipe.core.rows import (
    REASONS,
    Layout,
    LayoutError,
    carried_columns,
    decode_line,
    is_blank,
    make_layout,
    stored_columns,
)
from sensorpipe.core.spec import Spec, SpecError, load_spec
from sensorpipe.core.stats import stats_document
from sensorpipe.core.transform import fit_params, output_names
from sensorpipe.spark.hfs import HadoopFS, display
from sensorpipe.spark.stoppable import die_with_parent, quiet_when_jvm_ends

log = logging.getLogger("jobs.clean")  # not __name__: spark-submit runs this file as __main__


def plan(fs: HadoopFS, spec: Spec, paths: list[str]):
    """Per file index: the header's line number and text (as the text source reads it, BOM
    and all, CR cut), and each file's layout (files may order columns differently)."""
    headers, texts, layouts, carried = {}, {}, {}, None
    for i, path in enumerate(paths):
        header, _, line = fs.read_header(path, spec)
        if header is None and spec.header:
            continue
        headers[i] = line
        if header is not None:
            texts[i] = header_text(fs, path, line)
            carried = carried_columns(spec, header) if carried is None else carried
        layouts[i] = make_layout(spec, header, display(path), carried)
    if not layouts:  # no file has a header: no rows either; any layout will do
        names = [c.name for c in spec.columns]
        layouts[0] = make_layout(spec, names if spec.header else None, "<none>", [])
    return headers, texts, layouts, carried or []


def header_text(fs: HadoopFS, path: str, line: int) -> str:
    """Physical line `line` of a file as Spark's text source gives it, less one trailing CR."""
    lines = fs.head_lines(path)
    try:
        raw = next(itertools.islice(lines, line - 1, None))
    finally:
        lines.close()
    raw = raw.removesuffix(b"\n")
    return raw.removesuffix(b"\r").decode("utf-8")  # read_header checked it is UTF-8


def sample_shifts(fs: HadoopFS, path: str, layout: Layout, header_line: int, rows: int = 100) -> dict:
    """Per numeric column, the median of its values in the first `rows` parsed lines after the
    header of one file (jobs/fit.py: a shift for the moments' sums, so they need no pass of
    their own); columns without a value there are left out."""
    values: dict[str, list] = {c.name: [] for c in layout.columns if c.numeric}
    lines, seen = fs.head_lines(path), 0
    try:
        for number, raw in enumerate(lines, start=1):
            text = decode_line(raw, number == 1)
            if number <= header_line or text is None or is_blank(text):
                continue
            _, parsed = layout.parse(text)
            for col, v in zip(layout.columns, parsed or []):
                if col.name in values and v is not None:
                    values[col.name].append(v)
            seen += 1
            if seen >= rows:
                break
    finally:
        lines.close()
    return {name: float(statistics.median_low(vs)) for name, vs in values.items() if vs}


def flag_rows(spark: SparkSession, spec: Spec, paths: list[str]):
    """(the frame to cache: every physical line, parsed on the fast path; the function that
    gives from that cache and its Lines (fast rows or None, slow rows to cache) with every
    row's reason (null: kept) and typed values (jobs/parse.py with_parsed_columns); the
    stored columns; the numeric columns' shifts, sample_shifts)."""
    fs = HadoopFS(spark)
    headers, texts, layouts, carried = plan(fs, spec, paths)
    first, second = with_parsed_columns(layouts, texts, keep_text=bool(spec.key))
    parsed = read_lines(spark, paths).transform(first)
    idx = next(iter(layouts))
    shifts = sample_shifts(fs, paths[idx], layouts[idx], headers[idx]) if idx in headers else {}
    return parsed, (lambda df, lines: second(df, lines, headers)), stored_columns(spec, carried), shifts


def source_name(paths: list[str]) -> C:
    """A row's input file as rejects/ names it, from its file_idx."""
    names = [F.lit(display(p)) for p in paths] or [F.lit("")]
    return F.element_at(F.array(*names), F.col("file_idx") + 1)


def counted_write(df: DataFrame, save) -> int:
    """Write df with save(writer); return the rows that write wrote, counted on it (an
    Observation), so a count can be checked against the aggregations, not copied from them."""
    written = Observation()
    save(df.observe(written, F.count(F.lit(1)).alias("rows")).write.mode("overwrite"))
    return written.get["rows"]


def save_clean(path: str, fmt: str):
    """The clean/ write: Parquet, or CSV with the quoting every engine writes."""

    def save(writer: DataFrameWriter) -> None:
        if fmt == "csv":
            writer.options(escape='"', ignoreLeadingWhiteSpace=False, ignoreTrailingWhiteSpace=False).csv(
                path
            )
        else:
            writer.parquet(path)

    return save


def clean(spark: SparkSession, spec_path: str, input_path: str, out: str, fmt: str = "parquet") -> dict:
    started = time.time()
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")  # not legacy INT96
    spark.conf.set("spark.sql.session.timeZone", "UTC")  # timestamps without a zone are UTC
    # The cache uncompressed: built a quarter faster (measured at 2M rows: 10 -> 7.5 CPU-s),
    # 16% larger (75 -> 87 MB), its scans no slower (bench/RESULTS-spark.md).
    spark.conf.set("spark.sql.inMemoryColumnarStorage.compressed", "false")
    spec = load_spec(spec_path)
    fs = HadoopFS(spark)
    paths = fs.list_inputs(input_path)
    log.debug("[spark] %d input file(s): %s", len(paths), ", ".join(display(p) for p in paths))
    parsed, finish, columns, shifts = flag_rows(spark, spec, paths)
    # Without a key no row's reason changes after parsing: the first aggregation is computed
    # per split where the splits' lines are counted, and observed on the small cache as it is
    # built, then merged (jobs/fit.py): one pass fewer. (Observed on the big cache instead,
    # it cost twice the pass it saves: an observation is not compiled into the scan.)
    early = not spec.key and mergeable(columns)
    slow_seen = Observation() if early else None
    shifts = shifts if early else {}
    fast_aggs = (
        first_aggregates(columns, F.col("_fast"), shifts) if early and "reason" in parsed.columns else []
    )
    parsed = parsed.persist(StorageLevel.MEMORY_AND_DISK)  # parsed once; every later pass reads this
    slow = dups = None
    try:
        lines, per_split = Lines.count(parsed, *fast_aggs)  # builds the cache: the one pass over the input
        read = sum(n for _, _, n in lines.splits.values())
        log.info("[spark] input read: %s lines (%.1fs)", f"{read:,}", time.time() - started)
        rows, slow = finish(parsed, lines)
        if slow_seen is not None:
            slow = slow.observe(slow_seen, *first_aggregates(columns, shifts=shifts))
        # The lines off the fast path, parsed in full once, not on every pass.
        slow = slow.persist(StorageLevel.MEMORY_AND_DISK)
        slow.write.format("noop").mode("overwrite").save()  # builds it (and completes slow_seen)
        if rows is None:  # no fast path: every row is in the "small" cache
            parsed.unpersist()
        rows = slow if rows is None else rows.unionByName(slow)
        dups = duplicated_keys(rows, len(spec.key)).persist() if spec.key else None
        flagged = rows.transform(with_duplicates_rejected(dups, len(spec.key)))
        first = None
        if early:
            first = merged((per_split if fast_aggs else []) + [slow_seen.get], columns)
        counts, per_column = fit(flagged, columns, first, shifts)
        log.info("[spark] stats: %s rows in (%.1fs)", f"{counts['rows_in']:,}", time.time() - started)
        params = [fit_params(c, per_column[c.out]) for c in columns]
        stats = stats_document(spec, columns, counts["rows_clean"], per_column, output_names(params))
        clipped = clipped_counts(flagged, params)
        with fs.staged_output(out) as stage:
            fs.write_json(f"{stage}/stats.json", stats)
            clean_rows = flagged.transform(select_clean(params, as_text=fmt == "csv"))
            rows_clean = counted_write(clean_rows, save_clean(f"{stage}/clean", fmt))
            log.info("[spark] clean/: %s rows (%.1fs)", f"{rows_clean:,}", time.time() - started)
            rejects = lines.numbered(flagged.where(F.col("reason").isNotNull())).select(
                "reason", source_name(paths).alias("source"), "line", F.make_valid_utf8("text").alias("raw")
            )
            rejected = counted_write(rejects, lambda w: w.json(f"{stage}/rejects"))
            log.info("[spark] rejects/: %s rows (%.1fs)", f"{rejected:,}", time.time() - started)
            if rejected != sum(counts[r] for r in REASONS):
                raise RuntimeError(f"rejects/ got {rejected} lines; the rejects counted by reason: {counts}")
            imputed = {
                p.column.out: (per_column[p.column.out]["nulls"] if p.fill is not None else 0) for p in params
            }
            report = report_document(
                "spark",
                counts["rows_in"],
                rows_clean,
                counts,
                imputed,
                clipped,
                time.time() - started,
                inputs=[display(p) for p in paths],
                format=fmt,
            )
            fs.write_json(f"{stage}/report.json", report)
            fs.tidy(stage)
    finally:
        parsed.unpersist()
        if slow is not None:
            slow.unpersist()
        if dups is not None:
            dups.unpersist()
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Clean raw CSV with a sensorpipe spec on Spark.")
    ap.add_argument("--spec", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    args = ap.parse_args(argv)
    configure_logging()  # -v / -q / --log-format of `sensorpipe`, through the environment
    try:
        load_spec(args.spec)
    except SpecError as exc:
        print(f"sensorpipe: {exc}", file=sys.stderr)
        return 2
    spark = SparkSession.builder.appName("sensorpipe-clean").getOrCreate()
    quiet_when_jvm_ends(spark)
    try:
        report = clean(spark, args.spec, args.input, args.output, args.format)
    except (InputError, LayoutError, OutputError, RuntimeError) as exc:
        print(f"sensorpipe: run failed: {exc}", file=sys.stderr)
        return 1
    finally:
        spark.stop()
    print({k: report[k] for k in ("engine", "rows_in", "rows_clean", "rows_rejected", "seconds")})
    return 0


if __name__ == "__main__":
    die_with_parent()  # the JVM spark-submit started: without it this driver can only fail
    sys.exit(main())
