"""The orders job's logic as DataFrame functions (no I/O), so tests drive it in Spark local mode.

Semantics of a run for processing date D with a lateness window of L days:

* The run owns the staging partitions `event_date` in [D - L, D] and recomputes them whole from the raw
  events it can see, so re-running a day (or backfilling one) rewrites exactly those partitions.
* A raw record arrives on an ingest day. It is *late* when it arrives on D with an event_time before
  D - L: its partition is closed, so it is kept aside instead of staged. Records that arrived on other
  days are only used for the window's partitions (and only if they arrived on time, i.e. at most L days
  after their event day), so no record is judged twice.
* *Malformed* records (not a JSON object, a required field missing, a bad type, status or currency, an
  event_time after D) are kept aside by the run of their arrival day.
* Versions of one event_id are deduplicated: the latest event_time wins; ties are broken by the later
  lifecycle status (created < paid < cancelled < refunded), then the later arrival, then the larger
  SHA-256 of the record's canonical JSON, so the choice never depends on input order. The losers are
  kept aside as *superseded*.

Every record in scope ends up either staged or rejected: records_in == records_out + records_rejected.

Where the arrival day is unknown (the BigQuery raw table holds the contract's event columns only, and
is partitioned on event_time), the run reads the window's event days and nothing can be judged late:
late events then stay in their raw partition. Landing raw events per arrival day (a Pub/Sub Cloud
Storage subscription writing `ingest_date=` folders, read with --input-format jsonl) keeps late
detection on GCP too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from itertools import chain

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from dataproc_jobs.orders.schema import (
    EVENT_COLUMNS,
    FX_TO_EUR,
    LATE,
    MALFORMED,
    NUMERIC_PRECISION,
    NUMERIC_SCALE,
    REJECTS_COLUMNS,
    STAGING_COLUMNS,
    STATUS_RANK,
    SUPERSEDED,
)

PII_HASH_FUNCTION = "pii_hash"
EVENT_NAMES = tuple(name for name, _, _ in EVENT_COLUMNS)
REQUIRED_NAMES = tuple(name for name, _, required in EVENT_COLUMNS if required)
RECEIVED_STRING_SCHEMA = T.StructType([T.StructField(name, T.StringType()) for name in EVENT_NAMES])
NUMERIC = T.DecimalType(NUMERIC_PRECISION, NUMERIC_SCALE)
_CANDIDATE = "candidate"


@dataclass(frozen=True)
class RunWindow:
    """The processing date and the lateness window of a run."""

    processing_date: dt.date
    lateness_days: int

    @property
    def start(self) -> dt.date:
        """First event day the run owns."""
        return self.processing_date - dt.timedelta(days=self.lateness_days)

    @property
    def read_to(self) -> dt.date:
        """Last ingest day that can hold on-time records for the window (later days exist in backfills)."""
        return self.processing_date + dt.timedelta(days=self.lateness_days)


def received_from_jsonl(lines: DataFrame) -> DataFrame:
    """Raw JSON lines (`value`, `ingest_date`) -> one row per record, every field as a string."""
    parsed = lines.select(
        F.col("value").alias("_line"),
        F.col("ingest_date").cast("date").alias("_ingest_date"),
        F.expr("json_object_keys(value)").isNotNull().alias("_parseable"),
        F.from_json("value", RECEIVED_STRING_SCHEMA).alias("_j"),
    )
    return parsed.select(
        "_line", "_ingest_date", "_parseable", *[F.col(f"_j.{n}").alias(n) for n in EVENT_NAMES]
    )


def received_from_table(rows: DataFrame) -> DataFrame:
    """Typed raw-table rows (BigQuery) -> the same shape; the arrival day is unknown there."""
    missing = [n for n in EVENT_NAMES if n not in rows.columns]
    if missing:
        raise ValueError(f"raw table lacks the contract's columns {missing}")
    return rows.select(
        F.lit(None).cast("string").alias("_line"),
        F.lit(None).cast("date").alias("_ingest_date"),
        F.lit(True).alias("_parseable"),
        *[F.col(n).cast("string").alias(n) for n in EVENT_NAMES],
    )


def _blank(column: str) -> Column:
    return F.col(column).isNull() | (F.trim(F.col(column)) == "")


def _shown(column: str) -> Column:
    return F.coalesce(F.substring(F.col(column), 1, 64), F.lit("null"))


def _error(window: RunWindow) -> Column:
    """The first problem of a record as one line, or null when the record is valid."""
    missing = F.concat_ws(", ", *[F.when(_blank(n), F.lit(n)) for n in REQUIRED_NAMES])
    status_ok = F.col("status").isin(list(STATUS_RANK))
    currency_ok = F.col("currency").isin(list(FX_TO_EUR))
    return (
        F.when(~F.col("_parseable"), F.lit("not a JSON object"))
        .when(missing != "", F.concat(F.lit("missing required field(s): "), missing))
        .when(
            F.col("_amount").isNull(),
            F.concat(F.lit("amount_cents is not an integer: "), _shown("amount_cents")),
        )
        .when(F.col("_amount") < 0, F.concat(F.lit("amount_cents is negative: "), _shown("amount_cents")))
        .when(F.col("_ts").isNull(), F.concat(F.lit("event_time is not a timestamp: "), _shown("event_time")))
        .when(
            ~status_ok,
            F.concat(F.lit("status is not one of created/paid/cancelled/refunded: "), _shown("status")),
        )
        .when(
            ~currency_ok, F.concat(F.lit("currency is not a supported ISO 4217 code: "), _shown("currency"))
        )
        .when(
            F.to_date("_ts") > F.lit(window.processing_date),
            F.concat(F.lit("event_time is after the processing date: "), _shown("event_time")),
        )
    )


def classify(received: DataFrame, window: RunWindow) -> DataFrame:
    """Typed columns plus `_category` (candidate/malformed/late, null = not this run's business)."""
    typed = received.withColumn(
        "_amount",
        F.when(F.col("amount_cents").rlike(r"^-?[0-9]{1,18}$"), F.col("amount_cents").cast("long")),
    ).withColumn("_ts", F.expr("try_to_timestamp(event_time)"))
    typed = typed.withColumn("_error", _error(window)).withColumn("_event_date", F.to_date("_ts"))

    day = F.lit(window.processing_date)
    arrival_known = F.col("_ingest_date").isNotNull()
    arrived_today = arrival_known & (F.col("_ingest_date") == day)
    in_window = F.col("_event_date").between(F.lit(window.start), day)
    on_time = ~arrival_known | (
        F.col("_ingest_date") <= F.date_add(F.col("_event_date"), window.lateness_days)
    )
    valid = F.col("_error").isNull()
    category = (
        F.when(~valid & (arrived_today | (~arrival_known & in_window)), F.lit(MALFORMED))
        .when(valid & arrived_today & (F.col("_event_date") < F.lit(window.start)), F.lit(LATE))
        .when(valid & in_window & on_time, F.lit(_CANDIDATE))
    )
    return typed.withColumn("_category", category).filter(F.col("_category").isNotNull())


def _record_json(email_hash: Column) -> Column:
    """The record as received (JSON), the e-mail replaced by its hash; the raw line when unparseable."""
    fields = [
        email_hash.alias("customer_email_hash") if n == "customer_email" else F.col(n) for n in EVENT_NAMES
    ]
    return F.when(F.col("_parseable"), F.to_json(F.struct(*fields))).otherwise(F.col("_line"))


def _rank_versions(candidates: DataFrame) -> DataFrame:
    status_rank = F.create_map(*chain.from_iterable((F.lit(k), F.lit(v)) for k, v in STATUS_RANK.items()))
    record_hash = F.sha2(F.to_json(F.struct(*[F.col(n) for n in EVENT_NAMES])), 256)
    latest_first = Window.partitionBy("event_id").orderBy(
        F.col("_ts").desc(),
        status_rank[F.col("status")].desc(),
        F.col("_ingest_date").desc_nulls_last(),
        record_hash.desc(),
    )
    return candidates.withColumn("_version", F.row_number().over(latest_first))


def _amount_eur() -> Column:
    rates = F.create_map(*chain.from_iterable((F.lit(k), F.lit(str(v))) for k, v in FX_TO_EUR.items()))
    eur = F.col("_amount").cast("decimal(20,0)") * rates[F.col("currency")].cast("decimal(12,6)") / F.lit(100)
    return F.round(eur, 2).cast(NUMERIC)


@dataclass(frozen=True)
class Outcome:
    """The two outputs of a run (not yet computed: Spark evaluates lazily)."""

    staged: DataFrame
    """Rows for the staging table, in contract column order."""
    rejects: DataFrame
    """Rows kept aside, in contract column order."""


def transform(received: DataFrame, window: RunWindow, pii_key: str) -> Outcome:
    """Classify, deduplicate and enrich received records into staged rows and rejects.

    `pii_key` keys the Java UDF `pii_hash` (registered on the session beforehand).
    """
    email_hash = F.call_function(PII_HASH_FUNCTION, F.col("customer_email"), F.lit(pii_key))
    classified = classify(received, window)
    ranked = _rank_versions(classified.filter(F.col("_category") == _CANDIDATE))

    staged_rows = ranked.filter(F.col("_version") == 1)
    staged_exprs = {
        "amount_cents": F.col("_amount"),
        "event_time": F.col("_ts"),
        "customer_email_hash": email_hash,
        "amount_eur": _amount_eur(),
        "event_date": F.col("_event_date"),
    }
    staged = staged_rows.select(*[staged_exprs.get(n, F.col(n)).alias(n) for n, _, _ in STAGING_COLUMNS])

    superseded = (
        ranked.filter(F.col("_version") > 1)
        .withColumn("_category", F.lit(SUPERSEDED))
        .withColumn("_error", F.lit("a later version of this event_id was staged"))
    )
    aside = classified.filter(F.col("_category").isin(MALFORMED, LATE)).withColumn(
        "_error",
        F.when(
            F.col("_category") == LATE,
            F.concat(
                F.lit(f"event_time is more than {window.lateness_days} day(s) before the processing date: "),
                F.col("event_time"),
            ),
        ).otherwise(F.col("_error")),
    )
    reject_columns = {
        "processing_date": F.lit(window.processing_date).cast("date"),
        "reason": F.col("_category"),
        "detail": F.col("_error"),
        "event_id": F.when(F.col("_parseable"), F.col("event_id")),
        "record": _record_json(email_hash),
    }
    rejects = aside.unionByName(superseded.drop("_version")).select(
        *[reject_columns[n].alias(n) for n, _, _ in REJECTS_COLUMNS]
    )
    return Outcome(staged=staged, rejects=rejects)
