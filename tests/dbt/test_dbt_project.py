"""The dbt project: laid out by domain, parsed for BigQuery without credentials (contracts, policy tags
and datasets as the domains declare), each domain's selector selecting exactly its nodes, a build of
every domain on DuckDB over the Spark jobs' layout (with the customers' history as SCD type 2), sqlfluff
clean, and nothing shared naming a domain."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from contracts.dbt_sync import DBT_DIR, staging_model
from contracts.dbt_sync import main as sync_main
from platform_model.domain import Domain, Table, load_domains

DBT = [sys.executable, "-m", "dbt.cli.main"]
VENV_BIN = Path(sys.executable).parent
DOMAINS = load_domains()
TAGS = {
    "PII Email": "projects/p/locations/eu/taxonomies/9/policyTags/1",
    "PII Name": "projects/p/locations/eu/taxonomies/9/policyTags/2",
    "PII Address": "projects/p/locations/eu/taxonomies/9/policyTags/3",
}
DATASETS = {
    "PLATFORM_DATASET_RAW": "raw_staging",
    "PLATFORM_DATASET_STAGING": "staging_staging",
    "PLATFORM_DATASET_MARTS": "marts_staging",
}
DAY = dt.date(2026, 1, 14)
LS_JSON = ["--output", "json", "--output-keys", "unique_id", "--quiet"]


def _col(name: str, type_: str, mode: str = "NULLABLE", **extra: str) -> dict[str, str]:
    return {"name": name, "type": type_, "mode": mode, "description": f"The {name}.", **extra}


def _dbt(args: list[str], env: dict[str, str], cwd: Path = DBT_DIR) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", **env}
    full.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
    full.pop("DBT_TARGET", None)
    return subprocess.run([*DBT, *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=600)


def _paths(tmp: Path) -> list[str]:
    return ["--target-path", str(tmp / "target"), "--log-path", str(tmp / "logs")]


def _parse(tmp: Path, project: Path = DBT_DIR) -> dict[str, Any]:
    done = _dbt(
        ["parse", "--target", "staging", *_paths(tmp), "--vars", json.dumps({"policy_tags": TAGS})],
        {**DATASETS, "HOME": str(tmp)},
        project,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    manifest: dict[str, Any] = json.loads((tmp / "target" / "manifest.json").read_text())
    return manifest


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    """The project parsed once for the BigQuery `staging` target, with no credentials at all."""
    tmp = tmp_path_factory.mktemp("parse")
    yield tmp, _parse(tmp)


def _mart_node(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    node: dict[str, Any] = manifest["nodes"][f"model.platform.{name}"]
    return node


# -- parsing for BigQuery -------------------------------------------------------------------------------


def test_marts_parse_with_their_contracts_and_policy_tags(parsed: tuple[Path, dict[str, Any]]) -> None:
    _, manifest = parsed
    for domain in DOMAINS.values():
        for name, mart in domain.marts.items():
            node = _mart_node(manifest, name)
            assert node["original_file_path"] == f"models/{domain.domain}/marts/{name}.sql"
            assert node["config"]["contract"]["enforced"] is True, name
            assert node["config"]["persist_docs"] == {"relation": True, "columns": True}, name
            assert node["schema"] == DATASETS["PLATFORM_DATASET_MARTS"], name
            assert node["config"]["materialized"] in ("table", "incremental"), name
            columns = node["columns"]
            assert list(columns) == [c.name for c in mart.columns], name
            for spec in mart.columns:
                column = columns[spec.name]
                assert column["data_type"] == spec.type.lower(), (name, spec.name)
                assert column.get("policy_tags", []) == ([TAGS[spec.pii]] if spec.pii else []), (
                    name,
                    spec.name,
                )
                not_null = [c["type"] for c in column.get("constraints", [])] == ["not_null"]
                assert not_null == (spec.mode == "REQUIRED"), (name, spec.name)


def test_staging_models_are_views_in_the_staging_dataset(parsed: tuple[Path, dict[str, Any]]) -> None:
    _, manifest = parsed
    for domain in (d for d in DOMAINS.values() if d.staging is not None):
        node = _mart_node(manifest, str(staging_model(domain)))
        assert node["schema"] == DATASETS["PLATFORM_DATASET_STAGING"]
        assert node["config"]["materialized"] == "view"
        assert node["config"]["contract"]["enforced"] is True
        assert {n: c["policy_tags"] for n, c in node["columns"].items() if c.get("policy_tags")} == {
            c.name: [TAGS[c.pii]] for c in domain.staging.columns if c.pii
        }


def test_every_model_sits_in_its_layer_folder(parsed: tuple[Path, dict[str, Any]]) -> None:
    _, manifest = parsed
    models = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]
    assert models
    for node in models:
        _, domain, layer, *_ = node["original_file_path"].split("/")
        assert domain in DOMAINS, node["original_file_path"]
        expected = {"staging": ("staging", {"view"}), "marts": ("marts", {"table", "incremental"})}[layer]
        assert node["schema"] == DATASETS[f"PLATFORM_DATASET_{expected[0].upper()}"], node["name"]
        assert node["config"]["materialized"] in expected[1], node["name"]


def test_the_snapshot_keeps_policy_tags_in_the_marts_dataset(parsed: tuple[Path, dict[str, Any]]) -> None:
    _, manifest = parsed
    snapshot = manifest["nodes"]["snapshot.platform.customers_snapshot"]
    assert snapshot["schema"] == DATASETS["PLATFORM_DATASET_MARTS"]
    assert snapshot["config"]["strategy"] == "timestamp"
    assert snapshot["config"]["persist_docs"] == {"relation": True, "columns": True}
    staging = DOMAINS["customers"].staging
    assert staging is not None
    tagged = {n: c["policy_tags"] for n, c in snapshot["columns"].items() if c.get("policy_tags")}
    assert tagged == {c.name: [TAGS[c.pii]] for c in staging.columns if c.pii}
    assert tagged  # the customers' profile is PII


def test_sources_read_the_environment_datasets_with_freshness(parsed: tuple[Path, dict[str, Any]]) -> None:
    _, manifest = parsed
    sources = manifest["sources"]
    for domain in (d for d in DOMAINS.values() if d.event is not None):
        raw = sources[f"source.platform.{domain.domain}_raw.{domain.event.raw_table}"]
        assert raw["schema"] == DATASETS["PLATFORM_DATASET_RAW"]
        assert [c["name"] for c in raw["columns"].values()] == [c.name for c in domain.event.columns]
        assert raw["freshness"]["error_after"]["count"], domain.domain
        staging = sources[f"source.platform.{domain.domain}_staging.{domain.staging.table}"]
        assert staging["schema"] == DATASETS["PLATFORM_DATASET_STAGING"]
        assert staging["freshness"]["warn_after"]["count"], domain.domain


def test_incremental_marts_replace_day_partitions_on_bigquery(parsed: tuple[Path, dict[str, Any]]) -> None:
    _, manifest = parsed
    incremental = {
        n["name"]: n["config"]
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["config"]["materialized"] == "incremental"
    }
    assert {"fct_daily_revenue", "fct_revenue_by_segment"} <= set(incremental)
    for name, config in incremental.items():
        assert config["incremental_strategy"] == "insert_overwrite", name
        assert config["partition_by"] == {"field": "revenue_date", "data_type": "date", "granularity": "day"}


def test_no_policy_tag_id_is_written_into_the_models() -> None:
    for path in [*(DBT_DIR / "models").rglob("*"), *(DBT_DIR / "snapshots").rglob("*")]:
        if path.is_file():
            assert "/policyTags/" not in path.read_text(), path


def test_shared_files_name_no_domain() -> None:
    shared = [DBT_DIR / "dbt_project.yml", DBT_DIR / "profiles.yml", DBT_DIR / ".sqlfluff"]
    shared += sorted((DBT_DIR / "macros").rglob("*.sql"))
    for path in shared:
        text = path.read_text().lower()
        for name in DOMAINS:
            assert not re.search(rf"\b{name}\b", text), f"{path.name} names domain {name!r}"
    project = yaml.safe_load((DBT_DIR / "dbt_project.yml").read_text())
    assert project["name"] == project["profile"] == "platform"
    assert "platform" in yaml.safe_load((DBT_DIR / "profiles.yml").read_text())


def test_singular_tests_carry_their_domain_name() -> None:
    folders = sorted(p for p in (DBT_DIR / "tests").iterdir() if p.is_dir())
    assert {p.name for p in folders} <= set(DOMAINS)
    for folder in folders:
        for path in folder.rglob("*.sql"):
            assert path.name.startswith(f"assert_{folder.name}_"), path
    assert not list((DBT_DIR / "tests").glob("*.sql")), "singular tests live in their domain's folder"


def test_a_model_outside_a_layer_folder_is_refused(tmp_path: Path) -> None:
    project = tmp_path / "dbt"
    shutil.copytree(DBT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    (project / "models" / "orders" / "loose.sql").write_text("select 1 as one\n")
    done = _dbt(["parse", "--target", "staging", *_paths(tmp_path)], {"HOME": str(tmp_path)}, project)
    assert done.returncode != 0
    assert "models/orders/loose.sql): put it under models/<domain>/staging/ or models/<domain>/marts/" in (
        done.stdout
    )


# -- selectors ------------------------------------------------------------------------------------------


def _home(node: dict[str, Any]) -> str:
    """The domain a node belongs to: the folder under models/, snapshots/ or tests/ it is defined in."""
    return str(node["original_file_path"]).split("/")[1]


def _ls(tmp: Path, select: str) -> set[str]:
    done = _dbt(
        ["ls", "--target", "staging", *_paths(tmp), "--select", *select.split(), *LS_JSON],
        {"HOME": str(tmp)},
    )
    assert done.returncode == 0, done.stdout[-3000:]
    return {json.loads(line)["unique_id"] for line in done.stdout.splitlines() if line.startswith("{")}


@pytest.mark.slow
def test_each_domain_selector_selects_exactly_its_nodes(parsed: tuple[Path, dict[str, Any]]) -> None:
    tmp, manifest = parsed
    every = {**manifest["nodes"], **manifest["sources"], **manifest["unit_tests"]}
    homes = {uid: _home(node) for uid, node in every.items()}
    assert set(homes.values()) == set(DOMAINS)
    selected: dict[str, set[str]] = {}
    for name, domain in DOMAINS.items():
        selected[name] = _ls(tmp, domain.dbt_select)
        assert selected[name] == {uid for uid, home in homes.items() if home == name}, name
    assert set().union(*selected.values()) == set(every)
    # A cross-domain test runs with the mart that combines the domains, not with one of its inputs.
    cross = "test.platform.assert_revenue_segments_add_up_to_orders"
    assert cross in selected["revenue"]
    assert "model.platform.fct_orders" in manifest["nodes"][cross]["depends_on"]["nodes"]


@pytest.mark.slow
def test_a_new_domain_from_files_only_is_parsed_and_selected(tmp_path: Path) -> None:
    domains, project = tmp_path / "domains", tmp_path / "dbt"
    shutil.copytree(DBT_DIR.parent / "domains", domains)
    shutil.copytree(DBT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    (domains / "payments.yaml").write_text(
        yaml.safe_dump(
            {
                "domain": "payments",
                "version": "1.0",
                "owner": "payments-team",
                "description": "Card payments.",
                "spark_jobs": {"payments_clean": {}},
                "dags": {"daily": {"schedule": "0 3 * * *"}},
                "event": {
                    "topic": "payments-events",
                    "raw_table": "payments_events",
                    "columns": [
                        _col("payment_id", "STRING", "REQUIRED"),
                        _col("card_holder", "STRING", pii="PII Name"),
                        _col("paid_at", "TIMESTAMP", "REQUIRED"),
                    ],
                },
                "staging": {
                    "table": "payments",
                    "partition_by": "paid_date",
                    "columns": [
                        _col("payment_id", "STRING", "REQUIRED"),
                        _col("card_holder", "STRING", pii="PII Name"),
                        _col("paid_date", "DATE", "REQUIRED"),
                    ],
                },
                "marts": {
                    "fct_payments_daily": {
                        "description": "Payments per day.",
                        "columns": [
                            _col("paid_date", "DATE", "REQUIRED"),
                            _col("payments", "INT64", "REQUIRED"),
                        ],
                    }
                },
            }
        )
    )
    argv = ["--domains-dir", str(domains), "--dbt-dir", str(project)]
    assert sync_main(["--write", *argv]) == 0
    assert sync_main(argv) == 0
    models = project / "models" / "payments"
    (models / "staging" / "stg_payments.sql").write_text(
        "select payment_id, card_holder, paid_date from {{ source('payments_staging', 'payments') }}\n"
    )
    (models / "marts" / "fct_payments_daily.sql").write_text(
        "select paid_date, cast(count(*) as int64) as payments from {{ ref('stg_payments') }} group by 1\n"
    )
    manifest = _parse(tmp_path, project)
    daily = _mart_node(manifest, "fct_payments_daily")
    assert daily["schema"] == DATASETS["PLATFORM_DATASET_MARTS"]
    assert daily["config"]["contract"]["enforced"] is True
    staging = _mart_node(manifest, "stg_payments")
    assert staging["schema"] == DATASETS["PLATFORM_DATASET_STAGING"]
    assert staging["config"]["materialized"] == "view"
    assert staging["columns"]["card_holder"]["policy_tags"] == [TAGS["PII Name"]]
    assert manifest["sources"]["source.platform.payments_raw.payments_events"]["loaded_at_field"] == "paid_at"

    done = _dbt(
        ["ls", "--target", "staging", *_paths(tmp_path), "--select", "path:models/payments", *LS_JSON],
        {"HOME": str(tmp_path)},
        project,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    selected = {json.loads(line)["unique_id"] for line in done.stdout.splitlines() if line.startswith("{")}
    assert {"model.platform.fct_payments_daily", "model.platform.stg_payments"} <= selected
    assert {uid.split(".")[-1] for uid in selected if "orders" in uid} == set()


# -- building on DuckDB ---------------------------------------------------------------------------------


def _arrow_type(bigquery_type: str) -> Any:
    import pyarrow as pa

    return {
        "STRING": pa.string(),
        "INT64": pa.int64(),
        "NUMERIC": pa.decimal128(38, 9),
        "FLOAT64": pa.float64(),
        "BOOL": pa.bool_(),
        "DATE": pa.date32(),
        "TIMESTAMP": pa.timestamp("us", tz="UTC"),
    }[bigquery_type]


def write_staging(warehouse: Path, table: Table, rows: list[dict[str, Any]]) -> None:
    """Rows into `warehouse/staging/<table>/<partition>=<day>/part-00000.parquet`, typed like the contract
    (the layout and types the Spark job writes; the partition column lives in the folder name)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = [c for c in table.columns if c.name != table.partition_by]
    schema = pa.schema([(c.name, _arrow_type(c.type)) for c in columns])
    by_day: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_day.setdefault(row[table.partition_by].isoformat(), []).append(row)
    for day, day_rows in by_day.items():
        folder = warehouse / "staging" / table.table / f"{table.partition_by}={day}"
        folder.mkdir(parents=True, exist_ok=True)
        body = [{c.name: r.get(c.name) for c in columns} for r in day_rows]
        pq.write_table(pa.Table.from_pylist(body, schema=schema), folder / "part-00000.parquet")


