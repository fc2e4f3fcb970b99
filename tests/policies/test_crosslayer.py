"""Cross-layer checks: a small release on which everything agrees, then one thing broken at a time."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from deployer.errors import ConfigError, Refused
from deployer.release import GitInfo, Manifest, component_digest, file_entry, release_id_of
from policies.crosslayer import Finding, run_checks
from tests.policies.conftest import FIXTURES

BASE = FIXTURES / "crosslayer"
REPO_ROOT = Path(__file__).resolve().parents[2]
ENVS = ("dev", "local", "local-prod", "prod", "staging")


@dataclass
class Tree:
    """A writable copy of the fixture release and stacks."""

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

    def edit_stack(self, change: Callable[[dict[str, Any]], None]) -> None:
        path = self.stacks / "dev" / "cdk.tf.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        change(data["resource"])
        path.write_text(json.dumps(data, indent=2), encoding="utf-8")


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    shutil.copytree(BASE / "release", tmp_path / "release")
    shutil.copytree(BASE / "stacks", tmp_path / "stacks")
    shutil.copytree(REPO_ROOT / "environments", tmp_path / "environments")
    return Tree(tmp_path / "release", tmp_path / "stacks", tmp_path / "environments")


def _columns(data: Any, model: str) -> list[dict[str, Any]]:
    (node,) = [m for m in data["models"] if m["name"] == model]
    columns: list[dict[str, Any]] = node["columns"]
    return columns


def _column(columns: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (col,) = [c for c in columns if c["name"] == name]
    return col


@pytest.mark.slow
def test_the_fixture_release_passes_every_check(tree: Tree) -> None:
    assert run_checks(tree.release, environments_dir=tree.environments, stacks_dir=tree.stacks) == []


@pytest.mark.slow
def test_the_repository_passes_every_check() -> None:
    findings = run_checks(REPO_ROOT)
    assert [str(f) for f in findings] == []


# -- pii-tags --------------------------------------------------------------------------------------

MART = "dbt/models/marts/customer_value.yml"
STG = "dbt/models/staging/stg_orders.yml"


def test_pii_column_without_policy_tag(tree: Tree) -> None:
    tree.edit_yaml(
        MART, lambda d: _column(_columns(d, "customer_value"), "customer_email_hash").pop("policy_tags")
    )
    assert tree.run("pii-tags") == [
        f"{MART}: model customer_value, column customer_email_hash: "
        "PII (PII Email in the contract) but carries no policy tag"
    ]


def test_pii_column_with_the_wrong_tag(tree: Tree) -> None:
    def change(data: Any) -> None:
        _column(_columns(data, "stg_orders"), "customer_email_hash")["policy_tags"] = [
            "{{ var('policy_tags')['PII Name'] }}"
        ]

    tree.edit_yaml(STG, change)
    assert tree.run("pii-tags") == [
        f"{STG}: model stg_orders, column customer_email_hash: "
        "carries 'PII Name' but the contract marks it 'PII Email'"
    ]


def test_tag_no_taxonomy_defines(tree: Tree) -> None:
    def change(data: Any) -> None:
        _column(_columns(data, "customer_value"), "value_eur")["policy_tags"] = [
            '{{ var("policy_tags")["PII Phone"] }}'
        ]

    tree.edit_yaml(MART, change)
    assert tree.run("pii-tags") == sorted(
        f"{MART}: model customer_value, column value_eur: policy tag 'PII Phone' is not in the taxonomy of "
        f"{tree.environments / env}.yaml"
        for env in ENVS
    )


def test_literal_tag_and_meta_marked_column(tree: Tree) -> None:
    def change(data: Any) -> None:
        columns = _columns(data, "customer_value")
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
    staging = tree.environments / "staging.yaml"
    text = staging.read_text(encoding="utf-8")
    staging.write_text(
        "\n".join(ln for ln in text.splitlines() if "PII Email" not in ln) + "\n", encoding="utf-8"
    )
    missing = f"policy tag 'PII Email' is not in the taxonomy of {staging}"
    assert tree.run("pii-tags") == sorted(
        [
            f"contracts/orders.yaml: event.customer_email: {missing}",
            f"contracts/orders.yaml: staging.customer_email_hash: {missing}",
            f"contracts/orders.yaml: marts.customer_value.customer_email_hash: {missing}",
            f"{MART}: model customer_value, column customer_email_hash: {missing}",
            f"{STG}: model stg_orders, column customer_email_hash: {missing}",
        ]
    )


# -- spark-artifacts -------------------------------------------------------------------------------

DAG = "dags/clean_daily.py"


@pytest.mark.slow
def test_dag_referencing_a_job_the_release_lacks(tree: Tree) -> None:
    dag = tree.release / DAG
    dag.write_text(dag.read_text(encoding="utf-8").replace('SPARK_JOB = "clean"', 'SPARK_JOB = "enrich"'))
    assert tree.run("spark-artifacts") == [
        f"{DAG}: does not load with the runtime config of dev: KeyError: 'enrich'",
        "jobs/clean.py: in the release, but no DAG task uses it",
        "jobs/jobs.json: job 'clean' is run by no DAG task",
        "jobs/lib.zip: in the release, but no DAG task uses it",
        "jobs/udf.jar: in the release, but no DAG task uses it",
    ]


@pytest.mark.slow
def test_artifacts_missing_foreign_and_unused(tree: Tree) -> None:
    jobs = tree.release / "jobs" / "jobs.json"
    spec = json.loads(jobs.read_text(encoding="utf-8"))
    spec["jobs"]["clean"]["jars"].append("missing.jar")
    spec["jobs"]["unused"] = {"main": "unused.py", "py_files": [], "jars": [], "connectors": []}
    jobs.write_text(json.dumps(spec), encoding="utf-8")
    (tree.release / "jobs" / "unused.py").write_text("print('never run')\n", encoding="utf-8")
    (tree.release / "jobs" / "orphan.jar").write_text("jar\n", encoding="utf-8")
    dag = tree.release / DAG
    dag.write_text(
        dag.read_text(encoding="utf-8").replace(
            '"jar_file_uris": job["jar_file_uris"],',
            '"jar_file_uris": [*job["jar_file_uris"], "gs://someone-else/tools.jar"],',
        )
    )
    assert tree.run("spark-artifacts") == [
        f"{DAG}: DAG clean_daily, task clean: pyspark_job.jar_file_uris is gs://someone-else/tools.jar, "
        "which is neither a release artifact nor a connector of dev",
        f"{DAG}: DAG clean_daily, task clean: pyspark_job.jar_file_uris is jobs/missing.jar, "
        "which the release does not contain",
        "jobs/jobs.json: job 'unused' is run by no DAG task",
        "jobs/orphan.jar: in the release, but no DAG task uses it",
        "jobs/unused.py: in the release, but no DAG task uses it",
    ]


def test_connector_no_gcp_environment_defines(tree: Tree) -> None:
    jobs = tree.release / "jobs" / "jobs.json"
    jobs.write_text(jobs.read_text(encoding="utf-8").replace('"spark-bigquery"', '"spark-kafka"'))
    findings = tree.run("spark-artifacts")
    assert len(findings) == 3  # one per gcp environment; the DAGs are not loaded without a config
    assert all("needs connector 'spark-kafka', which dataproc.connectors of" in f for f in findings)


# -- contract-evolution ----------------------------------------------------------------------------

CONTRACT = "contracts/orders.yaml"


def _previous_release(tree: Tree) -> tuple[Path, str]:
    """A built release holding the fixture's (unchanged) contract, as `deployer release build` lays it out."""
    data = (BASE / "release" / CONTRACT).read_bytes()
    entries = [file_entry(CONTRACT, data)]
    manifest = Manifest(
        release=release_id_of(entries),
        created="2026-01-01T00:00:00Z",
        builder="test",
        git=GitInfo(commit=None, dirty=None),
        components={"contracts": component_digest(entries, "contracts")},
        files=entries,
    )
    folder = tree.release.parent / "previous"
    (folder / "files" / "contracts").mkdir(parents=True)
    (folder / "files" / CONTRACT).write_bytes(data)
    (folder / "manifest.json").write_bytes(manifest.to_bytes())
    return folder / "manifest.json", manifest.release


