"""BigQuery: datasets and their IAM, the taxonomy, one tag per PII class, masking, raw and staging tables."""

from __future__ import annotations

import json
from typing import Any

from deployer.config import Environment
from infra import REPO_ROOT
from infra.contracts import TYPES, Column, load_contract
from tests.infra.conftest import Stack, resources

ORDERS = load_contract(REPO_ROOT / "contracts" / "orders.yaml")


def test_three_datasets_with_labels_and_location(
    stacks: dict[str, Stack], envs: dict[str, Environment]
) -> None:
    for name, stack in stacks.items():
        env = envs[name]
        datasets = resources(stack, "google_bigquery_dataset")
        assert set(datasets) == {"bigquery/dataset-raw", "bigquery/dataset-staging", "bigquery/dataset-marts"}
        for layer, spec in env.bigquery.datasets.items():
            body = datasets[f"bigquery/dataset-{layer}"]
            assert body["dataset_id"] == spec.id
            assert body["location"] == env.bigquery.location
            pii = {"pii": "true"} if spec.holds_pii else {}
            assert body["labels"] == {**env.labels.as_dict(), **pii}
            assert body["delete_contents_on_destroy"] is False
            assert "access" not in body  # grants are additive iam_member resources


def test_dataset_iam(stacks: dict[str, Stack], envs: dict[str, Environment]) -> None:
    for name, stack in stacks.items():
        env = envs[name]
        members = resources(stack, "google_bigquery_dataset_iam_member")
        readers = {(layer, m) for layer, spec in env.bigquery.datasets.items() for m in spec.readers}
        got_readers = {
            (path.split("/")[1].split("-")[1], body["member"])
            for path, body in members.items()
            if "-reader-" in path
        }
        assert got_readers == readers
        assert all(b["role"] == "roles/bigquery.dataViewer" for p, b in members.items() if "-reader-" in p)
        assert members["bigquery/dataset-raw-dataproc"]["role"] == "roles/bigquery.dataViewer"
        assert members["bigquery/dataset-staging-dataproc"]["role"] == "roles/bigquery.dataEditor"
        assert members["bigquery/dataset-marts-composer"]["role"] == "roles/bigquery.dataEditor"
        assert "bigquery/dataset-marts-dataproc" not in members


def test_taxonomy_activated_with_one_tag_per_pii_class(
    stacks: dict[str, Stack], envs: dict[str, Environment]
) -> None:
    for name, stack in stacks.items():
        env = envs[name]
        taxonomies = resources(stack, "google_data_catalog_taxonomy")
        assert len(taxonomies) == 1
        taxonomy = taxonomies["bigquery/taxonomy"]
        assert taxonomy["activated_policy_types"] == ["FINE_GRAINED_ACCESS_CONTROL"]
        assert taxonomy["display_name"] == env.bigquery.taxonomy.display_name
        assert taxonomy["region"] == env.bigquery.location.lower()
        tags = resources(stack, "google_data_catalog_policy_tag")
        assert sorted(t["display_name"] for t in tags.values()) == sorted(env.policy_tag_names())
        assert all("google_data_catalog_taxonomy.bigquery_taxonomy" in t["taxonomy"] for t in tags.values())


def test_fine_grained_readers(stacks: dict[str, Stack], envs: dict[str, Environment]) -> None:
    for name, stack in stacks.items():
        env = envs[name]
        grants = resources(stack, "google_data_catalog_policy_tag_iam_member")
        tags = len(env.policy_tag_names())
        assert len(grants) == tags * (len(env.bigquery.taxonomy.fine_grained_readers) + 2)
        assert {g["role"] for g in grants.values()} == {"roles/datacatalog.categoryFineGrainedReader"}
        members = {g["member"] for g in grants.values()}
        assert set(env.bigquery.taxonomy.fine_grained_readers) <= members
        assert not set(env.bigquery.taxonomy.masked_readers) & members


