"""Sample raw profile changes for local runs, for the customers who place the sample orders.

A day with `rows` orders has a quarter as many profile changes (`changes`). Every customer of the
orders generator's population (same ids, names, e-mails and countries) changes its profile on each
ingest day, some of them several times (and some of the changes arrive a day late), so the staging table
gets a version per customer and day and dbt's SCD2 snapshot gets history. A few records are
redelivered, late or malformed.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

from dataproc_jobs.common.sample import DaySummary, at, malformed, timestamp, write_lines
from dataproc_jobs.orders.sample import person, population

SEGMENTS = ("consumer", "consumer", "consumer", "business", "vip")
STREETS = ("Main Street", "Church Road", "Station Road", "Park Lane", "Mill Lane", "High Street")
REQUIRED = ("event_id", "customer_id", "segment", "marketing_opt_in", "updated_at")
BAD_VALUES: dict[str, tuple[Any, ...]] = {
    "marketing_opt_in": ("yes", 1, "TRUE"),
    "updated_at": ("yesterday", "2026-13-45T25:61:00Z"),
    "segment": ("gold", "VIP", "retail"),
    "country": ("Germany", "de", "DEU"),
}


def _change(rng: random.Random, day: dt.date, customer: int) -> dict[str, Any]:
    who = person(customer)
    email = who.email
    if rng.random() < 0.1:
        email = f"{who.first}.{who.last}{customer}@mail.example.org".lower()  # moved to a new address
    elif rng.random() < 0.2:
        email = f"  {email.upper()} "  # the same address written differently: hashes alike
    return {
        "event_id": f"cp-{rng.getrandbits(64):016x}",
        "customer_id": who.customer_id,
        "email": email if rng.random() > 0.05 else None,
        "full_name": f"{who.first} {who.last}",
        "street_address": f"{rng.randrange(1, 200)} {rng.choice(STREETS)}",
        "postal_code": f"{rng.randrange(1000, 99999):05d}",
        "country": who.country,
        "segment": rng.choice(SEGMENTS),
        "marketing_opt_in": rng.random() < 0.4,
        "updated_at": timestamp(at(day, rng.randrange(86400))),
    }


def changes(rows: int) -> int:
    """Profile changes on a day with `rows` order events: a quarter as many, at least one per customer."""
    return max(population(rows), rows // 4)


def write_day(raw_dir: Path, day: dt.date, rows: int, seed: int, lateness_days: int) -> DaySummary:
    """Write one ingest day of raw profile changes (`changes(rows)` records, for the customers of a day
    of `rows` orders) under `raw_dir` and return what it holds."""
    rng = random.Random(f"customers:{seed}:{day.isoformat()}")  # noqa: S311 (synthetic data, not security)
    customers = population(rows)
    total = changes(rows)
    lines: list[Any] = []
    valid = covered = 0
    versions: set[tuple[str, dt.date]] = set()  # (customer, event day): one staged row each
    summary = DaySummary(ingest_date=day.isoformat())
    while len(lines) < total:
        roll = rng.random()
        # The first changes of the day go to every customer once; the rest to any of them again.
        customer = covered if covered < customers else rng.randrange(customers)
        base = _change(rng, day, customer)
        if roll < 0.04:
            lines.append(malformed(rng, base, REQUIRED, BAD_VALUES))
            summary.malformed += 1
            continue
        if roll < 0.08:
            late_day = day - dt.timedelta(days=lateness_days + 1 + rng.randrange(5))
            base["updated_at"] = timestamp(at(late_day, rng.randrange(86400)))
            lines.append(base)
            summary.late += 1
            continue
        event_day = day
        if roll > 0.9 and lateness_days > 0:
            # Changed late yesterday, arrived today: still on time for the lateness window.
            event_day = day - dt.timedelta(days=1)
            base["updated_at"] = timestamp(at(event_day, 20 * 3600 + rng.randrange(4 * 3600)))
        lines.append(base)
        valid += 1
        covered += 1
        if roll < 0.12 and len(lines) < total:
            lines.append(dict(base))  # a redelivery: the same change twice
            valid += 1
        versions.add((base["customer_id"], event_day))
    rng.shuffle(lines)
    summary.staged = len(versions)
    summary.superseded = valid - len(versions)
    return write_lines(raw_dir, day, lines, summary)
