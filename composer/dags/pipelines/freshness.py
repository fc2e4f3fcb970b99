"""Raw-data freshness: how far a domain's newest raw event lags behind now, against its target.

The time of an event is its newest TIMESTAMP value (the sample domains' events carry one: the time
the change happened). The runtime config names the raw table but not its columns, so the columns are
found where the data is: on BigQuery the raw table's schema (its TIMESTAMP columns; the scan is
limited to the last days' partitions when the table is partitioned on one of them), locally the
values of the landing files' records that read as ISO-8601 date-times.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.runtime import RuntimeConfig

# Newest ingest days scanned locally; the newest event is in the newest day that has a valid one.
LOCAL_DAYS_SCANNED = 3
BIGQUERY_DAYS_SCANNED = 3


@dataclass(frozen=True)
class Freshness:
    """The outcome of a freshness check."""

    latest_event_time: dt.datetime | None
    lag_seconds: int | None
    target_seconds: int
    fresh: bool
    events_seen: int


def evaluate(
    latest: dt.datetime | None, now: dt.datetime, target_seconds: int, events_seen: int
) -> Freshness:
    """Fresh when the newest event is at most `target_seconds` old (no event at all is stale)."""
    if latest is None:
        return Freshness(None, None, target_seconds, False, events_seen)
    lag = max(0, int((now - latest).total_seconds()))
    return Freshness(latest, lag, target_seconds, lag <= target_seconds, events_seen)


def _parse_time(value: object) -> dt.datetime | None:
    # A date-time, not a date or a number: `YYYY-MM-DDTHH:MM...` (or a space instead of the T).
    if not isinstance(value, str) or len(value) < 16 or value[4:5] != "-" or value[10:11] not in ("T", " "):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def record_time(record: Any) -> dt.datetime | None:
    """The newest date-time value of a raw record (None when it has none or is not an object)."""
    if not isinstance(record, dict):
        return None
    times = [t for t in (_parse_time(v) for v in record.values()) if t is not None]
    return max(times) if times else None


def latest_local(raw_dir: Path) -> tuple[dt.datetime | None, int]:
    """Newest event time in the newest ingest days of a local landing folder, and events read."""
    days = sorted((p for p in raw_dir.glob("ingest_date=*") if p.is_dir()), reverse=True)[:LOCAL_DAYS_SCANNED]
    latest: dt.datetime | None = None
    seen = 0
    for day in days:
        for path in sorted(day.glob("*.jsonl")):
            with path.open(encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    try:
                        moment = record_time(json.loads(line))
                    except json.JSONDecodeError:
                        continue
                    if moment is not None:
                        seen += 1
                        latest = moment if latest is None or moment > latest else latest
        if latest is not None:
            break
    return latest, seen


def latest_bigquery(cfg: RuntimeConfig, raw_table: str) -> tuple[dt.datetime | None, int]:
    """Newest TIMESTAMP value of the raw table (its last days' partitions when partitioned) and events."""
    from google.cloud import bigquery

    client = bigquery.Client(project=cfg.project, location=cfg.bigquery_location)
    table_id = f"{cfg.project}.{cfg.datasets['raw']}.{raw_table}"
    table = client.get_table(table_id)
    columns = [f.name for f in table.schema if f.field_type in ("TIMESTAMP", "DATETIME")]
    if not columns:
        raise ValueError(f"raw table {table_id} has no TIMESTAMP column to measure freshness by")
    partition = table.time_partitioning.field if table.time_partitioning else None
    where = ""
    if partition in columns:
        where = (
            f" where {partition} >= timestamp_sub(current_timestamp(), interval {BIGQUERY_DAYS_SCANNED} day)"
        )
    maxima = ", ".join(f"max({c}) as {c}" for c in columns)
    # B608: the only interpolated values are identifiers from the runtime config and the table schema.
    sql = f"select {maxima}, count(*) as events from `{table_id}`{where}"  # noqa: S608  # nosec B608
    row = next(iter(client.query(sql).result()))
    times = [row[c] for c in columns if row[c] is not None]
    latest = max(times) if times else None
    if latest is not None and latest.tzinfo is None:
        latest = latest.replace(tzinfo=dt.UTC)
    return latest, int(row["events"])
