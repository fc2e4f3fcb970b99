"""The daily customers job: `customers_clean`.

    spark-submit --py-files customers.zip customers_clean.py \\
        --date 2026-01-15 --input RAW --output STAGING --rejects REJECTS [options]

Reads the raw profile changes a processing date needs, writes the staging day partitions of its window
and the day's rejects, and reports its metrics: the shared run (`dataproc_jobs.common.job`) with the
rules of `dataproc_jobs.customers.transform`. Needs no jar: the e-mail is hashed in Spark SQL.
"""

from __future__ import annotations

from dataproc_jobs.common import job
from dataproc_jobs.customers import transform
from dataproc_jobs.customers.schema import CONTRACT, REJECT_REASONS

SPEC = job.JobSpec(
    name="customers_clean",
    description="Clean and deduplicate one day of customer profile changes.",
    contract=CONTRACT,
    time_column=transform.TIME_COLUMN,
    in_scope=transform.classify,
    transform=transform.transform,
    reject_reasons=REJECT_REASONS,
)


def main(argv: list[str] | None = None) -> int:
    """Entry point: the shared run with this job's spec (see `dataproc_jobs.common.job.main`)."""
    return job.main(SPEC, argv)