def write_raw(warehouse: Path, domain: Domain, rows: list[dict[str, Any]], day: dt.date) -> None:
    """Events into `warehouse/raw/<raw_table>/ingest_date=<day>/part-00000.jsonl` (the local landing)."""
    assert domain.event is not None
    folder = warehouse / "raw" / domain.event.raw_table / f"ingest_date={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(row, default=lambda v: v.isoformat()) + "\n" for row in rows)
    (folder / "part-00000.jsonl").write_text(text)


def _at(when: str) -> dt.datetime:
    return dt.datetime.fromisoformat(when).replace(tzinfo=dt.UTC)


def order(event_id: str, order_id: str, customer: str, status: str, eur: str, when: str) -> dict[str, Any]:
    """One row of the orders staging table."""
    at = _at(when)
    return {
        "event_id": event_id,
        "order_id": order_id,
        "customer_id": customer,
        "customer_email_hash": "a" * 64,
        "customer_name": "Ada",
        "shipping_country": "GB",
        "status": status,
        "amount_cents": int(Decimal(eur) * 100),
        "currency": "EUR",
        "amount_eur": Decimal(eur),
        "event_time": at,
        "event_date": at.date(),
    }


def profile(event_id: str, customer: str, segment: str, when: str, email: str = "b") -> dict[str, Any]:
    """One row of the customers staging table."""
    at = _at(when)
    return {
        "event_id": event_id,
        "customer_id": customer,
        "email_hash": email * 64,
        "full_name": "Grace Hopper",
        "street_address": "1 Main Street",
        "postal_code": "10115",
        "country": "DE",
        "segment": segment,
        "marketing_opt_in": True,
        "updated_at": at,
        "event_date": at.date(),
    }


