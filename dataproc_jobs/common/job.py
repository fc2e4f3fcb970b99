"""Running a job: read the window's raw records, transform, write exactly the owned partitions, report.

A job package describes itself as a `JobSpec` (how to read its raw records, its transform, its
partitions) and its `job.py` calls `main(SPEC)`. A run for processing date D writes the staging day
partitions [D - lateness, D] (dynamic partition overwrite: a re-run rewrites exactly those) and the
day's rejects, and reports one JSON line (also to --metrics-out) in which
`records_in == records_out + records_rejected + records_deduplicated`.

File outputs are exact: window days that end up with no rows and the day's old rejects are removed.
BigQuery outputs get dynamic partition overwrite only, so such an emptied partition keeps its old rows.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from dataproc_jobs.common import io
from dataproc_jobs.common.cli import JobArgs, parse_args
from dataproc_jobs.common.contract import Contract
from dataproc_jobs.common.pii import PiiKeyError, resolve_key
from dataproc_jobs.common.records import Outcome, received_from_jsonl, received_from_table
from dataproc_jobs.common.window import RunWindow

SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}


@dataclass(frozen=True)
class JobSpec:
    """What a job package brings to the shared run."""

    name: str
    """The job's name (as the domain file declares it)."""
    description: str
    """One line for --help."""
    contract: Contract
    """Its domain's contract: the event's fields (a received record holds each as a string), the
    staging and rejects partitions."""
    time_column: str
    """The raw table's event time column (the BigQuery read is filtered on it)."""
    in_scope: Callable[[DataFrame, RunWindow], DataFrame]
    """Received records -> the ones this run judges (counted as records_in)."""
    transform: Callable[[DataFrame, RunWindow, str], Outcome]
    """Received records, window, PII key -> staged rows and rejects."""
    reject_reasons: tuple[str, ...]
    prepare: Callable[[SparkSession], None] | None = None
    """Called on the session before reading (e.g. to register a UDF from a jar)."""

    @property
    def staging_partition(self) -> str:
        """The staging table's day partition column."""
        return _partition(self.contract.staging.partition_by, "staging")

    @property
    def rejects_partition(self) -> str:
        """The rejects table's day partition column."""
        return _partition(self.contract.rejects.partition_by, "rejects")


def _partition(column: str | None, section: str) -> str:
    if column is None:
        raise ValueError(f"contract {section}: no partition_by")
    return column


def parse(spec: JobSpec, argv: list[str] | None = None) -> JobArgs:
    """The job's command line (the one every job takes)."""
    return parse_args(spec.name, spec.description, argv)


def _read(spark: SparkSession, spec: JobSpec, args: JobArgs, window: RunWindow) -> DataFrame:
    if args.input_format == "jsonl":
        return received_from_jsonl(io.read_raw_lines(spark, args.input, window), spec.contract.event.names)
    rows = io.read_raw_bigquery(spark, args.input, spec.time_column, window)
    return received_from_table(rows, spec.contract.event.names)


def _clear_stale(
    spark: SparkSession, spec: JobSpec, args: JobArgs, window: RunWindow, written: set[Any]
) -> None:
    # Dynamic overwrite leaves partitions that got no rows untouched: clear the window's empty days and
    # the day's old rejects, so a re-run leaves nothing stale behind.
    for day in window.days():
        if day not in written:
            io.delete_path(spark, io.partition_uri(args.output, spec.staging_partition, day))
    io.delete_path(spark, io.partition_uri(args.rejects, spec.rejects_partition, window.processing_date))


def run(spark: SparkSession, spec: JobSpec, args: JobArgs) -> dict[str, Any]:
    """Run the job on `spark` and return its metrics (also written to --metrics-out when given)."""
    started = time.monotonic()
    for key, value in SESSION_CONF.items():
        spark.conf.set(key, value)
    pii_key = resolve_key(args.pii_key_source)
    if spec.prepare is not None:
        spec.prepare(spark)
    window = RunWindow(args.processing_date, args.lateness_days)

    received = _read(spark, spec, args, window).persist()
    try:
        outcome = spec.transform(received, window, pii_key)
        staged = outcome.staged.persist()
        rejects = outcome.rejects.persist()
        out_by_day = {r[0]: r[1] for r in staged.groupBy(spec.staging_partition).count().collect()}
        rejected = {r[0]: r[1] for r in rejects.groupBy("reason").count().collect()}
        records_in = spec.in_scope(received, window).count()
        deduplicated = outcome.deduplicated.count() if outcome.deduplicated is not None else 0

        io.write_partitions(staged, args.output, spec.staging_partition, args.output_format, args.temp_bucket)
        if args.output_format == "parquet":
            _clear_stale(spark, spec, args, window, set(out_by_day))
        if rejected:
            io.write_partitions(
                rejects, args.rejects, spec.rejects_partition, args.output_format, args.temp_bucket
            )
        staged.unpersist()
        rejects.unpersist()
    finally:
        received.unpersist()

    records_out = sum(out_by_day.values())
    records_rejected = sum(rejected.values())
    metrics: dict[str, Any] = {
        "event": "spark_job_metrics",
        "job": spec.name,
        "processing_date": window.processing_date.isoformat(),
        "lateness_days": window.lateness_days,
        "records_in": records_in,
        "records_out": records_out,
        "records_rejected": records_rejected,
        "records_deduplicated": deduplicated,
        "rejected_by_reason": {reason: rejected.get(reason, 0) for reason in spec.reject_reasons},
        "partitions_written": sorted(d.isoformat() for d in out_by_day),
        "duration_seconds": round(time.monotonic() - started, 3),
    }
    if records_in != records_out + records_rejected + deduplicated:
        raise RuntimeError(
            f"{records_in} records in scope but {records_out} staged, {records_rejected} rejected "
            f"and {deduplicated} deduplicated"
        )
    if args.metrics_out:
        io.write_text(spark, args.metrics_out, io.metrics_json(metrics) + "\n")
    return metrics


def main(spec: JobSpec, argv: list[str] | None = None) -> int:
    """Entry point: parse arguments, run on the session spark-submit provides, print the metrics line."""
    args = parse(spec, argv)
    spark = SparkSession.builder.appName(spec.name).getOrCreate()
    try:
        metrics = run(spark, spec, args)
    except (io.JobInputError, PiiKeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(io.metrics_json(metrics), flush=True)
    return 0
