"""The dbt project: YAML generated from the contract, parse for BigQuery without credentials, build on
DuckDB over staging parquet (the Spark job's layout), sqlfluff clean."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from contracts.dbt_sync import DBT_DIR, TARGETS, stale_files
from contracts.model import load_contract

REPO = Path(__file__).resolve().parents[2]
DBT = [sys.executable, "-m", "dbt.cli.main"]
VENV_BIN = Path(sys.executable).parent


def test_committed_dbt_yaml_is_generated_from_the_contract() -> None:
    assert stale_files(load_contract()) == []


def test_a_contract_change_makes_the_yaml_stale(tmp_path: Path) -> None:
    shutil.copytree(DBT_DIR, tmp_path / "dbt", ignore=shutil.ignore_patterns("target", "logs"))
    contract = load_contract()
    mart = contract.marts["fct_daily_revenue"]
    changed = contract.model_copy(
        update={
            "marts": {
                **contract.marts,
                "fct_daily_revenue": mart.model_copy(update={"columns": mart.columns[:-1]}),
            }
        }
    )
    assert [p.name for p in stale_files(changed, tmp_path / "dbt")] == ["fct_daily_revenue.yml"]
    assert stale_files(contract, tmp_path / "dbt") == []


def _yaml(path: str) -> dict[str, Any]:
    return yaml.safe_load((DBT_DIR / path).read_text())


def test_raw_source_columns_are_the_contract_event_columns() -> None:
    sources = {s["name"]: s for s in _yaml("models/staging/_sources.yml")["sources"]}
    (table,) = sources["orders_raw"]["tables"]
    contract = load_contract()
    assert table["name"] == contract.event.raw_table
    assert [(c["name"], c["data_type"]) for c in table["columns"]] == [
        (c.name, c.type.lower()) for c in contract.event.columns
    ]


def test_pii_columns_carry_policy_tags_from_vars_only() -> None:
    contract = load_contract()
    for target in (t for t in TARGETS if t.kind == "model"):
        (model,) = [m for m in _yaml(target.path)["models"] if m["name"] == target.name]
        for column, spec in zip(model["columns"], contract.columns(target.section), strict=True):
            expected = [f"{{{{ var('policy_tags')['{spec.pii}'] }}}}"] if spec.pii else None
            assert column.get("policy_tags") == expected, f"{target.name}.{column['name']}"
    for sql_or_yml in (DBT_DIR / "models").rglob("*"):
        if sql_or_yml.is_file():
            assert "/policyTags/" not in sql_or_yml.read_text(), sql_or_yml


def _dbt(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", **env}
    full.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
    return subprocess.run([*DBT, *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=600)


def test_parse_for_bigquery_without_credentials(tmp_path: Path) -> None:
    tags = {
        "PII Email": "projects/p/locations/eu/taxonomies/9/policyTags/1",
        "PII Name": "n",
        "PII Address": "a",
    }
    done = _dbt(
        [
            "parse",
            "--target",
            "staging",
            "--target-path",
            str(tmp_path / "target"),
            "--log-path",
            str(tmp_path / "logs"),
            "--vars",
            json.dumps({"policy_tags": tags}),
        ],
        {"ORDERS_DATASET_MARTS": "orders_marts_staging", "HOME": str(tmp_path)},
        DBT_DIR,
    )
    assert done.returncode == 0, done.stdout[-2000:]
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    clv = manifest["nodes"]["model.orders.customer_lifetime_value"]
    assert clv["config"]["contract"]["enforced"] is True
    assert clv["config"]["persist_docs"] == {"relation": True, "columns": True}
    assert clv["schema"] == "orders_marts_staging"
    assert clv["columns"]["customer_email_hash"]["policy_tags"] == [tags["PII Email"]]
    revenue = manifest["nodes"]["model.orders.fct_daily_revenue"]["config"]
    assert revenue["incremental_strategy"] == "insert_overwrite"
    assert revenue["partition_by"] == {"field": "revenue_date", "data_type": "date", "granularity": "day"}


def _write_staging(warehouse: Path, rows: list[dict[str, Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("event_id", pa.string()),
            ("order_id", pa.string()),
            ("customer_id", pa.string()),
            ("customer_email_hash", pa.string()),
            ("customer_name", pa.string()),
            ("shipping_country", pa.string()),
            ("status", pa.string()),
            ("amount_cents", pa.int64()),
            ("currency", pa.string()),
            ("amount_eur", pa.decimal128(38, 9)),
            ("event_time", pa.timestamp("us", tz="UTC")),
        ]
    )
    by_day: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_day.setdefault(row["event_time"].date().isoformat(), []).append(row)
    for day, day_rows in by_day.items():
        folder = warehouse / "staging" / "orders" / f"event_date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(day_rows, schema=schema), folder / "part-00000.parquet")


def _row(event_id: str, order: str, customer: str, status: str, eur: str, when: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "order_id": order,
        "customer_id": customer,
        "customer_email_hash": "a" * 64,
        "customer_name": "Ada",
        "shipping_country": "GB",
        "status": status,
        "amount_cents": int(Decimal(eur) * 100),
        "currency": "EUR",
        "amount_eur": Decimal(eur),
        "event_time": dt.datetime.fromisoformat(when).replace(tzinfo=dt.UTC),
    }


def _build(project: Path, warehouse: Path, run_date: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    return _dbt(
        [
            "build",
            "--target",
            "local",
            "--target-path",
            str(tmp / "target"),
            "--log-path",
            str(tmp / "logs"),
            "--vars",
            json.dumps({"run_date": run_date}),
        ],
        {"ORDERS_LOCAL_WAREHOUSE": str(warehouse), "HOME": str(tmp)},
        project,
    )


def _query(warehouse: Path, sql: str) -> list[tuple[Any, ...]]:
    import duckdb

    with duckdb.connect(str(warehouse / "orders.duckdb"), read_only=True) as con:
        return con.sql(sql).fetchall()


@pytest.mark.slow
def test_build_on_duckdb_over_staging_parquet(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse"
    _write_staging(
        warehouse,
        [
            _row("e1", "o1", "c1", "paid", "10.50", "2026-01-14T10:00:00"),
            _row("e2", "o2", "c2", "paid", "4.50", "2026-01-15T09:00:00"),
            _row("e3", "o2", "c2", "refunded", "4.50", "2026-01-15T11:00:00"),
            _row("e4", "o3", "c1", "created", "99.00", "2026-01-15T12:00:00"),
        ],
    )
    done = _build(DBT_DIR, warehouse, "2026-01-15", tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "ERROR=0" in done.stdout
    revenue = _query(warehouse, "select * from marts.fct_daily_revenue order by revenue_date")
    assert revenue == [
        (dt.date(2026, 1, 14), 1, 0, 1, Decimal("10.500"), Decimal("0.000"), Decimal("10.500")),
        (dt.date(2026, 1, 15), 1, 1, 1, Decimal("4.500"), Decimal("4.500"), Decimal("0.000")),
    ]
    columns = "customer_id, orders_paid, orders_refunded, lifetime_value_eur"
    clv = _query(warehouse, f"select {columns} from marts.customer_lifetime_value order by 1")
    assert clv == [("c1", 1, 0, Decimal("10.500")), ("c2", 1, 1, Decimal("0.000"))]

    # The next day, incrementally: a late refund for 01-14 lands within the lookback window.
    _write_staging(warehouse, [_row("e5", "o1", "c1", "refunded", "10.50", "2026-01-16T08:00:00")])
    done = _build(DBT_DIR, warehouse, "2026-01-16", tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    days = _query(warehouse, "select revenue_date, net_revenue_eur from marts.fct_daily_revenue order by 1")
    assert days == [
        (dt.date(2026, 1, 14), Decimal("10.500")),
        (dt.date(2026, 1, 15), Decimal("0.000")),
        (dt.date(2026, 1, 16), Decimal("-10.500")),
    ]


@pytest.mark.slow
def test_build_fails_on_data_that_breaks_a_test(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse"
    _write_staging(warehouse, [_row("e1", "o1", "c1", "shipped", "1.00", "2026-01-15T10:00:00")])
    done = _build(DBT_DIR, warehouse, "2026-01-15", tmp_path)
    assert done.returncode != 0
    assert "accepted_values_stg_orders_status" in done.stdout


def test_sqlfluff_is_clean() -> None:
    done = subprocess.run(
        [str(VENV_BIN / "sqlfluff"), "lint", "models", "tests"],
        cwd=DBT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:]
