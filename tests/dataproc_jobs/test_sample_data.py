"""Sample data: one dispatcher over the domains' generators, the customers of both sample domains alike,
profile history across days, deterministic files, one-line errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from dataproc_jobs.customers import sample as customers_sample
from dataproc_jobs.sample_data import generate, generate_summaries
from platform_model.domain import load_domains
from platform_model.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
SHARED = ("dataproc_jobs/build.py", "dataproc_jobs/sample_data.py", "dataproc_jobs/__init__.py")


def raw_lines(warehouse: Path, domain: str, day: str) -> list[str]:
    event = load_domains()[domain].event
    assert event is not None
    path = warehouse / "raw" / event.raw_table / f"ingest_date={day}" / "part-00000.jsonl"
    return path.read_text(encoding="utf-8").splitlines()


def parsed(lines: list[str]) -> list[dict[str, Any]]:
    out = []
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        out.append(record)
    return out


def test_every_domain_with_an_event_and_a_generator_gets_its_raw_table(tmp_path: Path) -> None:
    written = generate(tmp_path, "2026-01-15", rows=160)
    with_event = {n for n, d in load_domains().items() if d.event is not None}
    assert set(written) == with_event == {"orders", "customers"}
    for domain, count in written.items():
        assert len(raw_lines(tmp_path, domain, "2026-01-15")) == count
    assert written["orders"] == 160 and written["customers"] == customers_sample.changes(160)
    assert generate(tmp_path / "only", "2026-01-15", rows=40, domains=["customers"]).keys() == {"customers"}
    assert not (tmp_path / "only" / "raw" / "orders_events").exists()


def test_profile_changes_describe_the_customers_who_order(tmp_path: Path) -> None:
    generate(tmp_path, "2026-01-15", rows=400, seed=5)
    orders = parsed(raw_lines(tmp_path, "orders", "2026-01-15"))
    changes = parsed(raw_lines(tmp_path, "customers", "2026-01-15"))
    ordering = {o["customer_id"] for o in orders if "customer_id" in o}
    profiled = {c["customer_id"] for c in changes if "customer_id" in c}
    assert ordering <= profiled == ordering | profiled
    # The same people: one name and country per customer in both; mostly the same e-mail too.
    person = {
        o["customer_id"]: (o["customer_name"], o["shipping_country"]) for o in orders if "customer_id" in o
    }
    email = {o["customer_id"]: o["customer_email"].strip().lower() for o in orders if o.get("customer_email")}
    for c in changes:
        if c.get("customer_id") in person and "full_name" in c:
            assert (c["full_name"], c["country"]) == person[c["customer_id"]] or c["country"] in (
                "Germany",
                "de",
                "DEU",
            )
    compared = [
        c["email"].strip().lower() == email[c["customer_id"]]
        for c in changes
        if c.get("email") and c.get("customer_id") in email
    ]
    assert len(compared) > 50 and sum(compared) / len(compared) > 0.7


def test_customers_change_several_times_across_days(tmp_path: Path) -> None:
    for day in ("2026-01-14", "2026-01-15"):
        generate(tmp_path, day, rows=200, domains=["customers"])
    per_customer: dict[str, set[tuple[str, str, bool]]] = defaultdict(set)
    days: dict[str, set[str]] = defaultdict(set)
    same_day: dict[tuple[str, str], int] = defaultdict(int)
    for day in ("2026-01-14", "2026-01-15"):
        for c in parsed(raw_lines(tmp_path, "customers", day)):
            if {"customer_id", "updated_at", "segment"} <= c.keys() and isinstance(c["updated_at"], str):
                per_customer[c["customer_id"]].add(
                    (c["segment"], c["street_address"], c.get("marketing_opt_in"))
                )
                days[c["customer_id"]].add(c["updated_at"][:10])
                same_day[(c["customer_id"], c["updated_at"][:10])] += 1
    with_history = [cid for cid, d in days.items() if len(d) >= 2 and len(per_customer[cid]) >= 2]
    assert len(with_history) >= len(days) // 2
    assert any(n >= 2 for n in same_day.values())


def test_summaries_count_malformed_late_and_superseded(tmp_path: Path) -> None:
    summaries = generate_summaries(tmp_path, "2026-01-15", rows=400, seed=9)
    for domain, s in summaries.items():
        assert s.malformed and s.late and s.superseded, domain
        assert s.staged + s.superseded + s.late + s.malformed == s.rows, domain
        assert len(raw_lines(tmp_path, domain, "2026-01-15")) == s.rows, domain


def test_cli_is_deterministic_and_lays_out_ingest_days(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "dataproc_jobs.sample_data", "--date", "2026-01-15", "--rows", "80"]
    first = subprocess.run(
        [*cmd, "--warehouse", str(tmp_path / "a"), "--days", "2"], capture_output=True, text=True, cwd=REPO
    )
    assert first.returncode == 0, first.stderr
    summaries = [json.loads(line) for line in first.stdout.splitlines()]
    assert sorted((s["domain"], s["ingest_date"]) for s in summaries) == [
        (d, day) for d in ("customers", "orders") for day in ("2026-01-14", "2026-01-15")
    ]
    second = subprocess.run(
        [*cmd, "--warehouse", str(tmp_path / "b"), "--days", "2"], capture_output=True, text=True, cwd=REPO
    )
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.jsonl"))
    assert files_a == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.jsonl"))
    assert len(files_a) == 4
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    assert second.stdout == first.stdout.replace(str(tmp_path / "a"), str(tmp_path / "b"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--date", "2026-02-30", "--rows", "5"], "error: --date: '2026-02-30' is not a YYYY-MM-DD date"),
        (["--date", "2026-01-15", "--rows", "0"], "error: --rows: 0 is not between 1 and 10000000"),
        (["--date", "2026-01-15", "--rows", "5", "--domain", "nope"], "error: --domain: no domain 'nope'"),
        (
            ["--date", "2026-01-15", "--rows", "5", "--domain", "revenue"],
            "error: --domain: revenue has no sample data",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    cmd = [sys.executable, "-m", "dataproc_jobs.sample_data", "--warehouse", str(tmp_path), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(message)
    with pytest.raises(ConfigError):
        generate(tmp_path, args[1], int(args[3]), domains=args[5:6] or None)


def test_shared_code_names_no_domain() -> None:
    names = set(load_domains())
    files = [REPO / f for f in SHARED] + sorted((REPO / "dataproc_jobs" / "common").glob("*.py"))
    for path in files:
        words = set(re.findall(r"[a-z]+", path.read_text(encoding="utf-8").lower()))
        assert not names & words, f"{path.relative_to(REPO)} names {sorted(names & words)}"
