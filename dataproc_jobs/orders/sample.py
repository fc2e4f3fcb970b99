"""Sample raw order events for local runs: valid events plus duplicates, late and malformed ones.

`write_day` is the generator `dataproc_jobs.sample_data` calls; `population` and `person` say which
customers place the orders, so other sample domains can describe the same customers.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataproc_jobs.common.sample import DaySummary, at, malformed, timestamp, write_lines

CURRENCIES = ("EUR", "EUR", "EUR", "USD", "GBP", "CHF", "SEK")
COUNTRIES = ("DE", "FR", "NL", "BE", "ES", "IT", "PL", "SE", "GB", "US")
FIRST = ("Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances", "Edsger")
LAST = ("Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson", "Allen")
REQUIRED = ("event_id", "order_id", "customer_id", "status", "amount_cents", "event_time")
BAD_VALUES: dict[str, tuple[str, ...]] = {
    "amount_cents": ("12.50", "twelve", "1e3"),
    "currency": ("XXX", "eur", "BTC"),
    "event_time": ("yesterday", "2026-13-45T25:61:00Z", ""),
    "status": ("shipped", "PAID", ""),
}


@dataclass(frozen=True)
class Person:
    """A customer of the sample shop."""

    customer_id: str
    first: str
    last: str
    email: str
    country: str


def population(rows: int) -> int:
    """How many customers a day of `rows` order events is spread over (ids 0 .. population - 1)."""
    return max(5, rows // 8)


def person(customer: int) -> Person:
    """Customer number `customer`: the same id, name, e-mail and country on every day."""
    first, last = FIRST[customer % len(FIRST)], LAST[customer % len(LAST)]
    return Person(
        customer_id=f"cu-{customer:05d}",
        first=first,
        last=last,
        email=f"{first}.{last}{customer}@example.com",
        country=COUNTRIES[customer % len(COUNTRIES)],
    )


def _event(rng: random.Random, day: dt.date, customer: int) -> dict[str, Any]:
    who = person(customer)
    email = who.email
    if rng.random() < 0.2:
        email = f"  {email.upper()} "  # the same address written differently: hashes alike
    return {
        "event_id": f"ev-{rng.getrandbits(64):016x}",
        "order_id": f"or-{rng.getrandbits(48):012x}",
        "customer_id": who.customer_id,
        "customer_email": email if rng.random() > 0.05 else None,
        "customer_name": f"{who.first} {who.last}",
        "shipping_country": who.country,
        "status": rng.choice(("created", "paid", "paid", "paid", "cancelled", "refunded")),
        "amount_cents": rng.randrange(199, 250_00),
        "currency": rng.choice(CURRENCIES),
        "event_time": timestamp(at(day, rng.randrange(86400))),
    }


def write_day(raw_dir: Path, day: dt.date, rows: int, seed: int, lateness_days: int) -> DaySummary:
    """Write one ingest day of raw order events under `raw_dir` and return what it holds."""
    rng = random.Random(seed * 1_000_003 + day.toordinal())  # noqa: S311 (synthetic data, not security)
    customers = population(rows)
    lines: list[Any] = []
    summary = DaySummary(ingest_date=day.isoformat())
    while len(lines) < rows:
        roll = rng.random()
        base = _event(rng, day, rng.randrange(customers))
        if roll < 0.04:
            lines.append(malformed(rng, base, REQUIRED, BAD_VALUES))
            summary.malformed += 1
        elif roll < 0.08:
            late_day = day - dt.timedelta(days=lateness_days + 1 + rng.randrange(5))
            base["event_time"] = timestamp(at(late_day, 12 * 3600 + 60 * rng.randrange(600)))
            lines.append(base)
            summary.late += 1
        elif roll < 0.12 and len(lines) + 2 <= rows:
            # A redelivery (the same record twice) or a correction (the same event_id, later time).
            lines.append(base)
            later = dict(base)
            if rng.random() < 0.5:
                moment = dt.datetime.strptime(base["event_time"], "%Y-%m-%dT%H:%M:%SZ")
                later["event_time"] = timestamp(min(moment + dt.timedelta(minutes=5), at(day, 86399)))
                later["amount_cents"] = base["amount_cents"] + 100
            lines.append(later)
            summary.staged += 1
            summary.superseded += 1
        else:
            if roll > 0.9 and lateness_days > 0:
                # Arrived a day after it happened: still on time for the lateness window.
                earlier = day - dt.timedelta(days=1)
                base["event_time"] = timestamp(at(earlier, 20 * 3600 + 60 * rng.randrange(239)))
            lines.append(base)
            summary.staged += 1
    rng.shuffle(lines)
    return write_lines(raw_dir, day, lines, summary)
