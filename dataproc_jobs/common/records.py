"""Building blocks of a job's transform (no I/O): raw records as strings, the categories of a run,
ranking versions, the record kept in rejects.

A run for processing date D with a lateness window of L days owns the staging partitions in [D - L, D]
and recomputes them whole from the raw records it can see. A raw record arrives on an ingest day:

* *malformed* (its `_error` is set) records are kept aside by the run of their arrival day;
* *late* records arrived on D for an event day before D - L: that partition is closed;
* *candidates* are valid records of an event day in the window that arrived on time (at most L days
  after their event day); records that arrived on other days are only used for the window, so no record
  is judged twice.

Where the arrival day is unknown (a BigQuery raw table holds the contract's event columns only), the run
reads the window's event days and nothing can be judged late.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from dataproc_jobs.common.window import RunWindow

MALFORMED = "malformed"
LATE = "late"
CANDIDATE = "candidate"


@dataclass(frozen=True)
class Outcome:
    """What a run produces (not yet computed: Spark evaluates lazily)."""

    staged: DataFrame
    """Rows for the staging table, in contract column order."""
    rejects: DataFrame
    """Rows kept aside, in contract column order."""
    deduplicated: DataFrame | None = None
    """Candidates folded into a later version without a reject row (counted, never written)."""


def received_from_jsonl(lines: DataFrame, names: Sequence[str]) -> DataFrame:
    """Raw JSON lines (`value`, `ingest_date`) -> one row per record, every field of `names` a string."""
    schema = T.StructType([T.StructField(name, T.StringType()) for name in names])
    parsed = lines.select(
        F.col("value").alias("_line"),
        F.col("ingest_date").cast("date").alias("_ingest_date"),
        F.expr("json_object_keys(value)").isNotNull().alias("_parseable"),
        F.from_json("value", schema).alias("_j"),
    )
    return parsed.select("_line", "_ingest_date", "_parseable", *[F.col(f"_j.{n}").alias(n) for n in names])


def received_from_table(rows: DataFrame, names: Sequence[str]) -> DataFrame:
    """Typed raw-table rows (BigQuery) -> the same shape; the arrival day is unknown there."""
    missing = [n for n in names if n not in rows.columns]
    if missing:
        raise ValueError(f"raw table lacks the contract's columns {missing}")
    return rows.select(
        F.lit(None).cast("string").alias("_line"),
        F.lit(None).cast("date").alias("_ingest_date"),
        F.lit(True).alias("_parseable"),
        *[F.col(n).cast("string").alias(n) for n in names],
    )


def blank(column: str) -> Column:
    """Null or only spaces."""
    return F.col(column).isNull() | (F.trim(F.col(column)) == "")


def shown(column: str) -> Column:
    """A field's value as a reject detail shows it (at most 64 characters)."""
    return F.coalesce(F.substring(F.col(column), 1, 64), F.lit("null"))


def missing_required(required: Iterable[str]) -> Column:
    """`missing required field(s): a, b` for the blank ones among `required`, or null."""
    missing = F.concat_ws(", ", *[F.when(blank(n), F.lit(n)) for n in required])
    return F.when(missing != "", F.concat(F.lit("missing required field(s): "), missing))


def categorize(typed: DataFrame, window: RunWindow) -> DataFrame:
    """Rows of `typed` (with `_error`, `_event_date`, `_ingest_date`) this run has to judge, each with
    `_category`: candidate, malformed or late (see the module doc)."""
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
        .when(valid & in_window & on_time, F.lit(CANDIDATE))
    )
    return typed.withColumn("_category", category).filter(F.col("_category").isNotNull())


def after_processing_date(window: RunWindow) -> Column:
    """True for a record whose event day is after the processing date (`_ts` is its typed time)."""
    return F.to_date("_ts") > F.lit(window.processing_date)


def late_detail(time_column: str, window: RunWindow) -> Column:
    """The reject detail of a late record."""
    return F.concat(
        F.lit(f"{time_column} is more than {window.lateness_days} day(s) before the processing date: "),
        F.col(time_column),
    )


def content_hash(names: Sequence[str]) -> Column:
    """SHA-256 of the record's fields as canonical JSON: the last tie-breaker, so no choice between
    versions depends on input order."""
    return F.sha2(F.to_json(F.struct(*[F.col(n) for n in names])), 256)


def rank(df: DataFrame, partition_by: Sequence[str], order: Sequence[Column], name: str) -> DataFrame:
    """`df` with `name` = 1, 2, ... within each `partition_by` group, first by `order`."""
    return df.withColumn(name, F.row_number().over(Window.partitionBy(*partition_by).orderBy(*order)))


def record_json(names: Sequence[str], replaced: Mapping[str, tuple[str, Column]]) -> Column:
    """The record as received (JSON) with the fields of `replaced` swapped for (name, value), e.g. an
    e-mail for its hash; the raw line when it is not a JSON object."""
    fields = [replaced[n][1].alias(replaced[n][0]) if n in replaced else F.col(n) for n in names]
    return F.when(F.col("_parseable"), F.to_json(F.struct(*fields))).otherwise(F.col("_line"))


def rejects_of(aside: DataFrame, window: RunWindow, columns: Sequence[str], record: Column) -> DataFrame:
    """Reject rows in the order of `columns` (the platform's rejects layout: processing_date, reason,
    detail, event_id, record) of records with `_category` as reason and `_error` as detail."""
    values = {
        "processing_date": F.lit(window.processing_date).cast("date"),
        "reason": F.col("_category"),
        "detail": F.col("_error"),
        "event_id": F.when(F.col("_parseable"), F.col("event_id")),
        "record": record,
    }
    return aside.select(*[values[n].alias(n) for n in columns])
