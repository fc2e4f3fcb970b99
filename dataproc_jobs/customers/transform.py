"""The customers job's logic as DataFrame functions (no I/O), so tests drive it in Spark local mode.

The run window, the categories (candidate, malformed, late) and the rejects layout are the shared
ones (`dataproc_jobs.common.records`). What is particular to customers:

* *Malformed*: not a JSON object, a required field missing, marketing_opt_in not a boolean, updated_at
  not a timestamp or after D, a segment not consumer/business/vip, a country not a two-letter code.
* Deduplication, in two steps, the latest updated_at winning each time (ties: the later arrival, then
  the larger SHA-256 of the record's canonical JSON, so the choice never depends on input order):
  versions of one event_id (redeliveries, corrections) fold into one, then the changes of one customer
  on one day fold into the latest, so staging holds the profile as it was at the end of each day it
  changed (what the SCD2 snapshot keeps as history). Folded changes are counted
  (`records_deduplicated`), not rejected: the contract's reject reasons are malformed and late.
* The e-mail is replaced by its HMAC-SHA256 (keyed per environment, in Spark SQL); name and address are
  kept, tagged as PII by the contract.

records_in == records_out + records_rejected + records_deduplicated.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from dataproc_jobs.common import records
from dataproc_jobs.common.pii import hmac_sha256_hex
from dataproc_jobs.common.window import RunWindow
from dataproc_jobs.customers.schema import BOOLEANS, CONTRACT, SEGMENTS

EVENT_NAMES = CONTRACT.event.names
TIME_COLUMN = "updated_at"


def _error(window: RunWindow) -> Column:
    """The first problem of a record as one line, or null when the record is valid."""
    missing = records.missing_required(CONTRACT.event.required)
    return (
        F.when(~F.col("_parseable"), F.lit("not a JSON object"))
        .when(missing.isNotNull(), missing)
        .when(
            F.col("_opt_in").isNull(),
            F.concat(F.lit("marketing_opt_in is not a boolean: "), records.shown("marketing_opt_in")),
        )
        .when(
            F.col("_ts").isNull(),
            F.concat(F.lit("updated_at is not a timestamp: "), records.shown("updated_at")),
        )
        .when(
            ~F.col("segment").isin(list(SEGMENTS)),
            F.concat(F.lit(f"segment is not one of {'/'.join(SEGMENTS)}: "), records.shown("segment")),
        )
        .when(
            F.col("country").isNotNull() & ~F.col("country").rlike("^[A-Z]{2}$"),
            F.concat(F.lit("country is not a two-letter ISO code: "), records.shown("country")),
        )
        .when(
            records.after_processing_date(window),
            F.concat(F.lit("updated_at is after the processing date: "), records.shown("updated_at")),
        )
    )


def classify(received: DataFrame, window: RunWindow) -> DataFrame:
    """Typed columns plus `_category` (candidate/malformed/late); records not this run's business dropped."""
    opt_in = F.lit(None).cast("boolean")
    for text, value in BOOLEANS.items():
        opt_in = F.when(F.col("marketing_opt_in") == text, F.lit(value)).otherwise(opt_in)
    typed = received.withColumn("_opt_in", opt_in).withColumn("_ts", F.expr("try_to_timestamp(updated_at)"))
    typed = typed.withColumn("_error", _error(window)).withColumn("_event_date", F.to_date("_ts"))
    return records.categorize(typed, window)


def _latest(df: DataFrame, key: list[str]) -> tuple[DataFrame, DataFrame]:
    """(the latest version per `key`, the others)."""
    order = [
        F.col("_ts").desc(),
        F.col("_ingest_date").desc_nulls_last(),
        records.content_hash(EVENT_NAMES).desc(),
    ]
    ranked = records.rank(df, key, order, "_version")
    return (
        ranked.filter(F.col("_version") == 1).drop("_version"),
        ranked.filter(F.col("_version") > 1).drop("_version"),
    )


def transform(received: DataFrame, window: RunWindow, pii_key: str) -> records.Outcome:
    """Classify and deduplicate received profile changes into staged rows and rejects, e-mail hashed."""
    email_hash = hmac_sha256_hex(F.col("email"), pii_key)
    classified = classify(received, window)
    per_event, redelivered = _latest(classified.filter(F.col("_category") == records.CANDIDATE), ["event_id"])
    per_day, earlier = _latest(per_event, ["customer_id", "_event_date"])

    staged_exprs = {
        "email_hash": email_hash,
        "marketing_opt_in": F.col("_opt_in"),
        "updated_at": F.col("_ts"),
        "event_date": F.col("_event_date"),
    }
    staged = per_day.select(*[staged_exprs.get(n, F.col(n)).alias(n) for n in CONTRACT.staging.names])

    aside = classified.filter(F.col("_category").isin(records.MALFORMED, records.LATE)).withColumn(
        "_error",
        F.when(F.col("_category") == records.LATE, records.late_detail(TIME_COLUMN, window)).otherwise(
            F.col("_error")
        ),
    )
    record = records.record_json(EVENT_NAMES, {"email": ("email_hash", email_hash)})
    rejects = records.rejects_of(aside, window, CONTRACT.rejects.names, record)
    return records.Outcome(staged=staged, rejects=rejects, deduplicated=redelivered.unionByName(earlier))
