"""The command line every Spark job takes (one parser, so the DAGs call every job the same way)."""

from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import dataclass
from typing import NoReturn

MAX_LATENESS_DAYS = 30
DEFAULT_PII_KEY_SOURCE = "env:PLATFORM_PII_KEY"


@dataclass(frozen=True)
class JobArgs:
    """A job's arguments (see `parse_args`)."""

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


def parse_args(prog: str, description: str, argv: list[str] | None = None) -> JobArgs:
    """Parse a job's command line; a bad argument exits 2 with one line naming it."""
    p = _Parser(prog=prog, description=description)
    p.add_argument("--date", type=_date, required=True, help="processing date YYYY-MM-DD (the DAG's ds)")
    p.add_argument("--input", required=True, help="raw events: folder of ingest_date=... (jsonl) or table")
    p.add_argument("--input-format", choices=["jsonl", "bigquery"], default="jsonl")
    p.add_argument("--output", required=True, help="staging: parquet folder or BigQuery table")
    p.add_argument("--rejects", required=True, help="rejects: parquet folder or BigQuery table")
    p.add_argument("--output-format", choices=["parquet", "bigquery"], default="parquet")
    p.add_argument("--lateness-days", type=_lateness, default=2, help="lateness window in days (default 2)")
    p.add_argument(
        "--pii-key-source",
        default=DEFAULT_PII_KEY_SOURCE,
        help=f"env:NAME or gsm:projects/.../versions/V (default {DEFAULT_PII_KEY_SOURCE})",
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
