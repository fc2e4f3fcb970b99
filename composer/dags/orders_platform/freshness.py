"""Raw-data freshness: how far the newest raw event lags behind now, against the runtime config's target."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

from orders_platform.runtime import RuntimeConfig

# Newest ingest days scanned locally; the newest event is in the newest day that has a valid one.
LOCAL_DAYS_SCANNED = 3


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
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def latest_local(raw_dir: Path) -> tuple[dt.datetime | None, int]:
    """Newest valid event_time in the newest ingest days of a local landing folder, and events read."""
    days = sorted((p for p in raw_dir.glob("ingest_date=*") if p.is_dir()), reverse=True)[:LOCAL_DAYS_SCANNED]
    latest: dt.datetime | None = None
    seen = 0
    for day in days:
        for path in sorted(day.glob("*.jsonl")):
            with path.open(encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    moment = _parse_time(record.get("event_time")) if isinstance(record, dict) else None
                    if moment is not None:
                        seen += 1
                        latest = moment if latest is None or moment > latest else latest
        if latest is not None:
            break
    return latest, seen


def latest_bigquery(cfg: RuntimeConfig) -> tuple[dt.datetime | None, int]:
    """Newest event_time in the raw table (the last 3 days' partitions only) and events counted."""
    from google.cloud import bigquery

    client = bigquery.Client(project=cfg.project, location=cfg.bigquery_location)
    table = f"`{cfg.project}.{cfg.datasets['raw']}.{cfg.raw_table}`"
    # B608: the only interpolated values are identifiers from the runtime config, not user input.
    sql = (
        f"select max(event_time) as latest, count(*) as events from {table} "  # noqa: S608  # nosec B608
        "where event_time >= timestamp_sub(current_timestamp(), interval 3 day)"
    )
    row = next(iter(client.query(sql).result()))
    return row["latest"], int(row["events"])
