"""Generate raw events of every domain for local runs: valid records plus duplicates, late and malformed ones.

    python -m dataproc_jobs.sample_data --warehouse DIR --date 2026-01-15 --rows 1000 \\
        [--days 1] [--seed 7] [--domain NAME ...]

Each domain with an event and a generator (`dataproc_jobs/<domain>/sample.py`, see
`dataproc_jobs.common.sample`) gets `DIR/raw/<raw_table>/ingest_date=<day>/part-00000.jsonl` for each of
the `--days` ingest days ending at `--date` (the layout its job reads with `--input`), with the domain's
lateness window. Prints one JSON line per domain and day saying how many records of each kind it wrote.
The same arguments always give the same files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from types import ModuleType
from typing import NoReturn, cast

from dataproc_jobs.common.sample import DaySummary
from platform_model.domain import Domain, load_domains
from platform_model.errors import ConfigError, PlatformError

GENERATOR = "write_day"
MAX_ROWS = 10_000_000
MAX_DAYS = 366

Generator = Callable[[Path, dt.date, int, int, int], DaySummary]


def _sample_module(domain: str) -> ModuleType | None:
    name = f"dataproc_jobs.{domain}.sample"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name in (name, f"dataproc_jobs.{domain}"):
            return None
        raise


def generators(names: list[str] | None = None) -> dict[str, tuple[Domain, Generator]]:
    """The domains to generate for (all with an event and a sample module, or `names`), by name."""
    domains = load_domains()
    unknown = sorted(set(names or []) - set(domains))
    if unknown:
        raise ConfigError(f"--domain: no domain {unknown[0]!r} (known: {', '.join(sorted(domains))})")
    out: dict[str, tuple[Domain, Generator]] = {}
    for name in names if names is not None else sorted(domains):
        domain = domains[name]
        module = _sample_module(name) if domain.event is not None else None
        if module is None:
            if names is not None:
                raise ConfigError(f"--domain: {name} has no sample data (no dataproc_jobs/{name}/sample.py)")
            continue
        generator = getattr(module, GENERATOR, None)
        if not callable(generator):
            raise ConfigError(
                f"dataproc_jobs/{name}/sample.py: has no {GENERATOR}(raw_dir, day, rows, seed, lateness_days)"
            )
        out[name] = (domain, cast(Generator, generator))
    return out


def _day(date: str) -> dt.date:
    try:
        return dt.date.fromisoformat(date)
    except ValueError:
        raise ConfigError(f"--date: {date!r} is not a YYYY-MM-DD date") from None


def _check_rows(rows: int) -> None:
    if not 1 <= rows <= MAX_ROWS:
        raise ConfigError(f"--rows: {rows} is not between 1 and {MAX_ROWS}")


def generate_summaries(
    warehouse_root: Path, date: str, rows: int, seed: int = 7, domains: list[str] | None = None
) -> dict[str, DaySummary]:
    """Like `generate`, with what each domain's day holds (staged, superseded, late, malformed)."""
    day = _day(date)
    _check_rows(rows)
    out: dict[str, DaySummary] = {}
    for name, (domain, write_day) in generators(domains).items():
        assert domain.event is not None
        raw_dir = warehouse_root / "raw" / domain.event.raw_table
        out[name] = write_day(raw_dir, day, rows, seed, domain.lateness_days)
    return out


def generate(
    warehouse_root: Path, date: str, rows: int, seed: int = 7, domains: list[str] | None = None
) -> dict[str, int]:
    """Write one ingest day (`date`, YYYY-MM-DD) of `rows` raw records for each domain with sample data
    (or those of `domains`) under `warehouse_root/raw/<raw_table>/`; return the rows written per domain.

    ConfigError (one line) for a bad date or row count, an unknown domain, or a named one without
    sample data.
    """
    return {name: s.rows for name, s in generate_summaries(warehouse_root, date, rows, seed, domains).items()}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    """CLI: write the files and print a JSON summary per domain and ingest day."""
    p = _Parser(prog="python -m dataproc_jobs.sample_data", description=__doc__.splitlines()[0])
    p.add_argument("--warehouse", type=Path, required=True, help="local warehouse root (raw/ goes below)")
    p.add_argument("--date", required=True, help="last ingest day, YYYY-MM-DD")
    p.add_argument("--rows", type=int, required=True, help=f"records per domain and day (1 to {MAX_ROWS})")
    p.add_argument("--days", type=int, default=1, help="ingest days ending at --date (default 1)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--domain", action="append", default=None, help="only this domain (repeatable)")
    args = p.parse_args(argv)
    if not 1 <= args.days <= MAX_DAYS:
        p.error(f"argument --days: {args.days} is not between 1 and {MAX_DAYS}")
    try:
        last = _day(args.date)
        for offset in range(args.days - 1, -1, -1):
            day = (last - dt.timedelta(days=offset)).isoformat()
            summaries = generate_summaries(args.warehouse, day, args.rows, args.seed, args.domain)
            for name, summary in summaries.items():
                print(json.dumps({"domain": name, **asdict(summary)}, sort_keys=True))
    except PlatformError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