def test_masking_policy_per_tag_with_masked_readers(
    stacks: dict[str, Stack], envs: dict[str, Environment]
) -> None:
    for name, stack in stacks.items():
        env = envs[name]
        policies = resources(stack, "google_bigquery_datapolicy_data_policy")
        expected = {t.display_name: t.masking for t in env.bigquery.taxonomy.policy_tags}
        assert len(policies) == len(expected)
        tags = resources(stack, "google_data_catalog_policy_tag")
        for path, policy in policies.items():
            tag_path = path.replace("/masking-", "/tag-")
            display = tags[tag_path]["display_name"]
            assert policy["data_policy_type"] == "DATA_MASKING_POLICY"
            assert policy["data_masking_policy"]["predefined_expression"] == expected[display]
            assert policy["location"] == env.bigquery.location.lower()
            assert tag_path.replace("/", "_") in policy["policy_tag"]
        readers = resources(stack, "google_bigquery_datapolicy_data_policy_iam_member")
        assert len(readers) == len(expected) * len(env.bigquery.taxonomy.masked_readers)
        assert {r["role"] for r in readers.values()} == {"roles/bigquerydatapolicy.maskedReader"}
        assert {r["member"] for r in readers.values()} == set(env.bigquery.taxonomy.masked_readers)


def assert_contract_table(
    stack: Stack,
    table: dict[str, Any],
    env: Environment,
    *,
    dataset: str,
    table_id: str,
    partition_by: str,
    columns: tuple[Column, ...],
) -> None:
    """The table the contract declares: columns, modes, descriptions, policy tags, partitions, protection."""
    assert table["table_id"] == table_id
    assert table["dataset_id"].startswith(f"${{google_bigquery_dataset.bigquery_dataset-{dataset}_")
    assert table["time_partitioning"] == {"type": "DAY", "field": partition_by}
    assert table["labels"] == env.labels.as_dict()
    assert table["deletion_protection"] is True
    if env.cmek.enabled:
        assert "google_kms_crypto_key.cmek_key-bigquery_" in table["encryption_configuration"]["kms_key_name"]
    else:
        assert "encryption_configuration" not in table
    schema = json.loads(table["schema"])
    assert [(f["name"], f["mode"], f["description"]) for f in schema] == [
        (c.name, c.mode, c.description) for c in columns
    ]
    assert [f["type"] for f in schema] == [TYPES[c.type][0] for c in columns]
    tags = {
        t["display_name"]: key.replace("/", "_")
        for key, t in resources(stack, "google_data_catalog_policy_tag").items()
    }
    for field, column in zip(schema, columns, strict=True):
        if column.pii:
            (ref,) = field["policyTags"]["names"]
            assert ref.startswith(f"${{google_data_catalog_policy_tag.{tags[column.pii]}_")
            assert ref.endswith(".name}")
        else:
            assert "policyTags" not in field


def test_raw_table_from_the_contract(stacks: dict[str, Stack], envs: dict[str, Environment]) -> None:
    for name, stack in stacks.items():
        table = resources(stack, "google_bigquery_table")[f"bigquery/raw-{ORDERS.event.raw_table}"]
        assert_contract_table(
            stack,
            table,
            envs[name],
            dataset="raw",
            table_id="orders_events",
            partition_by="event_time",
            columns=ORDERS.event.columns,
        )
        assert sum(1 for f in json.loads(table["schema"]) if "policyTags" in f) == 3


def test_staging_tables_the_spark_job_writes(stacks: dict[str, Stack], envs: dict[str, Environment]) -> None:
    assert ORDERS.staging is not None and ORDERS.rejects is not None
    for name, stack in stacks.items():
        tables = resources(stack, "google_bigquery_table")
        assert set(tables) == {
            "bigquery/raw-orders_events",
            "bigquery/staging-orders",
            "bigquery/staging-orders_rejects",
        }
        staging = tables["bigquery/staging-orders"]
        assert_contract_table(
            stack,
            staging,
            envs[name],
            dataset="staging",
            table_id="orders",
            partition_by="event_date",
            columns=ORDERS.staging.columns,
        )
        rejects = tables["bigquery/staging-orders_rejects"]
        assert_contract_table(
            stack,
            rejects,
            envs[name],
            dataset="staging",
            table_id="orders_rejects",
            partition_by="processing_date",
            columns=ORDERS.rejects.columns,
        )
        tagged = {
            t["table_id"]: sorted(f["name"] for f in json.loads(t["schema"]) if "policyTags" in f)
            for t in (staging, rejects)
        }
        assert tagged == {
            "orders": ["customer_email_hash", "customer_name", "shipping_country"],
            "orders_rejects": ["record"],
        }
        assert staging["description"].startswith("orders: cleaned")
        assert rejects["description"].startswith("orders: records the daily Spark job set aside")
