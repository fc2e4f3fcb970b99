"""The contract -> dbt sync: the committed YAML is what every domain's declaration generates, a new
domain's files are generated without editing the sync, drift is refused naming the file, hand-written
parts survive a rewrite, and bad input is one line with exit code 2."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from contracts.dbt_sync import DBT_DIR, main, orphan_folders, render, staging_model, stale_files
from platform_model import REPO_ROOT
from platform_model.domain import DOMAINS_DIR, load_domains

DOMAINS = load_domains()


def _copy(tmp: Path) -> tuple[Path, Path]:
    domains, dbt = tmp / "domains", tmp / "dbt"
    shutil.copytree(DOMAINS_DIR, domains)
    shutil.copytree(DBT_DIR, dbt, ignore=shutil.ignore_patterns("target", "logs"))
    return domains, dbt


def _args(domains: Path, dbt: Path) -> list[str]:
    return ["--domains-dir", str(domains), "--dbt-dir", str(dbt)]


def _yaml(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def _model(path: Path, name: str) -> dict[str, Any]:
    (model,) = [m for m in _yaml(path)["models"] if m["name"] == name]
    return model


def test_the_committed_dbt_yaml_is_generated_from_the_domains() -> None:
    assert stale_files(DOMAINS) == []
    assert orphan_folders(DOMAINS) == []
    done = subprocess.run(
        [sys.executable, "-m", "contracts.dbt_sync", "--check"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_every_domain_generates_its_own_folder() -> None:
    files = render(DOMAINS)
    for name, domain in DOMAINS.items():
        own = {p.relative_to(DBT_DIR).as_posix() for p in files if p.relative_to(DBT_DIR).parts[1] == name}
        expected = {f"models/{name}/marts/{mart}.yml" for mart in domain.marts}
        if domain.event is not None:
            expected |= {f"models/{name}/_sources.yml", f"models/{name}/staging/{staging_model(domain)}.yml"}
        expected |= {p.relative_to(DBT_DIR).as_posix() for p in (DBT_DIR / "snapshots" / name).glob("*.yml")}
        assert own == expected, name
    assert all(p.read_text().startswith("# The `columns:` lists") for p in files)


def test_columns_types_tests_and_policy_tags_come_from_the_contract() -> None:
    for name, domain in DOMAINS.items():
        for mart_name, mart in domain.marts.items():
            model = _model(DBT_DIR / "models" / name / "marts" / f"{mart_name}.yml", mart_name)
            if mart.description:
                assert model["description"] == mart.description
            for column, spec in zip(model["columns"], mart.columns, strict=True):
                assert (column["name"], column["data_type"]) == (spec.name, spec.type.lower())
                expected_tag = [f"{{{{ var('policy_tags')['{spec.pii}'] }}}}"] if spec.pii else None
                assert column.get("policy_tags") == expected_tag, (mart_name, spec.name)
                required = spec.mode == "REQUIRED"
                assert (column.get("constraints") == [{"type": "not_null"}]) == required, spec.name
                assert ("not_null" in column.get("data_tests", [])) == required, spec.name
                assert all(t in column.get("data_tests", []) for t in spec.tests), spec.name
        if domain.event is None or domain.staging is None:
            continue
        sources = {s["name"]: s for s in _yaml(DBT_DIR / "models" / name / "_sources.yml")["sources"]}
        (raw,) = sources[f"{name}_raw"]["tables"]
        assert raw["name"] == domain.event.raw_table
        assert [(c["name"], c["data_type"]) for c in raw["columns"]] == [
            (c.name, c.type.lower()) for c in domain.event.columns
        ]
        staging = _model(
            DBT_DIR / "models" / name / "staging" / f"{staging_model(domain)}.yml", staging_model(domain)
        )
        assert staging["config"]["materialized"] == "view"
        assert [c["name"] for c in staging["columns"]] == [c.name for c in domain.staging.columns]
        assert all("constraints" not in c for c in staging["columns"])  # a view enforces none


def test_a_snapshot_carries_the_policy_tags_of_what_it_copies() -> None:
    snapshot_file = DBT_DIR / "snapshots" / "customers" / "customers_snapshot.yml"
    (snapshot,) = _yaml(snapshot_file)["snapshots"]
    staging = DOMAINS["customers"].staging
    assert staging is not None
    assert snapshot["relation"] == f"ref('{staging_model(DOMAINS['customers'])}')"
    assert {c["name"]: c.get("policy_tags") for c in snapshot["columns"]} == {
        c.name: [f"{{{{ var('policy_tags')['{c.pii}'] }}}}"] if c.pii else None for c in staging.columns
    }


def test_a_new_domain_gets_its_files_without_editing_the_sync(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    domains, dbt = _copy(tmp_path)
    text = (domains / "customers.yaml").read_text()
    for old, new in (("customers", "suppliers"), ("customer", "supplier"), ("crm-data", "procurement")):
        text = text.replace(old, new)
    (domains / "suppliers.yaml").write_text(text)

    assert main(_args(domains, dbt)) == 1
    out = capsys.readouterr().out
    assert "missing: dbt/models/suppliers/_sources.yml" in out
    assert "missing: dbt/models/suppliers/staging/stg_suppliers.yml" in out
    assert "missing: dbt/models/suppliers/marts/dim_suppliers.yml" in out
    assert "orders" not in out and "customers" not in out  # the other domains are up to date

    assert main(["--write", *_args(domains, dbt)]) == 0
    assert main(_args(domains, dbt)) == 0
    new = load_domains(domains)["suppliers"]
    assert new.event is not None and new.staging is not None
    sources = {s["name"]: s for s in _yaml(dbt / "models" / "suppliers" / "_sources.yml")["sources"]}
    assert sources["suppliers_raw"]["schema"] == "{{ env_var('PLATFORM_DATASET_RAW', 'raw') }}"
    assert sources["suppliers_raw"]["config"]["loaded_at_field"] == "updated_at"
    # The freshness the domain's freshness DAG targets (7200 s): warn after it, error after four.
    assert sources["suppliers_raw"]["config"]["freshness"]["warn_after"] == {"count": 120, "period": "minute"}
    assert sources["suppliers_raw"]["config"]["freshness"]["error_after"] == {
        "count": 480,
        "period": "minute",
    }
    (raw,) = sources["suppliers_raw"]["tables"]
    assert "/raw/suppliers_events/*/*.jsonl" in raw["config"]["meta"]["external_location"]
    tables = {t["name"]: t for t in sources["suppliers_staging"]["tables"]}
    assert sorted(tables) == ["suppliers", "suppliers_rejects"]
    assert "/staging/suppliers/*/*.parquet" in tables["suppliers"]["config"]["meta"]["external_location"]
    staging = _model(dbt / "models" / "suppliers" / "staging" / "stg_suppliers.yml", "stg_suppliers")
    assert staging["config"] == {"materialized": "view"}
    assert [c["name"] for c in staging["columns"]] == [c.name for c in new.staging.columns]
    dim = _model(dbt / "models" / "suppliers" / "marts" / "dim_suppliers.yml", "dim_suppliers")
    assert [c["name"] for c in dim["columns"]] == [c.name for c in new.marts["dim_suppliers"].columns]


def test_drift_is_refused_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    domains, dbt = _copy(tmp_path)
    mart = dbt / "models" / "orders" / "marts" / "fct_daily_revenue.yml"
    mart.write_text(mart.read_text().replace("data_type: numeric", "data_type: float64", 1))
    assert main(_args(domains, dbt)) == 1
    hint = "(run python -m contracts.dbt_sync --write)"
    assert capsys.readouterr().out.splitlines() == [
        f"out of date: dbt/models/orders/marts/fct_daily_revenue.yml {hint}"
    ]

    assert main(["--write", *_args(domains, dbt)]) == 0
    capsys.readouterr()
    # A column dropped from the domain's contract: only the file of that mart is stale.
    orders = domains / "orders.yaml"
    text = orders.read_text()
    line = "      - {name: refunds_eur, type: NUMERIC, mode: REQUIRED, description: Sum of refunds in EUR.}\n"
    assert line in text
    orders.write_text(text.replace(line, ""))
    assert [p.name for p in stale_files(load_domains(domains), dbt)] == ["fct_daily_revenue.yml"]
    assert main(_args(domains, dbt)) == 1
    assert "out of date: dbt/models/orders/marts/fct_daily_revenue.yml" in capsys.readouterr().out


def test_a_rewrite_keeps_what_is_written_by_hand(tmp_path: Path) -> None:
    domains, dbt = _copy(tmp_path)
    before = {
        "stg": _yaml(dbt / "models" / "orders" / "staging" / "stg_orders.yml"),
        "sources": _yaml(dbt / "models" / "orders" / "_sources.yml"),
        "snapshot": _yaml(dbt / "snapshots" / "customers" / "customers_snapshot.yml"),
    }
    for path in (dbt / "models").rglob("*.yml"):
        doc = _yaml(path)
        for entry in doc.get("models", []):
            entry["columns"] = []
        for source in doc.get("sources", []):
            for table in source["tables"]:
                table.pop("columns", None)
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
    snapshot = dbt / "snapshots" / "customers" / "customers_snapshot.yml"
    snapshot.write_text(snapshot.read_text().split("  columns:")[0])
    assert main(["--write", *_args(domains, dbt)]) == 0
    assert main(_args(domains, dbt)) == 0
    assert _yaml(dbt / "models" / "orders" / "staging" / "stg_orders.yml") == before["stg"]  # unit tests kept
    assert _yaml(dbt / "models" / "orders" / "_sources.yml") == before["sources"]  # freshness, locations kept
    assert _yaml(dbt / "snapshots" / "customers" / "customers_snapshot.yml") == before["snapshot"]


def test_a_folder_of_no_domain_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    domains, dbt = _copy(tmp_path)
    (dbt / "models" / "payments").mkdir()
    assert main(_args(domains, dbt)) == 1
    assert capsys.readouterr().out == "no domain: dbt/models/payments/ (there is no domains/payments.yaml)\n"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "contracts.dbt_sync", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_bad_domain_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    domains, dbt = _copy(tmp_path)
    orders = domains / "orders.yaml"
    orders.write_text(orders.read_text().replace("type: NUMERIC", "type: DECIMAL", 1))
    done = _run(*_args(domains, dbt))
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"error: {orders}: staging.columns.9.type: ")


def test_a_broken_dbt_yaml_is_one_line_and_exit_2(tmp_path: Path) -> None:
    domains, dbt = _copy(tmp_path)
    broken = dbt / "models" / "revenue" / "marts" / "fct_revenue_by_segment.yml"
    broken.write_text("models: [\n")
    done = _run("--write", *_args(domains, dbt))
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"error: {broken}:") and "invalid YAML" in line
    broken.write_text("version: 2\nmodels: {fct_revenue_by_segment: {}}\n")
    done = _run(*_args(domains, dbt))
    assert (done.returncode, done.stderr.strip()) == (
        2,
        f"error: {broken}: models: expected a list of mappings",
    )


def test_usage_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    done = _run("--write", "--check")
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr
    done = _run("--dbt-dir", str(tmp_path))
    assert (done.returncode, done.stderr.strip()) == (
        2,
        f"error: {tmp_path}: no dbt_project.yml (--dbt-dir names the dbt project)",
    )
