"""The orders job in Spark local mode on hand-made raw events: dedup, late, malformed, PII, idempotency."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from dataproc_jobs.common import job
from dataproc_jobs.common.cli import JobArgs
from dataproc_jobs.common.pii import PiiKeyError, hmac_sha256_hex
from dataproc_jobs.orders import sample
from dataproc_jobs.orders.job import SPEC
from platform_model.domain import load_domains
from tests.dataproc_jobs.helpers import DAY, KEY, assert_contract_outputs, expected_hash, rows, write_day
from tests.dataproc_jobs.helpers import job_args as _job_args


def run(spark: Any, args: JobArgs) -> dict[str, Any]:
    return job.run(spark, SPEC, args)


def job_args(tmp: Path, **over: Any) -> JobArgs:
    return _job_args(tmp, "--pii-key-source", "env:TEST_ORDERS_PII_KEY", **over)


def ev(event_id: str, time: str, status: str = "paid", **over: Any) -> dict[str, Any]:
    record = {
        "event_id": event_id,
        "order_id": f"o-{event_id}",
        "customer_id": "c1",
        "customer_email": "ada@example.com",
        "customer_name": "Ada Lovelace",
        "shipping_country": "GB",
        "status": status,
        "amount_cents": 1000,
        "currency": "EUR",
        "event_time": time,
    }
    record.update(over)
    return record


def scenario(raw: Path) -> None:
    """Raw events around 2026-01-15 (window 01-13..01-15 with 2 days of lateness)."""
    write_day(
        raw,
        "2026-01-15",
        [
            ev("e1", "2026-01-15T10:00:00Z", "created", customer_email="  Ada@Example.COM "),
            ev("e1", "2026-01-15T10:05:00Z", "paid", amount_cents=1200),
            ev("e2", "2026-01-15T11:00:00Z", "created"),
            ev("e2", "2026-01-15T11:00:00Z", "paid"),
            ev("e3", "2026-01-15T12:00:00Z"),
            ev("e3", "2026-01-15T12:00:00Z"),
            ev("e4", "2026-01-15T13:00:00Z", currency="USD", customer_id="c2"),
            ev("e5", "2026-01-13T08:00:00Z", customer_email=None, customer_id="c3"),
            ev("e6", "2026-01-14T09:30:00Z", "paid"),
            ev("late1", "2026-01-12T23:00:00Z"),
            "this is not json",
            {k: v for k, v in ev("m1", "2026-01-15T10:00:00Z").items() if k != "order_id"},
            ev("m2", "2026-01-15T10:00:00Z", amount_cents="12.5"),
            ev("m3", "2026-01-15T10:00:00Z", currency="BTC"),
            ev("m4", "yesterday"),
            ev("m5", "2026-01-15T10:00:00Z", status="shipped"),
            ev("m6", "2026-01-16T01:00:00Z"),
        ],
    )
    # Arrived the day before: e6's first version is in the window; the rest belongs to that day's run.
    write_day(
        raw,
        "2026-01-14",
        [ev("e6", "2026-01-14T09:00:00Z", "created"), "garbage", ev("x1", "2026-01-10T00:00:00Z")],
    )
    # Outside the ingest days the window can use.
    write_day(raw, "2026-01-12", [ev("x2", "2026-01-12T10:00:00Z")])
    # A later ingest day (a backfill sees it): e8 arrived on time for 01-15, x3 is the next window's.
    write_day(raw, "2026-01-16", [ev("e8", "2026-01-15T23:00:00Z"), ev("x3", "2026-01-16T01:00:00Z")])


@pytest.fixture
def ran(spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, Any]]:
    monkeypatch.setenv("TEST_ORDERS_PII_KEY", KEY)
    scenario(tmp_path / "raw")
    return tmp_path, run(spark, job_args(tmp_path))


def test_metrics_account_for_every_record_in_scope(ran: tuple[Path, dict[str, Any]]) -> None:
    tmp, metrics = ran
    assert metrics["records_in"] == 19
    assert metrics["records_out"] == 7
    assert metrics["records_rejected"] == 12
    assert metrics["rejected_by_reason"] == {"malformed": 7, "late": 1, "superseded": 4}
    assert metrics["records_in"] == metrics["records_out"] + metrics["records_rejected"]
    assert metrics["partitions_written"] == ["2026-01-13", "2026-01-14", "2026-01-15"]
    assert json.loads((tmp / "metrics.json").read_text()) == metrics


def test_latest_version_wins(spark: Any, ran: tuple[Path, dict[str, Any]]) -> None:
    tmp, _ = ran
    staged = {r["event_id"]: r for r in rows(spark, tmp / "staging")}
    assert sorted(staged) == ["e1", "e2", "e3", "e4", "e5", "e6", "e8"]
    assert staged["e1"]["status"] == "paid" and staged["e1"]["amount_cents"] == 1200  # later event_time
    assert staged["e2"]["status"] == "paid"  # same time: later lifecycle status
    assert staged["e6"]["event_time"] == dt.datetime(2026, 1, 14, 9, 30)  # version that arrived a day later
    assert staged["e5"]["event_date"] == dt.date(2026, 1, 13)


def test_rejects_are_kept_with_reason_and_detail(spark: Any, ran: tuple[Path, dict[str, Any]]) -> None:
    tmp, _ = ran
    rejects = rows(spark, tmp / "rejects")
    assert {r["processing_date"] for r in rejects} == {DAY}
    by_id = {(r["event_id"], r["reason"]): r["detail"] for r in rejects}
    assert "more than 2 day(s) before" in by_id[("late1", "late")]
    assert "order_id" in by_id[("m1", "malformed")]
    assert "amount_cents is not an integer: 12.5" in by_id[("m2", "malformed")]
    assert "currency" in by_id[("m3", "malformed")]
    assert "event_time is not a timestamp: yesterday" in by_id[("m4", "malformed")]
    assert "status" in by_id[("m5", "malformed")]
    assert "after the processing date" in by_id[("m6", "malformed")]
    unparseable = [r for r in rejects if r["event_id"] is None]
    assert [(r["detail"], r["record"]) for r in unparseable] == [("not a JSON object", "this is not json")]
    superseded = sorted(r["event_id"] for r in rejects if r["reason"] == "superseded")
    assert superseded == ["e1", "e2", "e3", "e6"]
    # Records from other ingest days that are not this window's business are not reported again.
    assert not {"x1", "x2", "x3"} & {r["event_id"] for r in rejects}


def test_pii_is_hashed_by_the_java_udf(spark: Any, ran: tuple[Path, dict[str, Any]]) -> None:
    tmp, _ = ran
    staged = {r["event_id"]: r for r in rows(spark, tmp / "staging")}
    assert "customer_email" not in next(iter(staged.values()))
    assert staged["e1"]["customer_email_hash"] == expected_hash("ada@example.com")
    assert staged["e4"]["customer_email_hash"] == staged["e1"]["customer_email_hash"]  # normalised alike
    assert staged["e5"]["customer_email_hash"] is None
    rejected_records = " ".join(r["record"] or "" for r in rows(spark, tmp / "rejects"))
    assert "ada@example.com" not in rejected_records.lower()
    assert expected_hash("ada@example.com") in rejected_records


def test_amounts_are_converted_to_eur(spark: Any, ran: tuple[Path, dict[str, Any]]) -> None:
    tmp, _ = ran
    staged = {r["event_id"]: r for r in rows(spark, tmp / "staging")}
    assert staged["e4"]["amount_eur"] == Decimal("9.20")
    assert staged["e1"]["amount_eur"] == Decimal("12.00")


def test_same_day_twice_gives_identical_output(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_ORDERS_PII_KEY", KEY)
    scenario(tmp_path / "raw")
    # A partition outside the window, written by an earlier run, must survive untouched.
    outside = tmp_path / "staging" / "event_date=2026-01-01"
    outside.mkdir(parents=True)
    spark.range(1).selectExpr("'old' as event_id").write.parquet(str(outside / "sentinel"))
    before = sorted((p.relative_to(outside), p.read_bytes()) for p in outside.rglob("*") if p.is_file())

    first = run(spark, job_args(tmp_path))
    staged_1, rejects_1 = (
        rows(spark, tmp_path / "staging" / "event_date=2026-01-15"),
        rows(spark, tmp_path / "rejects"),
    )
    second = run(spark, job_args(tmp_path))
    staged_2, rejects_2 = (
        rows(spark, tmp_path / "staging" / "event_date=2026-01-15"),
        rows(spark, tmp_path / "rejects"),
    )

    assert {k: v for k, v in first.items() if k != "duration_seconds"} == {
        k: v for k, v in second.items() if k != "duration_seconds"
    }
    assert staged_1 == staged_2 and rejects_1 == rejects_2
    assert len(list((tmp_path / "staging" / "event_date=2026-01-15").glob("*.parquet"))) == 1
    after = sorted((p.relative_to(outside), p.read_bytes()) for p in outside.rglob("*") if p.is_file())
    assert after == before


def test_rerun_after_input_changes_leaves_nothing_stale(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_ORDERS_PII_KEY", KEY)
    write_day(
        tmp_path / "raw",
        "2026-01-15",
        [ev("a", "2026-01-13T10:00:00Z"), "bad", ev("b", "2026-01-15T10:00:00Z")],
    )
    run(spark, job_args(tmp_path))
    assert (tmp_path / "staging" / "event_date=2026-01-13").is_dir()
    write_day(tmp_path / "raw", "2026-01-15", [ev("b", "2026-01-15T10:00:00Z")])
    metrics = run(spark, job_args(tmp_path))
    assert metrics["records_in"] == 1 and metrics["records_rejected"] == 0
    assert not (tmp_path / "staging" / "event_date=2026-01-13").exists()
    assert not (tmp_path / "rejects" / "processing_date=2026-01-15").exists()
    assert [r["event_id"] for r in rows(spark, tmp_path / "staging")] == ["b"]


def test_sample_data_is_accounted_for(spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_ORDERS_PII_KEY", KEY)
    summary = sample.write_day(tmp_path / "raw", DAY, rows=600, seed=3, lateness_days=2)
    metrics = run(spark, job_args(tmp_path))
    assert metrics["records_in"] == summary.rows == 600
    assert metrics["records_out"] == summary.staged
    assert metrics["rejected_by_reason"] == {
        "malformed": summary.malformed,
        "late": summary.late,
        "superseded": summary.superseded,
    }
    assert metrics["records_deduplicated"] == 0  # orders keeps every superseded version as a reject
    assert summary.malformed and summary.late and summary.superseded


def test_missing_pii_key_is_a_clear_error(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_ORDERS_PII_KEY", raising=False)
    write_day(tmp_path / "raw", "2026-01-15", [ev("a", "2026-01-15T10:00:00Z")])
    with pytest.raises(PiiKeyError, match="TEST_ORDERS_PII_KEY is not set"):
        run(spark, job_args(tmp_path))
    assert not (tmp_path / "staging").exists()


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--date", "2026-13-01", "--input", "i", "--output", "o", "--rejects", "r"], "--date"),
        (["--date", "2026-01-15", "--input", "i", "--output", "o"], "--rejects"),
        (
            [
                "--date",
                "2026-01-15",
                "--input",
                "i",
                "--output",
                "o",
                "--rejects",
                "r",
                "--lateness-days",
                "-1",
            ],
            "--lateness-days",
        ),
        (
            [
                "--date",
                "2026-01-15",
                "--input",
                "i",
                "--output",
                "o",
                "--rejects",
                "r",
                "--output-format",
                "bigquery",
            ],
            "--temp-bucket",
        ),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        job.parse(SPEC, argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err and "Traceback" not in err


def test_outputs_have_the_contract_columns_and_types(spark: Any, ran: tuple[Path, dict[str, Any]]) -> None:
    tmp, _ = ran
    domain = load_domains()["orders"]
    assert_contract_outputs(spark, tmp, domain)


def test_java_udf_and_spark_sql_hash_alike(spark: Any, ran: tuple[Path, dict[str, Any]]) -> None:
    # The customers job hashes in Spark SQL: equal e-mails must give equal hashes in both domains.
    from pyspark.sql import functions as F

    long_key = "k" * 100  # longer than the SHA-256 block: hashed first, in both implementations
    values = ["ada@example.com", "  Ada@Example.COM\t", "émile@exämple.org", "", "   ", None]
    df = spark.createDataFrame([(v,) for v in values], "v string")
    for key in (KEY, long_key):
        got = df.select(
            F.call_function("pii_hash", F.col("v"), F.lit(key)).alias("java"),
            hmac_sha256_hex(F.col("v"), key).alias("sql"),
        ).collect()
        assert [(r.java, r.sql) for r in got] == [
            (h, h) for h in (expected_hash(v, key) if v and v.strip() else None for v in values)
        ]
