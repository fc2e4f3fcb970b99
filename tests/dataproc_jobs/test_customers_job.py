"""The customers job in Spark local mode on hand-made raw profile changes: contract schema, dedup, late,
malformed, PII hashed, input order, the GCP read path, sample data."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import pytest

from dataproc_jobs.common import job
from dataproc_jobs.common.cli import JobArgs
from dataproc_jobs.common.records import received_from_table
from dataproc_jobs.common.window import RunWindow
from dataproc_jobs.customers import sample, transform
from dataproc_jobs.customers.job import SPEC
from dataproc_jobs.orders import sample as orders_sample
from platform_model.domain import load_domains
from tests.dataproc_jobs.helpers import (
    DAY,
    KEY,
    assert_contract_outputs,
    expected_hash,
    job_args,
    rows,
    write_day,
)

LATENESS = 1  # the domain's lateness window; the scenario is built around it


def run(spark: Any, args: JobArgs) -> dict[str, Any]:
    return job.run(spark, SPEC, args)


def change(event_id: str, customer: str, time: str, **over: Any) -> dict[str, Any]:
    record = {
        "event_id": event_id,
        "customer_id": customer,
        "email": "ada@example.com",
        "full_name": "Ada Lovelace",
        "street_address": "12 Analytical Row",
        "postal_code": "10115",
        "country": "GB",
        "segment": "consumer",
        "marketing_opt_in": True,
        "updated_at": time,
    }
    record.update(over)
    return record


def scenario() -> dict[str, list[Any]]:
    """Raw changes by ingest day around 2026-01-15 (window 01-14..01-15 with 1 day of lateness)."""
    today = [
        change("e1", "c1", "2026-01-15T08:00:00Z", email="  Ada@Example.COM "),
        change("e2", "c1", "2026-01-15T12:00:00Z", segment="business"),  # c1's latest change today
        change("e2", "c1", "2026-01-15T12:00:00Z", segment="business"),  # redelivered
        change("e3", "c2", "2026-01-15T09:00:00Z", email="grace@example.com"),
        change("e3", "c2", "2026-01-15T09:30:00Z", email="grace@example.com", segment="vip"),  # correction
        change("e4", "c3", "2026-01-14T22:00:00Z", email=None),  # changed yesterday, arrived today
        change("e5", "c1", "2026-01-14T10:00:00Z", marketing_opt_in=False),  # c1 yesterday: history
        change("e6", "c5", "2026-01-15T10:00:00Z", email=None, country=None),
        change("late1", "c4", "2026-01-13T10:00:00Z"),
        "this is not json",
        {k: v for k, v in change("m1", "c1", "2026-01-15T10:00:00Z").items() if k != "segment"},
        change("m2", "c1", "2026-01-15T10:00:00Z", marketing_opt_in="yes"),
        change("m3", "c1", "yesterday"),
        change("m4", "c1", "2026-01-15T10:00:00Z", segment="gold"),
        change("m5", "c1", "2026-01-15T10:00:00Z", country="Germany"),
        change("m6", "c1", "2026-01-16T01:00:00Z"),
    ]
    return {
        "2026-01-15": today,
        # Arrived the day before: e7 is in the window; the rest belongs to that day's run.
        "2026-01-14": [
            change("e7", "c6", "2026-01-14T09:00:00Z"),
            "garbage",
            change("x1", "c1", "2026-01-12T00:00:00Z"),
        ],
        # Outside the ingest days the window can use.
        "2026-01-13": [change("x2", "c1", "2026-01-13T10:00:00Z")],
        # A later ingest day (a backfill sees it): e8 arrived on time for 01-15, x3 is the next window's.
        "2026-01-16": [
            change("e8", "c7", "2026-01-15T23:00:00Z"),
            change("x3", "c1", "2026-01-16T01:00:00Z"),
        ],
    }


def write_scenario(raw: Path, shuffle: int | None = None) -> None:
    for day, lines in scenario().items():
        if shuffle is not None:
            random.Random(shuffle).shuffle(lines)
        write_day(raw, day, lines)


def customers_args(tmp: Path, *extra: str) -> JobArgs:
    return job_args(tmp, "--lateness-days", str(LATENESS), *extra)


@pytest.fixture(scope="module")
def ran(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """One run on the scenario, with the default key source (env:PLATFORM_PII_KEY)."""
    tmp = tmp_path_factory.mktemp("customers")
    write_scenario(tmp / "raw")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PLATFORM_PII_KEY", KEY)
        return tmp, run(spark, customers_args(tmp))


def test_lateness_matches_the_domain() -> None:
    assert load_domains()["customers"].lateness_days == LATENESS


def test_metrics_account_for_every_record_in_scope(ran: tuple[Path, dict[str, Any]]) -> None:
    tmp, metrics = ran
    assert (metrics["records_in"], metrics["records_out"]) == (18, 7)
    assert (metrics["records_rejected"], metrics["records_deduplicated"]) == (8, 3)
    assert metrics["rejected_by_reason"] == {"malformed": 7, "late": 1}
    assert metrics["partitions_written"] == ["2026-01-14", "2026-01-15"]
    assert metrics["job"] == "customers_clean"
    assert json.loads((tmp / "metrics.json").read_text()) == metrics


def test_outputs_have_the_contract_columns_and_types(spark: Any, ran: tuple[Path, dict[str, Any]]) -> None:
    tmp, _ = ran
    domain = load_domains()["customers"]
    assert_contract_outputs(spark, tmp, domain)
    assert {p.name for p in (tmp / "staging").iterdir() if p.is_dir()} == {
        "event_date=2026-01-14",
        "event_date=2026-01-15",
    }


def test_latest_change_per_event_and_customer_day_wins(spark: Any, ran: tuple[Path, dict[str, Any]]) -> None:
    tmp, _ = ran
    staged = {r["event_id"]: r for r in rows(spark, tmp / "staging")}
    assert sorted(staged) == ["e2", "e3", "e4", "e5", "e6", "e7", "e8"]
    assert staged["e3"]["segment"] == "vip"  # the corrected version of e3
    assert staged["e3"]["updated_at"] == dt.datetime(2026, 1, 15, 9, 30)
    # c1 changed twice today (e1, e2: the later stays) and once yesterday: two versions, one per day.
    c1 = sorted((r["event_date"], r["event_id"]) for r in staged.values() if r["customer_id"] == "c1")
    assert c1 == [(dt.date(2026, 1, 14), "e5"), (dt.date(2026, 1, 15), "e2")]
    assert staged["e5"]["marketing_opt_in"] is False and staged["e2"]["marketing_opt_in"] is True
    assert staged["e4"]["event_date"] == dt.date(2026, 1, 14)
    assert staged["e8"]["event_date"] == dt.date(2026, 1, 15)


def test_rejects_are_kept_with_reason_and_detail(spark: Any, ran: tuple[Path, dict[str, Any]]) -> None:
    tmp, _ = ran
    rejects = rows(spark, tmp / "rejects")
    assert {r["processing_date"] for r in rejects} == {DAY}
    by_id = {(r["event_id"], r["reason"]): r["detail"] for r in rejects}
    assert "updated_at is more than 1 day(s) before" in by_id[("late1", "late")]
    assert by_id[("m1", "malformed")] == "missing required field(s): segment"
    assert by_id[("m2", "malformed")] == "marketing_opt_in is not a boolean: yes"
    assert by_id[("m3", "malformed")] == "updated_at is not a timestamp: yesterday"
    assert "segment is not one of consumer/business/vip: gold" in by_id[("m4", "malformed")]
    assert "country is not a two-letter ISO code: Germany" in by_id[("m5", "malformed")]
    assert "after the processing date" in by_id[("m6", "malformed")]
    unparseable = [r for r in rejects if r["event_id"] is None]
    assert [(r["detail"], r["record"]) for r in unparseable] == [("not a JSON object", "this is not json")]
    # Records from other ingest days that are not this window's business are not reported again.
    assert not {"x1", "x2", "x3"} & {r["event_id"] for r in rejects}
    assert {r["reason"] for r in rejects} <= set(SPEC.reject_reasons)


def test_email_is_hashed_never_in_clear(spark: Any, ran: tuple[Path, dict[str, Any]]) -> None:
    tmp, _ = ran
    staged = {r["event_id"]: r for r in rows(spark, tmp / "staging")}
    assert "email" not in next(iter(staged.values()))
    assert staged["e2"]["email_hash"] == expected_hash("ada@example.com")
    assert staged["e3"]["email_hash"] == expected_hash("grace@example.com")
    assert staged["e4"]["email_hash"] is None
    assert not [v for r in staged.values() for v in r.values() if isinstance(v, str) and "@" in v]
    parsed = [r["record"] for r in rows(spark, tmp / "rejects") if r["event_id"] is not None]
    assert parsed and not [rec for rec in parsed if "@" in rec]
    assert all(json.loads(rec)["email_hash"] == expected_hash("ada@example.com") for rec in parsed)


def test_input_order_does_not_change_the_output(
    spark: Any, ran: tuple[Path, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, metrics = ran
    monkeypatch.setenv("PLATFORM_PII_KEY", KEY)
    write_scenario(tmp_path / "raw", shuffle=11)
    again = run(spark, customers_args(tmp_path))
    assert {k: v for k, v in again.items() if k != "duration_seconds"} == {
        k: v for k, v in metrics.items() if k != "duration_seconds"
    }
    for out in ("staging", "rejects"):
        assert rows(spark, tmp_path / out) == rows(spark, first / out), out


def test_bigquery_rows_go_through_the_same_rules(spark: Any) -> None:
    # The GCP read path: typed raw-table rows (no arrival day), as the BigQuery connector gives them.
    typed = spark.createDataFrame(
        [
            ("b1", "c1", "Ada@Example.com", None, None, None, "GB", "vip", True, dt.datetime(2026, 1, 15, 8)),
            (
                "b1",
                "c1",
                "Ada@Example.com",
                None,
                None,
                None,
                "GB",
                "business",
                False,
                dt.datetime(2026, 1, 15, 9),
            ),
            ("b2", "c2", None, None, None, None, None, "gold", False, dt.datetime(2026, 1, 14, 9)),
        ],
        "event_id string, customer_id string, email string, full_name string, street_address string, "
        "postal_code string, country string, segment string, marketing_opt_in boolean, updated_at timestamp",
    )
    received = received_from_table(typed, transform.EVENT_NAMES)
    outcome = transform.transform(received, RunWindow(DAY, LATENESS), KEY)
    (staged,) = [r.asDict() for r in outcome.staged.collect()]
    assert (staged["event_id"], staged["segment"], staged["marketing_opt_in"]) == ("b1", "business", False)
    assert staged["email_hash"] == expected_hash("ada@example.com")
    assert [(r.event_id, r.reason) for r in outcome.rejects.collect()] == [("b2", "malformed")]


def test_sample_data_is_accounted_for(spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATFORM_PII_KEY", KEY)
    summary = sample.write_day(tmp_path / "raw", DAY, rows=800, seed=3, lateness_days=LATENESS)
    metrics = run(spark, customers_args(tmp_path))
    assert metrics["records_in"] == summary.rows == sample.changes(800)
    assert metrics["records_out"] == summary.staged
    assert metrics["records_deduplicated"] == summary.superseded
    assert metrics["rejected_by_reason"] == {"malformed": summary.malformed, "late": summary.late}
    assert summary.malformed and summary.late and summary.superseded
    staged = rows(spark, tmp_path / "staging")
    ids = {r["customer_id"] for r in staged}
    assert ids == {orders_sample.person(i).customer_id for i in range(orders_sample.population(800))}


def test_missing_input_is_one_line_and_exit_2(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PLATFORM_PII_KEY", KEY)
    argv = ["--date", "2026-01-15", "--input", str(tmp_path / "nope"), "--output", str(tmp_path / "s")]
    assert job.main(SPEC, [*argv, "--rejects", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err.strip() == f"error: --input: {tmp_path / 'nope'} does not exist"
    monkeypatch.delenv("PLATFORM_PII_KEY")
    assert job.main(SPEC, [*argv, "--rejects", str(tmp_path / "r")]) == 2
    assert "PLATFORM_PII_KEY is not set" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