def _edit_contract(tree: Tree, change: Callable[[Any], None], version: int | None = None) -> None:
    def edit(data: Any) -> None:
        change(data)
        if version is not None:
            data["version"] = version

    tree.edit_yaml(CONTRACT, edit)


def _migration(tree: Tree, version: int, changes: list[dict[str, str]]) -> None:
    path = tree.release / "contracts" / "migrations" / f"orders-{version}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"domain": "orders", "changes": changes}), encoding="utf-8")


def _drop(section: str, column: str) -> Callable[[Any], None]:
    def change(data: Any) -> None:
        data[section]["columns"] = [c for c in data[section]["columns"] if c["name"] != column]

    return change


def test_unchanged_contract_passes(tree: Tree) -> None:
    previous, _ = _previous_release(tree)
    assert tree.run("contract-evolution", previous) == []


def test_removed_column_is_refused_without_migration(tree: Tree) -> None:
    previous, rid = _previous_release(tree)
    _edit_contract(tree, _drop("staging", "amount_cents"))
    assert tree.run("contract-evolution", previous) == [
        f"{CONTRACT}: staging.amount_cents: removed (was INT64 REQUIRED) since {rid}: bump version to 2 and "
        "declare it in contracts/migrations/orders-2.yaml (change: removed) or undo it"
    ]


