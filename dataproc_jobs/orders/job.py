"""The daily orders job: `orders_clean`.

    spark-submit --jars orders-udfs.jar --py-files dataproc_jobs.zip orders_clean.py \\
        --date 2026-01-15 --input RAW --output STAGING --rejects REJECTS [options]

Reads the raw events a processing date needs (JSON lines per ingest day, or the BigQuery raw table),
writes the staging day partitions [date - lateness, date] (dynamic partition overwrite: a re-run
rewrites exactly those) and the day's rejects, and reports `records_in == records_out + records_rejected`
as one JSON line (and to --metrics-out). See `dataproc_jobs.orders.transform` for the rules.

File outputs are exact: window days that end up with no rows and the day's old rejects are removed.
BigQuery outputs get dynamic partition overwrite only, so such an emptied partition keeps its old rows
(rare: every version of its events superseded from another day; dbt's stg_orders resolves those).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from dataclasses import dataclass
from typing import Any, NoReturn

from pyspark.sql import SparkSession

from dataproc_jobs.orders import io
from dataproc_jobs.orders.pii import PiiKeyError, register_udf, resolve_key
from dataproc_jobs.orders.schema import REJECT_REASONS, REJECTS_PARTITION, STAGING_PARTITION
from dataproc_jobs.orders.transform import RunWindow, classify, transform

JOB_NAME = "orders_clean"
MAX_LATENESS_DAYS = 30

SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}


@dataclass(frozen=True)
class JobArgs:
    """The job's arguments (see `parse_args`)."""

    processing_date: dt.date
    input: str
    input_format: str
    output: str
    rejects: str
    output_format: str
    lateness_days: int
    pii_key_source: str
    metrics_out: str | None
    temp_bucket: str | None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message}\n")


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a YYYY-MM-DD date") from None


def _lateness(value: str) -> int:
    if not value.isdigit() or int(value) > MAX_LATENESS_DAYS:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a whole number of days from 0 to {MAX_LATENESS_DAYS}"
        )
    return int(value)


def parse_args(argv: list[str] | None = None) -> JobArgs:
    """Parse the command line; a bad argument exits 2 with one line naming it."""
    p = _Parser(prog=JOB_NAME, description="Clean, deduplicate and enrich one day of order events.")
    p.add_argument("--date", type=_date, required=True, help="processing date YYYY-MM-DD (the DAG's ds)")
    p.add_argument("--input", required=True, help="raw events: folder of ingest_date=... (jsonl) or table")
    p.add_argument("--input-format", choices=["jsonl", "bigquery"], default="jsonl")
    p.add_argument("--output", required=True, help="staging: parquet folder or BigQuery table")
    p.add_argument("--rejects", required=True, help="rejects: parquet folder or BigQuery table")
    p.add_argument("--output-format", choices=["parquet", "bigquery"], default="parquet")
    p.add_argument("--lateness-days", type=_lateness, default=2, help="lateness window in days (default 2)")
    p.add_argument(
        "--pii-key-source", default="env:ORDERS_PII_KEY", help="env:NAME or gsm:projects/.../versions/V"
    )
    p.add_argument(
        "--metrics-out", default=None, help="file (local or gs://) to write the run's metrics JSON to"
    )
    p.add_argument("--temp-bucket", default=None, help="GCS bucket for BigQuery indirect writes")
    ns = p.parse_args(argv)
    if ns.output_format == "bigquery" and not ns.temp_bucket:
        p.error("argument --temp-bucket: required with --output-format bigquery")
    return JobArgs(
        processing_date=ns.date,
        input=ns.input,
        input_format=ns.input_format,
        output=ns.output,
        rejects=ns.rejects,
        output_format=ns.output_format,
        lateness_days=ns.lateness_days,
        pii_key_source=ns.pii_key_source,
        metrics_out=ns.metrics_out,
        temp_bucket=ns.temp_bucket,
    )


def run(spark: SparkSession, args: JobArgs) -> dict[str, Any]:
    """Run the job on `spark` and return its metrics (also written to --metrics-out when given)."""
    started = time.monotonic()
    for key, value in SESSION_CONF.items():
        spark.conf.set(key, value)
    pii_key = resolve_key(args.pii_key_source)
    register_udf(spark)
    window = RunWindow(args.processing_date, args.lateness_days)

    if args.input_format == "jsonl":
        received = io.read_raw_jsonl(spark, args.input, window)
    else:
        received = io.read_raw_bigquery(spark, args.input, window)
    received = received.persist()
    try:
        outcome = transform(received, window, pii_key)
        staged = outcome.staged.persist()
        rejects = outcome.rejects.persist()
        out_by_day = {r[0]: r[1] for r in staged.groupBy(STAGING_PARTITION).count().collect()}
        rejected = {r[0]: r[1] for r in rejects.groupBy("reason").count().collect()}
        records_in = classify(received, window).count()

        io.write_partitions(staged, args.output, STAGING_PARTITION, args.output_format, args.temp_bucket)
        if args.output_format == "parquet":
            # Dynamic overwrite leaves partitions that got no rows untouched: clear the window's empty
            # days and the day's old rejects, so a re-run leaves nothing stale behind.
            day = window.start
            while day <= window.processing_date:
                if day not in out_by_day:
                    io.delete_path(spark, io.partition_uri(args.output, STAGING_PARTITION, day))
                day += dt.timedelta(days=1)
            io.delete_path(spark, io.partition_uri(args.rejects, REJECTS_PARTITION, window.processing_date))
        if rejected:
            io.write_partitions(
                rejects, args.rejects, REJECTS_PARTITION, args.output_format, args.temp_bucket
            )
        staged.unpersist()
        rejects.unpersist()
    finally:
        received.unpersist()

    records_out = sum(out_by_day.values())
    records_rejected = sum(rejected.values())
    metrics: dict[str, Any] = {
        "event": "spark_job_metrics",
        "job": JOB_NAME,
        "processing_date": window.processing_date.isoformat(),
        "lateness_days": window.lateness_days,
        "records_in": records_in,
        "records_out": records_out,
        "records_rejected": records_rejected,
        "rejected_by_reason": {reason: rejected.get(reason, 0) for reason in REJECT_REASONS},
        "partitions_written": sorted(d.isoformat() for d in out_by_day),
        "duration_seconds": round(time.monotonic() - started, 3),
    }
    if records_in != records_out + records_rejected:
        raise RuntimeError(
            f"{records_in} records in scope but {records_out} staged and {records_rejected} rejected"
        )
    if args.metrics_out:
        io.write_text(spark, args.metrics_out, io.metrics_json(metrics) + "\n")
    return metrics


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse arguments, run on the session spark-submit provides, print the metrics line."""
    args = parse_args(argv)
    spark = SparkSession.builder.appName(JOB_NAME).getOrCreate()
    try:
        metrics = run(spark, args)
    except (io.JobInputError, PiiKeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(io.metrics_json(metrics), flush=True)
    return 0