def build(
    domains: list[Domain], warehouse: Path, run_date: dt.date, tmp: Path
) -> subprocess.CompletedProcess[str]:
    """`dbt build` of domains as their daily DAGs run it (selector, target, vars, env)."""
    tags = {name: f"local/{name}" for name in TAGS}
    run_vars = {"run_date": run_date.isoformat(), "lookback_days": 3, "policy_tags": tags}
    select = [part for d in domains for part in d.dbt_select.split()]
    return _dbt(
        ["build", "--select", *select, "--target", "local", *_paths(tmp), "--vars", json.dumps(run_vars)],
        {"PLATFORM_LOCAL_WAREHOUSE": str(warehouse), "HOME": str(tmp)},
    )


def query(warehouse: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows of a query on the local warehouse, read-only."""
    import duckdb

    with duckdb.connect(str(warehouse / "warehouse.duckdb"), read_only=True) as con:
        return con.sql(sql).fetchall()


def _build(domains: list[Domain], warehouse: Path, run_date: dt.date, tmp: Path) -> None:
    done = build(domains, warehouse, run_date, tmp)
    assert done.returncode == 0, done.stdout[-4000:]
    assert "ERROR=0" in done.stdout and "WARN=0" in done.stdout, done.stdout[-2000:]


@pytest.mark.slow
def test_build_every_domain_on_duckdb_with_customer_history(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse"
    orders, customers = DOMAINS["orders"], DOMAINS["customers"]
    assert orders.staging is not None and customers.staging is not None
    write_staging(
        warehouse,
        orders.staging,
        [
            order("e0", "o4", "c1", "created", "99.00", "2026-01-14T07:00:00"),
            order("e1", "o1", "c1", "paid", "10.50", "2026-01-14T10:00:00"),
            order("e2", "o2", "c2", "paid", "4.50", "2026-01-14T11:00:00"),
            order("e3", "o3", "c3", "paid", "7.00", "2026-01-14T12:00:00"),
        ],
    )
    write_staging(
        warehouse,
        customers.staging,
        [
            profile("p1", "c1", "consumer", "2026-01-14T08:00:00"),
            profile("p2", "c2", "business", "2026-01-14T09:00:00"),
        ],
    )
    # The first day in one build of every domain (as a backfill would), the next one domain at a time,
    # in the order the daily DAGs' assets schedule them.
    _build(list(DOMAINS.values()), warehouse, DAY, tmp_path)
    segments = "select revenue_date, segment, orders_paid, paying_customers, net_revenue_eur"
    segments += " from marts.fct_revenue_by_segment order by 1, 2"
    assert query(warehouse, segments) == [
        (DAY, "business", 1, 1, Decimal("4.500")),
        (DAY, "consumer", 1, 1, Decimal("10.500")),
        (DAY, "unknown", 1, 1, Decimal("7.000")),  # c3 has no profile
    ]
    assert query(
        warehouse, "select customer_id, segment, is_current from marts.dim_customers order by 1"
    ) == [
        ("c1", "consumer", True),
        ("c2", "business", True),
    ]

    # The next day: c1 becomes vip and pays again; the refund of c1's first order lands in the segment
    # c1 had when paying it.
    write_staging(warehouse, customers.staging, [profile("p3", "c1", "vip", "2026-01-15T09:00:00", "c")])
    write_staging(
        warehouse,
        orders.staging,
        [
            order("e4", "o5", "c1", "paid", "20.00", "2026-01-15T10:00:00"),
            order("e5", "o1", "c1", "refunded", "10.50", "2026-01-15T11:00:00"),
        ],
    )
    for name in ("orders", "customers", "revenue"):
        _build([DOMAINS[name]], warehouse, DAY + dt.timedelta(days=1), tmp_path)
    history = query(
        warehouse,
        "select customer_id, segment, email_hash, valid_from, valid_to, is_current"
        " from marts.dim_customers order by customer_id, valid_from",
    )
    assert history == [
        ("c1", "consumer", "b" * 64, dt.datetime(2026, 1, 14, 8), dt.datetime(2026, 1, 15, 9), False),
        ("c1", "vip", "c" * 64, dt.datetime(2026, 1, 15, 9), None, True),
        ("c2", "business", "b" * 64, dt.datetime(2026, 1, 14, 9), None, True),
    ]
    (versions,) = query(warehouse, "select count(distinct customer_version_id) from marts.dim_customers")
    assert versions == (3,)
    assert query(warehouse, segments) == [
        (DAY, "business", 1, 1, Decimal("4.500")),
        (DAY, "consumer", 1, 1, Decimal("10.500")),
        (DAY, "unknown", 1, 1, Decimal("7.000")),
        (DAY + dt.timedelta(days=1), "consumer", 0, 0, Decimal("-10.500")),
        (DAY + dt.timedelta(days=1), "vip", 1, 1, Decimal("20.000")),
    ]
    daily = query(warehouse, "select revenue_date, net_revenue_eur from marts.fct_daily_revenue order by 1")
    assert daily == [(DAY, Decimal("22.000")), (DAY + dt.timedelta(days=1), Decimal("9.500"))]
    orders_mart = query(
        warehouse, "select order_id, status, paid_at, refunded_at from marts.fct_orders where order_id = 'o1'"
    )
    assert orders_mart == [("o1", "refunded", dt.datetime(2026, 1, 14, 10), dt.datetime(2026, 1, 15, 11))]
    staged = query(
        warehouse,
        "select table_schema, table_type from information_schema.tables where table_name in "
        "('stg_orders', 'stg_customers', 'customers_snapshot') order by table_name",
    )
    assert staged == [("marts", "BASE TABLE"), ("staging", "VIEW"), ("staging", "VIEW")]


@pytest.mark.slow
def test_raw_sources_are_read_from_the_local_landing(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse"
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    for domain in (d for d in DOMAINS.values() if d.event is not None):
        assert domain.event is not None
        row = {c.name: f"x-{c.name}" for c in domain.event.columns if c.type == "STRING"}
        row |= {c.name: now for c in domain.event.columns if c.type == "TIMESTAMP"}
        write_raw(warehouse, domain, [row], now.date())
    selectors = [f"source:{d}_raw" for d, domain in DOMAINS.items() if domain.event is not None]
    done = _dbt(
        ["source", "freshness", "--select", *selectors, "--target", "local", *_paths(tmp_path)],
        {"PLATFORM_LOCAL_WAREHOUSE": str(warehouse), "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert done.stdout.count("PASS freshness of") == len(selectors), done.stdout[-3000:]


@pytest.mark.slow
def test_build_fails_on_data_that_breaks_a_test(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse"
    orders = DOMAINS["orders"]
    assert orders.staging is not None
    write_staging(
        warehouse, orders.staging, [order("e1", "o1", "c1", "shipped", "1.00", "2026-01-15T10:00:00")]
    )
    done = build([orders], warehouse, dt.date(2026, 1, 15), tmp_path)
    assert done.returncode != 0
    assert "accepted_values_stg_orders_status" in done.stdout


def test_sqlfluff_is_clean() -> None:
    done = subprocess.run(
        [str(VENV_BIN / "sqlfluff"), "lint", "models", "snapshots", "tests"],
        cwd=DBT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:]