def test_removed_column_passes_with_version_bump_and_migration(tree: Tree) -> None:
    previous, _ = _previous_release(tree)
    _edit_contract(tree, _drop("staging", "amount_cents"), version=2)
    _migration(tree, 2, [{"section": "staging", "column": "amount_cents", "change": "removed"}])
    assert tree.run("contract-evolution", previous) == []


def test_migration_without_version_bump_does_not_count(tree: Tree) -> None:
    previous, _ = _previous_release(tree)
    _edit_contract(tree, _drop("staging", "amount_cents"))
    _migration(tree, 1, [{"section": "staging", "column": "amount_cents", "change": "removed"}])
    assert len(tree.run("contract-evolution", previous)) == 1


def test_renamed_and_retyped_columns(tree: Tree) -> None:
    previous, rid = _previous_release(tree)

    def change(data: Any) -> None:
        for col in data["event"]["columns"]:
            if col["name"] == "event_id":
                col["name"] = "id"
            if col["name"] == "amount_cents":
                col["type"] = "NUMERIC"

    _edit_contract(tree, change, version=2)
    assert tree.run("contract-evolution", previous) == [
        f"{CONTRACT}: event.amount_cents: retyped (INT64 REQUIRED -> NUMERIC REQUIRED) since {rid}: "
        "declare it in contracts/migrations/orders-2.yaml (change: retyped) or undo it",
        f"{CONTRACT}: event.event_id: removed (was STRING REQUIRED) since {rid}: "
        "declare it in contracts/migrations/orders-2.yaml (change: removed) or undo it",
        f"{CONTRACT}: event.id: added required (new STRING REQUIRED column without default) since {rid}: "
        "declare it in contracts/migrations/orders-2.yaml (change: added_required) or undo it",
    ]
    _migration(
        tree,
        2,
        [
            {"section": "event", "column": "event_id", "change": "renamed", "to": "id"},
            {"section": "event", "column": "amount_cents", "change": "retyped"},
        ],
    )
    assert tree.run("contract-evolution", previous) == []


def test_added_columns(tree: Tree) -> None:
    previous, rid = _previous_release(tree)

    def add(*columns: dict[str, Any]) -> Callable[[Any], None]:
        return lambda data: data["staging"]["columns"].extend(columns)

    _edit_contract(tree, add({"name": "coupon", "type": "STRING", "mode": "NULLABLE", "description": "x"}))
    assert tree.run("contract-evolution", previous) == []
    _edit_contract(tree, add({"name": "channel", "type": "STRING", "mode": "REQUIRED", "description": "x"}))
    assert tree.run("contract-evolution", previous) == [
        f"{CONTRACT}: staging.channel: added required (new STRING REQUIRED column without default) "
        f"since {rid}: bump version to 2 and declare it in contracts/migrations/orders-2.yaml "
        "(change: added_required) or undo it"
    ]
    _edit_contract(tree, lambda data: data["staging"]["columns"][-1].update({"default": "web"}))
    assert tree.run("contract-evolution", previous) == []


