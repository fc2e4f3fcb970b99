"""The daily orders job: `orders_clean`.

    spark-submit --jars orders-udfs.jar --py-files orders.zip orders_clean.py \\
        --date 2026-01-15 --input RAW --output STAGING --rejects REJECTS [options]

Reads the raw order events a processing date needs, writes the staging day partitions of its window and
the day's rejects, and reports its metrics: the shared run (`dataproc_jobs.common.job`) with the rules
of `dataproc_jobs.orders.transform`. Hashes e-mails with the Java UDF of the `orders-udfs` jar.
"""

from __future__ import annotations

from dataproc_jobs.common import job
from dataproc_jobs.orders import transform
from dataproc_jobs.orders.pii import register_udf
from dataproc_jobs.orders.schema import CONTRACT, REJECT_REASONS

SPEC = job.JobSpec(
    name="orders_clean",
    description="Clean, deduplicate and enrich one day of order events.",
    contract=CONTRACT,
    time_column=transform.TIME_COLUMN,
    in_scope=transform.classify,
    transform=transform.transform,
    reject_reasons=REJECT_REASONS,
    prepare=register_udf,
)


def main(argv: list[str] | None = None) -> int:
    """Entry point: the shared run with this job's spec (see `dataproc_jobs.common.job.main`)."""
    return job.main(SPEC, argv)
