"""Cross-layer checks: a small two-domain release on which everything agrees, then one fault at a time."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from composer.dag_check import dag_report
from platform_model.environment import load_all
from platform_model.errors import ConfigError, Refused
from platform_model.manifest import COMPONENTS, GitInfo, Manifest, component_digest, file_entry, release_id_of
from platform_model.runtime import render, to_bytes
from policies.crosslayer import CHECKS, Finding, dag_report_key, format_findings, run_checks
from policies.crosslayer.view import load_view
from tests.policies.conftest import FIXTURES

BASE = FIXTURES / "crosslayer"
REPO_ROOT = Path(__file__).resolve().parents[2]
GCP = ("dev", "prod", "staging")


@dataclass
class Tree:
    """A writable copy of the fixture release, its stack and the repository's environments."""

    release: Path
    stacks: Path
    environments: Path

    def run(self, only: str, previous: Path | None = None) -> list[str]:
        findings = run_checks(
            self.release,
            previous=previous,
            environments_dir=self.environments,
            stacks_dir=self.stacks,
            only=[only],
        )
        assert all(isinstance(f, Finding) and f.check == only for f in findings)
        return sorted(str(f) for f in findings)

    def edit_yaml(self, rel: str, change: Callable[[Any], None]) -> None:
        path = self.release / rel
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        change(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")

    def edit_json(self, rel: str, change: Callable[[Any], None]) -> None:
        path = self.release / rel
        data = json.loads(path.read_text(encoding="utf-8"))
        change(data)
        path.write_text(json.dumps(data), encoding="utf-8")

    def edit_stack(self, change: Callable[[dict[str, Any]], None]) -> None:
        path = self.stacks / "dev" / "cdk.tf.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        change(data["resource"])
        path.write_text(json.dumps(data, indent=2), encoding="utf-8")

    def edit_env(self, name: str, change: Callable[[str], str]) -> Path:
        path = self.environments / f"{name}.yaml"
        path.write_text(change(path.read_text(encoding="utf-8")), encoding="utf-8")
        return path

    def only_gcp(self, keep: str) -> None:
        """Leave one GCP environment, so the DAGs are loaded once."""
        for name in GCP:
            if name != keep:
                (self.environments / f"{name}.yaml").unlink()


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    shutil.copytree(BASE / "release", tmp_path / "release")
    shutil.copytree(BASE / "stacks", tmp_path / "stacks")
    shutil.copytree(REPO_ROOT / "environments", tmp_path / "environments")
    return Tree(tmp_path / "release", tmp_path / "stacks", tmp_path / "environments")


def _node(data: Any, kind: str, name: str) -> dict[str, Any]:
    (node,) = [n for n in data[kind] if n["name"] == name]
    return node  # type: ignore[no-any-return]


def _column(columns: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (col,) = [c for c in columns if c["name"] == name]
    return col


def _disable(domain: str) -> Callable[[str], str]:
    return lambda text: text + f"domains:\n  {domain}: {{enabled: false}}\n"


@pytest.mark.slow
def test_the_fixture_release_passes_every_check(tree: Tree) -> None:
    findings = run_checks(tree.release, environments_dir=tree.environments, stacks_dir=tree.stacks)
    assert [str(f) for f in findings] == []


@pytest.mark.slow
def test_the_repository_passes_every_check() -> None:
    findings = run_checks(REPO_ROOT)
    assert format_findings(findings) == []


def test_unknown_check_and_release_without_domains(tree: Tree) -> None:
    with pytest.raises(ConfigError, match=r"--only: unknown check\(s\) nope"):
        run_checks(tree.release, environments_dir=tree.environments, stacks_dir=tree.stacks, only=["nope"])
    shutil.rmtree(tree.release / "domains")
    with pytest.raises(ConfigError, match="domains: no such folder"):
        tree.run("gx-suites")


def test_a_bad_domain_file_is_one_config_error(tree: Tree) -> None:
    tree.edit_yaml("domains/orders.yaml", lambda d: d["event"]["columns"][0].update(type="VARCHAR"))
    with pytest.raises(ConfigError, match=r"orders\.yaml: event\.columns\.0\.type"):
        tree.run("pii-tags")


def test_policies_import_no_deployer_module() -> None:
    code = (
        "import sys, policies.crosslayer, policies.checkov_run, policies.code_scan; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'deployer'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    assert out.stdout.strip() == "[]"


# -- pii-tags --------------------------------------------------------------------------------------

MART = "dbt/models/orders/customer_value.yml"
STG = "dbt/models/orders/stg_orders.yml"


def test_pii_column_without_policy_tag(tree: Tree) -> None:
    tree.edit_yaml(
        MART,
        lambda d: _column(_node(d, "models", "customer_value")["columns"], "customer_email_hash").pop(
            "policy_tags"
        ),
    )
    assert tree.run("pii-tags") == [
        f"{MART}: model customer_value, column customer_email_hash: "
        "PII (PII Email in the contract) but carries no policy tag"
    ]


def test_pii_column_with_the_wrong_tag(tree: Tree) -> None:
    def change(data: Any) -> None:
        _column(_node(data, "models", "stg_orders")["columns"], "customer_email_hash")["policy_tags"] = [
            "{{ var('policy_tags')['PII Name'] }}"
        ]

    tree.edit_yaml(STG, change)
    assert tree.run("pii-tags") == [
        f"{STG}: model stg_orders, column customer_email_hash: "
        "carries 'PII Name' but the contract marks it 'PII Email'"
    ]


def test_tag_no_taxonomy_defines(tree: Tree) -> None:
    def change(data: Any) -> None:
        _column(_node(data, "models", "customer_value")["columns"], "value_eur")["policy_tags"] = [
            '{{ var("policy_tags")["PII Phone"] }}'
        ]

    tree.edit_yaml(MART, change)
    envs = sorted(p.stem for p in tree.environments.glob("*.yaml"))
    assert len(envs) >= 4
    assert tree.run("pii-tags") == sorted(
        f"{MART}: model customer_value, column value_eur: policy tag 'PII Phone' is not in the taxonomy of "
        f"{tree.environments / env}.yaml"
        for env in envs
    )


def test_literal_tag_and_meta_marked_column(tree: Tree) -> None:
    def change(data: Any) -> None:
        columns = _node(data, "models", "customer_value")["columns"]
        _column(columns, "customer_email_hash")["policy_tags"] = [
            "projects/p/locations/eu/taxonomies/1/policyTags/2"
        ]
        _column(columns, "value_eur")["meta"] = {"pii": True}

    tree.edit_yaml(MART, change)
    assert tree.run("pii-tags") == [
        f"{MART}: model customer_value, column customer_email_hash: policy tag "
        "'projects/p/locations/eu/taxonomies/1/policyTags/2' is not referenced by display name "
        "({{ var('policy_tags')['<display name>'] }}), so no environment can resolve it",
        f"{MART}: model customer_value, column value_eur: PII (meta marks it PII) but carries no policy tag",
    ]


def test_taxonomy_of_one_environment_lacks_a_tag(tree: Tree) -> None:
    staging = tree.edit_env(
        "staging", lambda t: "\n".join(ln for ln in t.splitlines() if "PII Email" not in ln) + "\n"
    )
    missing = f"policy tag 'PII Email' is not in the taxonomy of {staging}"
    assert tree.run("pii-tags") == sorted(
        [
            f"domains/orders.yaml: event.columns.customer_email.pii: {missing}",
            f"domains/orders.yaml: staging.columns.customer_email_hash.pii: {missing}",
            f"domains/orders.yaml: marts.customer_value.columns.customer_email_hash.pii: {missing}",
            f"{MART}: model customer_value, column customer_email_hash: {missing}",
            f"{STG}: model stg_orders, column customer_email_hash: {missing}",
        ]
    )


def test_a_domain_switched_off_needs_no_tag_of_that_environment(tree: Tree) -> None:
    def no_name_tag(text: str) -> str:
        return "\n".join(ln for ln in text.splitlines() if "PII Name" not in ln) + "\n"

    tree.edit_env("prod", no_name_tag)
    assert len(tree.run("pii-tags")) == 4  # customers' contract (3 columns) and its mart need PII Name
    tree.edit_env("prod", _disable("customers"))
    assert tree.run("pii-tags") == []


# -- spark-artifacts -------------------------------------------------------------------------------


def test_domain_job_missing_from_jobs_json(tree: Tree) -> None:
    tree.edit_json("jobs/jobs.json", lambda d: d["jobs"].pop("customers_clean"))
    assert tree.run("spark-artifacts") == [
        "dags/: not loaded with Airflow: no runtime config renders while a declared job is missing "
        "from jobs/jobs.json",
        "domains/customers.yaml: spark_jobs.customers_clean: not in jobs/jobs.json of the release "
        "(it has: orders_clean)",
    ]


def test_built_job_that_differs_from_its_declaration(tree: Tree) -> None:
    def change(data: Any) -> None:
        data["jobs"]["orders_clean"].update(py_files=["shared.zip"], jars=[], connectors=["spark-kafka"])

    tree.edit_json("jobs/jobs.json", change)
    findings = tree.run("spark-artifacts")
    assert findings[:3] == [
        "domains/orders.yaml: spark_jobs.orders_clean.connectors: spark-bigquery is not a connector of "
        "jobs/jobs.json",
        "domains/orders.yaml: spark_jobs.orders_clean.jars: orders-udfs.jar is not a jar of jobs/jobs.json",
        "domains/orders.yaml: spark_jobs.orders_clean: jobs/jobs.json ships ['shared.zip'], not the package "
        "orders.zip",
    ]
    # The connector no environment defines stops the runtime config of every GCP environment.
    renders = findings[3:]
    assert [f.split(":")[1].strip() for f in renders] == [
        f"cannot render the runtime config of {e}" for e in GCP
    ]
    assert all("needs connector 'spark-kafka', which dataproc.connectors of" in f for f in renders)


def test_no_gcp_environment_to_load_the_dags_for(tree: Tree) -> None:
    for name in GCP:
        (tree.environments / f"{name}.yaml").unlink()
    assert tree.run("spark-artifacts") == [f"{tree.environments}/: no gcp environment to load the DAGs for"]


@pytest.mark.slow
def test_dag_referencing_artifacts_the_release_lacks(tree: Tree) -> None:
    tree.only_gcp("dev")
    tree.edit_json("jobs/jobs.json", lambda d: d["jobs"]["orders_clean"]["jars"].append("missing.jar"))
    tree.edit_json(
        "jobs/jobs.json",
        lambda d: d["jobs"].update(
            unused={"main": "unused.py", "py_files": [], "jars": [], "connectors": []}
        ),
    )
    (tree.release / "jobs" / "unused.py").write_text("print('never run')\n", encoding="utf-8")
    (tree.release / "jobs" / "orphan.jar").write_text("jar\n", encoding="utf-8")
    dag = tree.release / "dags" / "customers.py"
    dag.write_text(
        dag.read_text(encoding="utf-8").replace(
            'domain_dags("customers", globals())',
            'domain_dags("customers", globals(), extra_jars=("gs://someone-else/tools.jar",))',
        )
    )
    assert tree.run("spark-artifacts") == [
        "dags/customers.py: DAG customers_daily, task customers_clean: pyspark_job.jar_file_uris is "
        "gs://someone-else/tools.jar, which is neither a release artifact nor a connector of dev",
        "dags/orders.py: DAG orders_daily, task orders_clean: pyspark_job.jar_file_uris is jobs/missing.jar, "
        "which the release does not contain",
        "jobs/jobs.json: job 'unused' is run by no DAG task",
        "jobs/orphan.jar: in the release, but no DAG task uses it",
        "jobs/unused.py: in the release, but no DAG task uses it",
    ]


@pytest.mark.slow
def test_dag_file_that_does_not_load_and_a_declared_dag_no_file_defines(tree: Tree) -> None:
    tree.only_gcp("prod")
    dag = tree.release / "dags" / "customers.py"
    dag.write_text(dag.read_text(encoding="utf-8").replace('"customers"', '"client"'))  # declares nothing
    (tree.release / "dags" / "orders.py").write_text(
        '"""The orders domain\'s DAGs (airflow DAG file), with a typo."""\n\n'
        "from fixture_lib import domain_dags\n\n"
        "raise RuntimeError('broken on purpose')\n",
        encoding="utf-8",
    )
    findings = tree.run("spark-artifacts")
    assert (
        "dags/orders.py: does not load with the runtime config of prod: RuntimeError: broken on purpose"
        in findings
    )
    assert (
        "domains/customers.yaml: dags.daily: no DAG file of the release defines DAG customers_daily "
        "(loaded with the runtime config of prod)"
    ) in findings
    assert not any("orders_daily" in f for f in findings)  # its file does not load: said once, above
    assert "jobs/jobs.json: job 'customers_clean' is run by no DAG task" in findings


@pytest.mark.slow
def test_the_dags_are_loaded_for_every_gcp_environment(tree: Tree) -> None:
    # customers runs in dev and staging only (prod switches it off): what its DAG does there counts.
    tree.edit_env("prod", _disable("customers"))
    tree.edit_json("jobs/jobs.json", lambda d: d["jobs"]["orders_clean"]["jars"].append("missing.jar"))
    dag = tree.release / "dags" / "customers.py"
    dag.write_text(
        dag.read_text(encoding="utf-8").replace("globals())", 'globals(), extra_jars=("gs://x/y.jar",))')
    )
    assert tree.run("spark-artifacts") == [
        "dags/customers.py: DAG customers_daily, task customers_clean: pyspark_job.jar_file_uris is "
        "gs://x/y.jar, which is neither a release artifact nor a connector of dev, staging",
        "dags/orders.py: DAG orders_daily, task orders_clean: pyspark_job.jar_file_uris is jobs/missing.jar, "
        "which the release does not contain",
    ]


# -- gx-suites -------------------------------------------------------------------------------------


def test_declared_suite_missing_and_undeclared_suite(tree: Tree) -> None:
    suites = tree.release / "gx" / "expectations"
    (suites / "orders" / "orders_staging.json").rename(suites / "orders" / "orders_daily.json")
    assert tree.run("gx-suites") == [
        "domains/orders.yaml: gx_suites.orders_staging: gx/expectations/orders/orders_staging.json is not in "
        "the release",
        "gx/expectations/orders/orders_daily.json: not declared in domains/orders.yaml (gx_suites), "
        "so no DAG validates it",
    ]


def test_suite_that_is_not_one(tree: Tree) -> None:
    suites = tree.release / "gx" / "expectations"
    (suites / "orders" / "orders_staging.json").write_text("{not json", encoding="utf-8")
    (suites / "customers" / "dim_customers.json").write_text('{"name": "customers_dim"}', encoding="utf-8")
    assert tree.run("gx-suites") == [
        "gx/expectations/customers/dim_customers.json: names itself 'customers_dim', not 'dim_customers'",
        "gx/expectations/orders/orders_staging.json: is not valid JSON",
    ]


# -- dbt-selectors ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_selector_that_selects_nothing(tree: Tree) -> None:
    tree.edit_yaml("domains/customers.yaml", lambda d: d.update(dbt={"select": "path:models/crm"}))
    assert tree.run("dbt-selectors") == [
        "domains/customers.yaml: dbt.select: 'path:models/crm' selects no model of the release's dbt project",
        "domains/customers.yaml: marts.dim_customers: 'path:models/crm' (dbt.select) does not select model "
        "dim_customers, so no DAG of the domain builds it",
    ]


@pytest.mark.slow
def test_selectors_that_overlap_or_that_dbt_refuses(tree: Tree) -> None:
    tree.edit_yaml("domains/orders.yaml", lambda d: d.update(dbt={"select": "path:models"}))
    findings = tree.run("dbt-selectors")
    assert findings == [
        "domains/orders.yaml: dbt.select: selects model dim_customers, which domain 'customers' selects too "
        "(two DAGs would build it)"
    ]
    tree.edit_yaml("domains/orders.yaml", lambda d: d.update(dbt={"select": "nosuchmethod:x"}))
    (finding,) = tree.run("dbt-selectors")
    assert finding.startswith("domains/orders.yaml: dbt.select: 'nosuchmethod:x' is refused by dbt: ")


@pytest.mark.slow
def test_dbt_project_that_does_not_parse(tree: Tree) -> None:
    (tree.release / "dbt" / "models" / "orders" / "stg_orders.sql").write_text(
        "select * from {{ ref('nowhere') }}\n", encoding="utf-8"
    )
    (finding,) = tree.run("dbt-selectors")
    assert finding.startswith("dbt/: dbt cannot parse the project: ")
    assert "nowhere" in finding


# -- contract-evolution ----------------------------------------------------------------------------

CONTRACT = "domains/orders.yaml"


def _previous_release(tree: Tree) -> tuple[Path, str]:
    """A built release holding the fixture's (unchanged) domain files, laid out as a release build does."""
    files = {
        p.relative_to(BASE / "release").as_posix(): p.read_bytes()
        for p in (BASE / "release" / "domains").glob("*")
    }
    entries = [file_entry(rel, data) for rel, data in sorted(files.items())]
    manifest = Manifest(
        release=release_id_of(entries),
        created="2026-01-01T00:00:00Z",
        builder="test",
        git=GitInfo(commit=None, dirty=None),
        components={
            c: component_digest([e for e in entries if e.path.startswith(c + "/")], c) for c in COMPONENTS
        },
        files=entries,
    )
    folder = tree.release.parent / "previous"
    for rel, data in files.items():
        (folder / "files" / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / "files" / rel).write_bytes(data)
    (folder / "manifest.json").write_bytes(manifest.to_bytes())
    return folder / "manifest.json", manifest.release


def _edit_contract(tree: Tree, change: Callable[[Any], None], version: str | None = None) -> None:
    def edit(data: Any) -> None:
        change(data)
        if version is not None:
            data["version"] = version

    tree.edit_yaml(CONTRACT, edit)


def _migration(tree: Tree, version: str, path: str = "dbt/models/orders/migrations/orders_v2.sql") -> None:
    """Name a migration in the contract and ship its file in the release."""
    _edit_contract(tree, lambda d: d.update(migration={"to_version": version, "path": path}), version=version)
    target = tree.release / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("select 1 as migrated\n", encoding="utf-8")


def _drop(section: str, column: str) -> Callable[[Any], None]:
    def change(data: Any) -> None:
        data[section]["columns"] = [c for c in data[section]["columns"] if c["name"] != column]

    return change


BUMP = "bump the major version (live 1.0) and declare the migration (migration: {to_version, path})"


def test_unchanged_contract_passes_and_a_minor_bump_is_fine(tree: Tree) -> None:
    previous, _ = _previous_release(tree)
    assert tree.run("contract-evolution", previous) == []
    _edit_contract(tree, lambda d: None, version="1.1")
    assert tree.run("contract-evolution", previous) == []


def test_removed_column_is_refused_without_migration(tree: Tree) -> None:
    previous, rid = _previous_release(tree)
    _edit_contract(tree, _drop("staging", "amount_cents"))
    assert tree.run("contract-evolution", previous) == [
        f"{CONTRACT}: staging.amount_cents: column removed (or renamed) (breaking) refused: {BUMP} "
        f"(since {rid})"
    ]


def test_removed_column_passes_with_major_bump_and_migration(tree: Tree) -> None:
    previous, _ = _previous_release(tree)
    _edit_contract(tree, _drop("staging", "amount_cents"))
    _migration(tree, "2.0")
    assert tree.run("contract-evolution", previous) == []


def test_migration_named_but_not_shipped(tree: Tree) -> None:
    previous, rid = _previous_release(tree)
    _edit_contract(tree, _drop("staging", "amount_cents"))
    _migration(tree, "2.0")
    (tree.release / "dbt/models/orders/migrations/orders_v2.sql").unlink()
    assert tree.run("contract-evolution", previous) == [
        f"{CONTRACT}: migration.path: dbt/models/orders/migrations/orders_v2.sql is not in the release "
        f"(the migration to 2.0 must ship with it) (since {rid})"
    ]


def test_migration_without_major_bump_does_not_count(tree: Tree) -> None:
    previous, _ = _previous_release(tree)
    _edit_contract(tree, _drop("staging", "amount_cents"))
    _migration(tree, "1.1")
    assert len(tree.run("contract-evolution", previous)) == 1


def test_renamed_widened_and_retyped_columns(tree: Tree) -> None:
    previous, rid = _previous_release(tree)

    def change(data: Any) -> None:
        for col in data["event"]["columns"]:
            if col["name"] == "event_id":
                col["name"] = "id"
            if col["name"] == "amount_cents":
                col["type"] = "NUMERIC"  # a widening BigQuery does in place
            if col["name"] == "event_time":
                col["type"] = "DATE"

    _edit_contract(tree, change)
    assert tree.run("contract-evolution", previous) == [
        f"{CONTRACT}: event.event_id: column removed (or renamed) (breaking) refused: {BUMP} (since {rid})",
        f"{CONTRACT}: event.event_time: type TIMESTAMP -> DATE (breaking) refused: {BUMP} (since {rid})",
        f"{CONTRACT}: event.id: REQUIRED column added (breaking) refused: {BUMP} (since {rid})",
    ]
    _migration(tree, "2.0")
    assert tree.run("contract-evolution", previous) == []


def test_added_columns_and_mode_changes(tree: Tree) -> None:
    previous, rid = _previous_release(tree)

    def add(mode: str) -> Callable[[Any], None]:
        return lambda d: d["staging"]["columns"].append(
            {"name": "coupon", "type": "STRING", "mode": mode, "description": "x"}
        )

    _edit_contract(tree, add("NULLABLE"))
    assert tree.run("contract-evolution", previous) == []
    _edit_contract(tree, _drop("staging", "coupon"))

    def modes(data: Any) -> None:
        add("REQUIRED")(data)
        for col in data["event"]["columns"]:
            if col["name"] == "customer_email":
                col["mode"] = "REQUIRED"  # tightening: existing rows may be null
            if col["name"] == "amount_cents":
                col["mode"] = "NULLABLE"  # relaxing: what BigQuery allows in place

    _edit_contract(tree, modes)
    assert tree.run("contract-evolution", previous) == [
        f"{CONTRACT}: event.customer_email: mode NULLABLE -> REQUIRED (breaking) refused: {BUMP} "
        f"(since {rid})",
        f"{CONTRACT}: staging.coupon: REQUIRED column added (breaking) refused: {BUMP} (since {rid})",
    ]


def test_dropped_pii_tag_is_breaking(tree: Tree) -> None:
    previous, rid = _previous_release(tree)
    _edit_contract(tree, lambda d: d["marts"]["customer_value"]["columns"][0].pop("pii"))
    assert tree.run("contract-evolution", previous) == [
        f"{CONTRACT}: marts.customer_value.customer_email_hash: PII tag 'PII Email' removed (breaking) "
        f"refused: {BUMP} (since {rid})"
    ]


def test_version_down_and_removed_domain(tree: Tree) -> None:
    previous, rid = _previous_release(tree)
    (tree.release / "domains" / "customers.yaml").unlink()
    _edit_contract(tree, lambda d: None, version="0.9")
    findings = tree.run("contract-evolution", previous)
    assert findings[0].startswith("domains/customers.yaml: the domain is live but the release drops it")
    assert f"{CONTRACT}: version: goes down from 1.0 to 0.9 (since {rid})" in findings


def test_tampered_or_missing_previous_release(tree: Tree) -> None:
    previous, _ = _previous_release(tree)
    (previous.parent / "files" / CONTRACT).write_text("domain: orders\nversion: '1.0'\n", encoding="utf-8")
    with pytest.raises(Refused):
        tree.run("contract-evolution", previous)
    with pytest.raises(ConfigError, match=r"is not a manifest\.json nor a release folder"):
        tree.run("contract-evolution", tree.release / "nowhere")


# -- schema-agreement ------------------------------------------------------------------------------


def _stack_line(tree: Tree, message: str) -> str:
    return f"{tree.stacks / 'dev' / 'cdk.tf.json'}: {message}"


def test_pubsub_schema_disagrees(tree: Tree) -> None:
    def change(resources: dict[str, Any]) -> None:
        schema = resources["google_pubsub_schema"]["schema_orders"]
        avro = json.loads(schema["definition"])
        avro["fields"][2]["type"] = "string"  # amount_cents
        avro["fields"][1]["type"] = "string"  # customer_email loses its null
        schema["definition"] = json.dumps(avro)

    tree.edit_stack(change)
    source = "the contract (domains/orders.yaml event)"
    assert tree.run("schema-agreement") == [
        _stack_line(
            tree,
            f"Pub/Sub schema of topic orders-events: column amount_cents is avro string/None, "
            f"{source} says INT64",
        ),
        _stack_line(
            tree,
            f"Pub/Sub schema of topic orders-events: column customer_email is REQUIRED, "
            f"{source} says NULLABLE",
        ),
    ]


def test_topic_without_schema_and_missing_topic(tree: Tree) -> None:
    def change(resources: dict[str, Any]) -> None:
        resources["google_pubsub_topic"]["topic_orders"].pop("schema_settings")
        resources["google_pubsub_topic"].pop("topic_customers")

    tree.edit_stack(change)
    assert tree.run("schema-agreement") == [
        _stack_line(tree, "no Pub/Sub topic customers-events (the contract (domains/customers.yaml event))"),
        _stack_line(tree, "topic orders-events enforces no schema of the stack"),
    ]


def test_raw_and_staging_tables_disagree(tree: Tree) -> None:
    def change(resources: dict[str, Any]) -> None:
        raw = resources["google_bigquery_table"]["raw_orders_events"]
        schema = json.loads(raw["schema"])
        schema[1].pop("policyTags")  # customer_email
        schema[2]["mode"] = "NULLABLE"  # amount_cents
        raw["schema"] = json.dumps(schema[:3])  # event_time dropped
        staging = resources["google_bigquery_table"]["staging_customers"]
        staging["time_partitioning"]["field"] = "customer_id"
        resources["google_bigquery_table"].pop("staging_orders_rejects")

    tree.edit_stack(change)
    source = "the contract (domains/orders.yaml event)"
    assert tree.run("schema-agreement") == [
        _stack_line(tree, "no table staging_dev.orders_rejects (the contract (domains/orders.yaml rejects))"),
        _stack_line(
            tree,
            "table customers: partitioned by customer_id, the contract (domains/customers.yaml staging) "
            "says event_date",
        ),
        _stack_line(tree, f"table orders_events: column amount_cents is NULLABLE, {source} says REQUIRED"),
        _stack_line(tree, "table orders_events: column customer_email lacks policy tag 'PII Email'"),
        _stack_line(tree, f"table orders_events: lacks column event_time of {source}"),
    ]


def test_tables_in_another_dataset_do_not_count(tree: Tree) -> None:
    tree.edit_stack(
        lambda r: r["google_bigquery_dataset"]["dataset_staging"].update(dataset_id="orders_staging_dev")
    )
    assert tree.run("schema-agreement") == sorted(
        _stack_line(tree, f"no table staging_dev.{table} (the contract (domains/{domain}.yaml {section}))")
        for table, domain, section in (
            ("customers", "customers", "staging"),
            ("orders", "orders", "staging"),
            ("orders_rejects", "orders", "rejects"),
        )
    )


def test_a_domain_its_environment_switches_off_needs_no_resources(tree: Tree) -> None:
    def drop_customers(resources: dict[str, Any]) -> None:
        for rtype, name in (
            ("google_pubsub_topic", "topic_customers"),
            ("google_bigquery_table", "raw_customers_events"),
            ("google_bigquery_table", "staging_customers"),
        ):
            resources[rtype].pop(name)

    tree.edit_stack(drop_customers)
    assert len(tree.run("schema-agreement")) == 3
    tree.edit_env("dev", _disable("customers"))
    assert tree.run("schema-agreement") == []


def test_dbt_sources_and_models_disagree(tree: Tree) -> None:
    def sources(data: Any) -> None:
        raw = data["sources"][0]["tables"][0]["columns"]
        _column(raw, "amount_cents")["data_type"] = "string"
        raw.append({"name": "extra", "data_type": "string"})

    tree.edit_yaml("dbt/models/orders/_sources.yml", sources)
    (tree.release / MART).unlink()
    source = "the contract (domains/orders.yaml event)"
    assert tree.run("schema-agreement") == [
        f"dbt/models/orders/_sources.yml: source table orders_events: column amount_cents is STRING, "
        f"{source} says INT64",
        f"dbt/models/orders/_sources.yml: source table orders_events: column extra is not in {source}",
        f"{CONTRACT}: marts.customer_value: the dbt project has no model customer_value",
    ]


def test_format_findings_groups_by_check() -> None:
    findings = [
        Finding("schema-agreement", "b.yml", "two"),
        Finding("pii-tags", "z.yml", "one"),
        Finding("gx-suites", "a.json", "three"),
    ]
    assert format_findings(findings) == [
        "[pii-tags] z.yml: one",
        "[gx-suites] a.json: three",
        "[schema-agreement] b.yml: two",
    ]
    assert set(CHECKS) >= {f.check for f in findings}


@pytest.mark.slow
def test_spark_artifacts_reuses_the_dag_loads_it_is_given(tree: Tree) -> None:
    """Inside a release build the check reads the build's DagBag loads (same folder, same runtime config)
    instead of loading the DAGs again; a load of another runtime config is not taken for it."""
    tree.only_gcp("dev")
    config = tree.release.parent / "dev-runtime" / "runtime_config.json"
    config.parent.mkdir()
    # the rendered runtime config, as the build writes it (render is the one renderer)
    view = load_view(tree.release, None, load_all(tree.environments), tree.environments)
    env = view.envs["dev"]
    config.write_bytes(
        to_bytes(
            render(
                env,
                view.manifest,
                view.read,
                artifacts_bucket=env.buckets.artifacts.name,
                policy_tags=env.local_policy_tag_ids(),
            )
        )
    )
    key = dag_report_key(tree.release / "dags", config.read_bytes())
    report = dag_report(tree.release / "dags", runtime_config=config)
    task = report["dags"]["orders_daily"]["tasks"]["orders_clean"]
    task["rendered_job"]["pyspark_job"]["jar_file_uris"].append("gs://handed-in/by-the-build.jar")

    def run(reports: dict[str, Any]) -> list[str]:
        return sorted(
            str(f)
            for f in run_checks(
                tree.release,
                environments_dir=tree.environments,
                stacks_dir=tree.stacks,
                only=["spark-artifacts"],
                dag_reports=reports,
            )
        )

    assert run({key: report}) == [
        "dags/orders.py: DAG orders_daily, task orders_clean: pyspark_job.jar_file_uris is "
        "gs://handed-in/by-the-build.jar, which is neither a release artifact nor a connector of dev"
    ]
    assert run({"another runtime config": report}) == []  # loaded by the check itself: all agree
