"""The orders job's logic as DataFrame functions (no I/O), so tests drive it in Spark local mode.

The run window, the categories (candidate, malformed, late) and the rejects layout are the shared
ones (`dataproc_jobs.common.records`). What is particular to orders:

* *Malformed*: not a JSON object, a required field missing, an amount that is not a non-negative
  integer, an event_time that is not a timestamp or is after D, a status or currency not known.
* Versions of one event_id are deduplicated: the latest event_time wins; ties are broken by the later
  lifecycle status (created < paid < cancelled < refunded), then the later arrival, then the larger
  SHA-256 of the record's canonical JSON, so the choice never depends on input order. The losers are
  kept aside as *superseded*.
* Amounts are converted to EUR with reference rates; the e-mail is hashed by the Java UDF `pii_hash`.

Every record in scope ends up either staged or rejected: records_in == records_out + records_rejected.
"""

from __future__ import annotations

from itertools import chain

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from dataproc_jobs.common import records
from dataproc_jobs.common.window import RunWindow
from dataproc_jobs.orders.pii import PII_HASH_FUNCTION
from dataproc_jobs.orders.schema import (
    CONTRACT,
    FX_TO_EUR,
    NUMERIC_PRECISION,
    NUMERIC_SCALE,
    STATUS_RANK,
    SUPERSEDED,
)

EVENT_NAMES = CONTRACT.event.names
NUMERIC = T.DecimalType(NUMERIC_PRECISION, NUMERIC_SCALE)
TIME_COLUMN = "event_time"


def _error(window: RunWindow) -> Column:
    """The first problem of a record as one line, or null when the record is valid."""
    status_ok = F.col("status").isin(list(STATUS_RANK))
    currency_ok = F.col("currency").isin(list(FX_TO_EUR))
    missing = records.missing_required(CONTRACT.event.required)
    return (
        F.when(~F.col("_parseable"), F.lit("not a JSON object"))
        .when(missing.isNotNull(), missing)
        .when(
            F.col("_amount").isNull(),
            F.concat(F.lit("amount_cents is not an integer: "), records.shown("amount_cents")),
        )
        .when(
            F.col("_amount") < 0, F.concat(F.lit("amount_cents is negative: "), records.shown("amount_cents"))
        )
        .when(
            F.col("_ts").isNull(),
            F.concat(F.lit("event_time is not a timestamp: "), records.shown("event_time")),
        )
        .when(
            ~status_ok,
            F.concat(
                F.lit("status is not one of created/paid/cancelled/refunded: "), records.shown("status")
            ),
        )
        .when(
            ~currency_ok,
            F.concat(F.lit("currency is not a supported ISO 4217 code: "), records.shown("currency")),
        )
        .when(
            records.after_processing_date(window),
            F.concat(F.lit("event_time is after the processing date: "), records.shown("event_time")),
        )
    )


def classify(received: DataFrame, window: RunWindow) -> DataFrame:
    """Typed columns plus `_category` (candidate/malformed/late); records not this run's business dropped."""
    typed = received.withColumn(
        "_amount",
        F.when(F.col("amount_cents").rlike(r"^-?[0-9]{1,18}$"), F.col("amount_cents").cast("long")),
    ).withColumn("_ts", F.expr("try_to_timestamp(event_time)"))
    typed = typed.withColumn("_error", _error(window)).withColumn("_event_date", F.to_date("_ts"))
    return records.categorize(typed, window)


def _amount_eur() -> Column:
    rates = F.create_map(*chain.from_iterable((F.lit(k), F.lit(str(v))) for k, v in FX_TO_EUR.items()))
    eur = F.col("_amount").cast("decimal(20,0)") * rates[F.col("currency")].cast("decimal(12,6)") / F.lit(100)
    return F.round(eur, 2).cast(NUMERIC)


def transform(received: DataFrame, window: RunWindow, pii_key: str) -> records.Outcome:
    """Classify, deduplicate and enrich received records into staged rows and rejects.

    `pii_key` keys the Java UDF `pii_hash` (registered on the session beforehand).
    """
    email_hash = F.call_function(PII_HASH_FUNCTION, F.col("customer_email"), F.lit(pii_key))
    classified = classify(received, window)
    status_rank = F.create_map(*chain.from_iterable((F.lit(k), F.lit(v)) for k, v in STATUS_RANK.items()))
    ranked = records.rank(
        classified.filter(F.col("_category") == records.CANDIDATE),
        ["event_id"],
        [
            F.col("_ts").desc(),
            status_rank[F.col("status")].desc(),
            F.col("_ingest_date").desc_nulls_last(),
            records.content_hash(EVENT_NAMES).desc(),
        ],
        "_version",
    )

    staged_exprs = {
        "amount_cents": F.col("_amount"),
        "event_time": F.col("_ts"),
        "customer_email_hash": email_hash,
        "amount_eur": _amount_eur(),
        "event_date": F.col("_event_date"),
    }
    staged = ranked.filter(F.col("_version") == 1).select(
        *[staged_exprs.get(n, F.col(n)).alias(n) for n in CONTRACT.staging.names]
    )

    superseded = (
        ranked.filter(F.col("_version") > 1)
        .drop("_version")
        .withColumn("_category", F.lit(SUPERSEDED))
        .withColumn("_error", F.lit("a later version of this event_id was staged"))
    )
    aside = classified.filter(F.col("_category").isin(records.MALFORMED, records.LATE)).withColumn(
        "_error",
        F.when(F.col("_category") == records.LATE, records.late_detail(TIME_COLUMN, window)).otherwise(
            F.col("_error")
        ),
    )
    record = records.record_json(EVENT_NAMES, {"customer_email": ("customer_email_hash", email_hash)})
    rejects = records.rejects_of(aside.unionByName(superseded), window, CONTRACT.rejects.names, record)
    return records.Outcome(staged=staged, rejects=rejects)
