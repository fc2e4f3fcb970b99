"""What the domains' sample-data generators share (never shipped: `sample.py` modules stay out of zips).

Each domain with sample data has `dataproc_jobs/<domain>/sample.py` with

    write_day(raw_dir: Path, day: datetime.date, rows: int, seed: int, lateness_days: int) -> DaySummary

writing `rows` raw records that arrived on `day` into `raw_dir/ingest_date=<day>/part-00000.jsonl`;
`dataproc_jobs.sample_data` finds and calls them.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RAW_FILE = "part-00000.jsonl"


@dataclass
class DaySummary:
    """What was written for one ingest day, as a run of that day with nothing else in its window sees it."""

    ingest_date: str
    rows: int = 0
    staged: int = 0
    """Records the run stages (its records_out)."""
    superseded: int = 0
    """Valid records folded into a later version (redeliveries, corrections, earlier changes)."""
    late: int = 0
    malformed: int = 0
    path: str = ""


def timestamp(moment: dt.datetime) -> str:
    """RFC 3339 in UTC, as the events carry it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + "Z"


def at(day: dt.date, seconds: int) -> dt.datetime:
    """`seconds` after the start of `day`."""
    return dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=seconds)


def write_lines(raw_dir: Path, day: dt.date, lines: list[Any], summary: DaySummary) -> DaySummary:
    """Write the day's records (JSON-encoded unless already text) and fill in `rows` and `path`."""
    folder = raw_dir / f"ingest_date={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / RAW_FILE
    text = [line if isinstance(line, str) else json.dumps(line) for line in lines]
    target.write_text("\n".join(text) + "\n", encoding="utf-8")
    summary.rows = len(lines)
    summary.path = str(target)
    return summary


def malformed(
    rng: random.Random, record: dict[str, Any], required: Sequence[str], bad: Mapping[str, Sequence[Any]]
) -> str:
    """`record` spoilt one way, as a raw line: cut short (not JSON), a `required` field dropped, or a
    field of `bad` given one of its bad values."""
    kind = rng.choice(("not_json", "missing_field", *bad))
    spoilt = dict(record)
    if kind == "not_json":
        return json.dumps(spoilt)[: rng.randrange(5, 40)]
    if kind == "missing_field":
        spoilt.pop(rng.choice(tuple(required)))
    else:
        spoilt[kind] = rng.choice(tuple(bad[kind]))
    return json.dumps(spoilt)