def test_mode_changes(tree: Tree) -> None:
    previous, rid = _previous_release(tree)

    def modes(data: Any) -> None:
        for col in data["event"]["columns"]:
            if col["name"] == "customer_email":
                col["mode"] = "REQUIRED"  # tightening: existing rows may be null
            if col["name"] == "amount_cents":
                col["mode"] = "NULLABLE"  # relaxing: what BigQuery allows in place

    _edit_contract(tree, modes)
    assert tree.run("contract-evolution", previous) == [
        f"{CONTRACT}: event.customer_email: required (NULLABLE -> REQUIRED) since {rid}: "
        "bump version to 2 and declare it in contracts/migrations/orders-2.yaml (change: required) or undo it"
    ]


def test_malformed_migration_is_named(tree: Tree) -> None:
    previous, _ = _previous_release(tree)
    _edit_contract(tree, _drop("staging", "amount_cents"), version=2)
    _migration(tree, 2, [{"section": "staging", "column": "amount_cents", "change": "dropped"}])
    findings = tree.run("contract-evolution", previous)
    assert findings[0] == (
        "contracts/migrations/orders-2.yaml: changes[0]: needs section, column and change "
        "(one of added_required, removed, renamed, required, retyped)"
    )
    assert len(findings) == 2


def test_tampered_or_missing_previous_release(tree: Tree) -> None:
    previous, _ = _previous_release(tree)
    (previous.parent / "files" / CONTRACT).write_text("domain: orders\nversion: 1\n", encoding="utf-8")
    with pytest.raises(Refused):
        tree.run("contract-evolution", previous)
    with pytest.raises(ConfigError, match=r"is not a manifest\.json nor a release folder"):
        tree.run("contract-evolution", tree.release / "nowhere")


# -- schema-agreement ------------------------------------------------------------------------------

STACK = "dev/cdk.tf.json"


def _stack_line(tree: Tree, message: str) -> str:
    return f"{tree.stacks / 'dev' / 'cdk.tf.json'}: {message}"


def test_pubsub_schema_disagrees(tree: Tree) -> None:
    def change(resources: dict[str, Any]) -> None:
        (schema,) = resources["google_pubsub_schema"].values()
        avro = json.loads(schema["definition"])
        avro["fields"][2]["type"] = "string"  # amount_cents
        avro["fields"][1]["type"] = "string"  # customer_email loses its null
        schema["definition"] = json.dumps(avro)

    tree.edit_stack(change)
    source = "the contract (contracts/orders.yaml event)"
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


def test_topic_without_schema(tree: Tree) -> None:
    tree.edit_stack(lambda r: r["google_pubsub_topic"]["pubsub_topic-orders-events_1"].pop("schema_settings"))
    assert tree.run("schema-agreement") == [
        _stack_line(tree, "topic orders-events enforces no schema of the stack")
    ]


def test_raw_table_disagrees(tree: Tree) -> None:
    def change(resources: dict[str, Any]) -> None:
        (table,) = resources["google_bigquery_table"].values()
        schema = json.loads(table["schema"])
        schema[1].pop("policyTags")  # customer_email
        schema[2]["mode"] = "NULLABLE"  # amount_cents
        table["schema"] = json.dumps(schema[:3])  # event_time dropped

    tree.edit_stack(change)
    source = "the contract (contracts/orders.yaml event)"
    assert tree.run("schema-agreement") == [
        _stack_line(
            tree, f"raw table orders_events: column amount_cents is NULLABLE, {source} says REQUIRED"
        ),
        _stack_line(tree, "raw table orders_events: column customer_email lacks policy tag 'PII Email'"),
        _stack_line(tree, f"raw table orders_events: lacks column event_time of {source}"),
    ]


def test_dbt_sources_and_models_disagree(tree: Tree) -> None:
    def sources(data: Any) -> None:
        raw = data["sources"][0]["tables"][0]["columns"]
        _column(raw, "amount_cents")["data_type"] = "string"
        raw.append({"name": "extra", "data_type": "string"})

    tree.edit_yaml("dbt/models/staging/_sources.yml", sources)
    (tree.release / MART).unlink()
    source = "the contract (contracts/orders.yaml event)"
    assert tree.run("schema-agreement") == [
        f"{CONTRACT}: marts.customer_value: the dbt project has no model customer_value",
        f"dbt/models/staging/_sources.yml: source table orders_events: column amount_cents is STRING, "
        f"{source} says INT64",
        f"dbt/models/staging/_sources.yml: source table orders_events: column extra is not in {source}",
    ]
