"""Generate raw order events for local runs: valid events plus duplicates, late and malformed ones.

    python -m dataproc_jobs.sample_data --out DIR --date 2026-01-15 --rows 1000 [--days 1] [--seed 7]

Writes `DIR/ingest_date=<day>/part-00000.jsonl` for each of the `--days` ingest days ending at
`--date` (the layout the job reads with `--input DIR`) and prints, per day, how many records of each kind
it wrote. The same arguments always give the same files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NoReturn

CURRENCIES = ("EUR", "EUR", "EUR", "USD", "GBP", "CHF", "SEK")
COUNTRIES = ("DE", "FR", "NL", "BE", "ES", "IT", "PL", "SE", "GB", "US")
FIRST = ("Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances", "Edsger")
LAST = ("Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson", "Allen")
MALFORMED_KINDS = ("not_json", "missing_field", "bad_amount", "bad_currency", "bad_time", "bad_status")


@dataclass
class DaySummary:
    """What was written for one ingest day (a run of that day with nothing else in its window)."""

    ingest_date: str
    rows: int = 0
    unique_valid: int = 0
    """Distinct event_ids of valid, on-time records: what the job stages."""
    duplicates: int = 0
    """Extra copies and older versions of those events: superseded."""
    late: int = 0
    malformed: int = 0
    path: str = ""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message}\n")


def _ts(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + "Z"


def _event(rng: random.Random, day: dt.date, customer: int) -> dict[str, Any]:
    first, last = FIRST[customer % len(FIRST)], LAST[customer % len(LAST)]
    email = f"{first}.{last}{customer}@example.com"
    if rng.random() < 0.2:
        email = f"  {email.upper()} "  # the same address written differently: hashes alike
    moment = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=rng.randrange(86400))
    return {
        "event_id": f"ev-{rng.getrandbits(64):016x}",
        "order_id": f"or-{rng.getrandbits(48):012x}",
        "customer_id": f"cu-{customer:05d}",
        "customer_email": email if rng.random() > 0.05 else None,
        "customer_name": f"{first} {last}",
        "shipping_country": COUNTRIES[customer % len(COUNTRIES)],
        "status": rng.choice(("created", "paid", "paid", "paid", "cancelled", "refunded")),
        "amount_cents": rng.randrange(199, 250_00),
        "currency": rng.choice(CURRENCIES),
        "event_time": _ts(moment),
    }


def _malformed(rng: random.Random, base: dict[str, Any], kind: str) -> str:
    record = dict(base)
    if kind == "not_json":
        return json.dumps(record)[: rng.randrange(5, 40)]
    if kind == "missing_field":
        record.pop(
            rng.choice(("event_id", "order_id", "customer_id", "status", "amount_cents", "event_time"))
        )
    elif kind == "bad_amount":
        record["amount_cents"] = rng.choice(("12.50", "twelve", "1e3"))
    elif kind == "bad_currency":
        record["currency"] = rng.choice(("XXX", "eur", "BTC"))
    elif kind == "bad_time":
        record["event_time"] = rng.choice(("yesterday", "2026-13-45T25:61:00Z", ""))
    elif kind == "bad_status":
        record["status"] = rng.choice(("shipped", "PAID", ""))
    return json.dumps(record)


def generate_day(out: Path, day: dt.date, rows: int, seed: int, lateness_days: int = 2) -> DaySummary:
    """Write one ingest day of raw events under `out` and return what it holds."""
    rng = random.Random(seed * 1_000_003 + day.toordinal())  # noqa: S311 (synthetic data, not security)
    customers = max(5, rows // 8)
    lines: list[str] = []
    summary = DaySummary(ingest_date=day.isoformat())
    while len(lines) < rows:
        roll = rng.random()
        base = _event(rng, day, rng.randrange(customers))
        if roll < 0.04:
            lines.append(_malformed(rng, base, rng.choice(MALFORMED_KINDS)))
            summary.malformed += 1
        elif roll < 0.08:
            late_day = day - dt.timedelta(days=lateness_days + 1 + rng.randrange(5))
            base["event_time"] = _ts(
                dt.datetime.combine(late_day, dt.time(12)) + dt.timedelta(minutes=rng.randrange(600))
            )
            lines.append(json.dumps(base))
            summary.late += 1
        elif roll < 0.12 and len(lines) + 2 <= rows:
            # A redelivery (the same record twice) or a correction (the same event_id, later time).
            lines.append(json.dumps(base))
            later = dict(base)
            if rng.random() < 0.5:
                moment = dt.datetime.strptime(base["event_time"], "%Y-%m-%dT%H:%M:%SZ")
                later["event_time"] = _ts(
                    min(moment + dt.timedelta(minutes=5), dt.datetime.combine(day, dt.time(23, 59, 59)))
                )
                later["amount_cents"] = base["amount_cents"] + 100
            lines.append(json.dumps(later))
            summary.unique_valid += 1
            summary.duplicates += 1
        else:
            if roll > 0.9 and lateness_days > 0:
                # Arrived a day after it happened: still on time for the lateness window.
                earlier = day - dt.timedelta(days=1)
                base["event_time"] = _ts(
                    dt.datetime.combine(earlier, dt.time(20)) + dt.timedelta(minutes=rng.randrange(239))
                )
            lines.append(json.dumps(base))
            summary.unique_valid += 1
    rng.shuffle(lines)
    folder = out / f"ingest_date={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "part-00000.jsonl"
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary.rows = len(lines)
    summary.path = str(target)
    return summary


def generate(
    out: Path, last_day: dt.date, rows: int, days: int = 1, seed: int = 7, lateness_days: int = 2
) -> list[DaySummary]:
    """Write `days` ingest days ending at `last_day`, `rows` records each."""
    first = last_day - dt.timedelta(days=days - 1)
    return [generate_day(out, first + dt.timedelta(days=i), rows, seed, lateness_days) for i in range(days)]


def main(argv: list[str] | None = None) -> int:
    """CLI: write the files and print a JSON summary per ingest day."""
    p = _Parser(prog="python -m dataproc_jobs.sample_data", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="raw landing folder (the job's --input)")
    p.add_argument("--date", required=True, help="last ingest day, YYYY-MM-DD")
    p.add_argument("--rows", type=int, required=True, help="records per ingest day (at least 1)")
    p.add_argument("--days", type=int, default=1, help="ingest days ending at --date (default 1)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--lateness-days", type=int, default=2, help="the job's lateness window (default 2)")
    args = p.parse_args(argv)
    try:
        day = dt.date.fromisoformat(args.date)
    except ValueError:
        p.error(f"argument --date: {args.date!r} is not a YYYY-MM-DD date")
    if not 1 <= args.rows <= 10_000_000:
        p.error(f"argument --rows: {args.rows} is not between 1 and 10000000")
    if not 1 <= args.days <= 366:
        p.error(f"argument --days: {args.days} is not between 1 and 366")
    if not 0 <= args.lateness_days <= 30:
        p.error(f"argument --lateness-days: {args.lateness_days} is not between 0 and 30")
    for summary in generate(args.out, day, args.rows, args.days, args.seed, args.lateness_days):
        print(json.dumps(asdict(summary), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
