"""End to end on the local platform: build the release's artifacts, generate raw events, stage a DAG folder
with a local runtime config (file:// URIs) and run `airflow dags test` (SQLite, temp AIRFLOW_HOME)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from composer.local_run import LocalRunError, RunResult, composer_local_run, main, prepare_local_release

DAY = "2026-01-15"
ROWS = 1000

pytestmark = pytest.mark.slow


def _query(warehouse: Path, sql: str) -> Any:
    import duckdb

    with duckdb.connect(str(warehouse / "orders.duckdb"), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.sql(sql).df()


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_local_release(tmp_path_factory.mktemp("release"), DAY, rows=ROWS)


@pytest.fixture(scope="module")
def first_run(staged: Path) -> RunResult:
    result = composer_local_run(staged, DAY)
    print(f"\norders_daily {DAY}: {result.duration_seconds} s, tasks {result.task_states}")
    for line in result.lines("task_metrics"):
        print(json.dumps(line))
    return result


def test_the_daily_dag_succeeds(first_run: RunResult) -> None:
    assert first_run.success, f"{first_run.task_states}, see {first_run.log_path}"
    assert first_run.task_states == {
        "spark_clean": "success",
        "dbt_build": "success",
        "gx_validate": "success",
    }


def test_spark_metrics_account_for_every_raw_record(first_run: RunResult) -> None:
    spark = first_run.task_metrics("spark_clean")
    assert spark is not None
    assert spark["records_in"] == ROWS
    assert spark["records_in"] == spark["records_out"] + spark["records_rejected"]
    assert spark["records_rejected"] > 0  # the sample holds duplicates, late and malformed records
    assert spark["logical_date"].startswith(DAY) and spark["dag_id"] == "orders_daily"
    for task_id in ("dbt_build", "gx_validate"):
        line = first_run.task_metrics(task_id)
        assert line is not None and line["duration_seconds"] > 0, task_id
    assert first_run.task_metrics("dbt_build")["records_in"] == spark["records_out"]  # type: ignore[index]


def test_marts_match_the_staging_output(first_run: RunResult, staged: Path) -> None:
    import pandas as pd

    warehouse = staged.parent / "data" / "warehouse"
    staging = pd.read_parquet(warehouse / "staging" / "orders")
    staging["event_date"] = pd.to_datetime(staging["event_date"].astype(str)).dt.date
    paid = staging[staging.status == "paid"].groupby("event_date")
    refunded = staging[staging.status == "refunded"].groupby("event_date")
    expected = pd.DataFrame(
        {
            "orders_paid": paid.order_id.nunique(),
            "gross": paid.amount_eur.apply(lambda s: float(sum(s))),
            "refunds": refunded.amount_eur.apply(lambda s: float(sum(s))),
        }
    ).fillna(0)
    marts = _query(warehouse, 'select * from "orders_marts_local".fct_daily_revenue order by revenue_date')
    assert [d.date() if hasattr(d, "date") else d for d in marts.revenue_date] == list(expected.index)
    assert list(marts.orders_paid) == [int(v) for v in expected.orders_paid]
    assert [round(float(v), 2) for v in marts.gross_revenue_eur] == [round(v, 2) for v in expected.gross]
    assert [round(float(v), 2) for v in marts.net_revenue_eur] == [
        round(g - r, 2) for g, r in zip(expected.gross, expected.refunds, strict=True)
    ]
    clv = _query(warehouse, 'select * from "orders_marts_local".customer_lifetime_value')
    assert len(clv) == staging.customer_id.nunique()
    assert clv.customer_email_hash.dropna().str.fullmatch(r"[0-9a-f]{64}").all()


def test_gx_validated_every_suite_and_wrote_data_docs(first_run: RunResult, staged: Path) -> None:
    lines = {line["suite"]: line for line in first_run.lines("gx_validation")}
    assert sorted(lines) == ["customer_lifetime_value", "fct_daily_revenue", "orders_staging"]
    assert all(
        line["success"] and line["unsuccessful"] == 0 and line["evaluated"] > 0 for line in lines.values()
    )
    assert (staged.parent / "data" / "warehouse" / "gx_docs" / DAY / "index.html").is_file()


def test_running_the_same_day_again_changes_nothing(first_run: RunResult, staged: Path) -> None:
    warehouse = staged.parent / "data" / "warehouse"
    before = _query(warehouse, 'select * from "orders_marts_local".fct_daily_revenue order by 1')
    staging_before = sorted(p.name for p in (warehouse / "staging" / "orders").iterdir())
    again = composer_local_run(staged, DAY)
    assert again.success, f"{again.task_states}, see {again.log_path}"
    after = _query(warehouse, 'select * from "orders_marts_local".fct_daily_revenue order by 1')
    assert before.equals(after)
    assert sorted(p.name for p in (warehouse / "staging" / "orders").iterdir()) == staging_before
    keys = ("records_in", "records_out", "records_rejected")
    first, second = first_run.task_metrics("spark_clean"), again.task_metrics("spark_clean")
    assert first and second and {k: first[k] for k in keys} == {k: second[k] for k in keys}


def _write_raw(staged: Path, moment: dt.datetime) -> None:
    folder = staged.parent / "data" / "warehouse" / "raw" / "orders_events" / f"ingest_date={moment.date()}"
    folder.mkdir(parents=True, exist_ok=True)
    record = {"event_id": "fresh-1", "event_time": moment.strftime("%Y-%m-%dT%H:%M:%SZ")}
    (folder / "part-fresh.jsonl").write_text(json.dumps(record) + "\n")


def test_freshness_dag_reports_lag_and_alerts_when_stale(staged: Path, first_run: RunResult) -> None:
    # Only the sample data of 2026-01-15: far older than the 900 s target.
    stale = composer_local_run(staged, DAY, dag_id="orders_freshness")
    assert not stale.success and stale.task_states == {"check_raw_freshness": "failed"}
    (line,) = stale.lines("freshness")
    assert line["fresh"] is False and line["target_seconds"] == 900 and line["lag_seconds"] > 900
    assert [a["task_id"] for a in stale.lines("alert")] == ["check_raw_freshness"]

    _write_raw(staged, dt.datetime.now(dt.UTC) - dt.timedelta(seconds=60))
    fresh = composer_local_run(staged, DAY, dag_id="orders_freshness")
    assert fresh.success, f"{fresh.task_states}, see {fresh.log_path}"
    (line,) = fresh.lines("freshness")
    assert line["fresh"] is True and 0 <= line["lag_seconds"] < 900


def test_bad_arguments_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(LocalRunError, match=r"has no runtime_config\.json"):
        composer_local_run(tmp_path, DAY)
    assert main(["--dag-folder", str(tmp_path), "--date", DAY]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: --dag-folder")
