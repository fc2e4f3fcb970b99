"""BigQuery: datasets and their IAM, the taxonomy, one tag per PII class, masking, raw and staging tables."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from infra.domains import domain_labels
from infra.schemas import TYPES, raw_partition_column
from platform_model.domain import Column, Domain
from platform_model.environment import Environment
from tests.infra.conftest import Stack, resources


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
    domain: Domain,
    *,
    dataset: str,
    table_id: str,
    partition_by: str | None,
    columns: Sequence[Column],
) -> None:
    """The table the contract declares: columns, modes, descriptions, policy tags, partitions, protection."""
    assert table["table_id"] == table_id
    assert table["dataset_id"].startswith(f"${{google_bigquery_dataset.bigquery_dataset-{dataset}_")
    expected_partitioning = {"type": "DAY", "field": partition_by} if partition_by else {"type": "DAY"}
    assert table["time_partitioning"] == expected_partitioning
    assert table["labels"] == domain_labels(env, domain)
    assert table["deletion_protection"] is True
    assert table["description"].startswith(f"{domain.domain}")
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


def test_raw_table_of_every_domain_with_an_event(
    stacks: dict[str, Stack], envs: dict[str, Environment], domains: dict[str, dict[str, Domain]]
) -> None:
    for name, stack in stacks.items():
        tables = resources(stack, "google_bigquery_table")
        checked = 0
        for domain in domains[name].values():
            if domain.event is None:
                continue
            table = tables[f"bigquery/raw-{domain.event.raw_table}"]
            assert_contract_table(
                stack,
                table,
                envs[name],
                domain,
                dataset="raw",
                table_id=domain.event.raw_table,
                partition_by=raw_partition_column(domain.event.columns),
                columns=domain.event.columns,
            )
            assert table["description"] == (
                f"{domain.domain} events as published on {domain.event.topic} (contract v{domain.version})."
            )
            assert sum(1 for f in json.loads(table["schema"]) if "policyTags" in f) == sum(
                1 for c in domain.event.columns if c.pii
            )
            checked += 1
        assert checked >= 2


def test_staging_and_rejects_tables_the_spark_jobs_write(
    stacks: dict[str, Stack], envs: dict[str, Environment], domains: dict[str, dict[str, Domain]]
) -> None:
    for name, stack in stacks.items():
        tables = resources(stack, "google_bigquery_table")
        expected: set[str] = set()
        for domain in domains[name].values():
            if domain.event is not None:
                expected.add(f"bigquery/raw-{domain.event.raw_table}")
            for section, declared in (("staging", domain.staging), ("rejects", domain.rejects)):
                if declared is None:
                    continue
                expected.add(f"bigquery/staging-{declared.table}")
                table = tables[f"bigquery/staging-{declared.table}"]
                assert_contract_table(
                    stack,
                    table,
                    envs[name],
                    domain,
                    dataset="staging",
                    table_id=declared.table,
                    partition_by=declared.partition_by,
                    columns=declared.columns,
                )
                assert table["description"].endswith(f"(contract v{domain.version}, section {section}).")
        assert set(tables) == expected  # marts are dbt's: no table here
        assert len(expected) >= 6


def test_raw_partition_is_the_first_required_time_column() -> None:
    def column(name: str, type_: str, mode: str = "REQUIRED") -> Column:
        return Column.model_validate({"name": name, "type": type_, "mode": mode, "description": "x"})

    assert raw_partition_column([column("id", "STRING"), column("at", "TIMESTAMP")]) == "at"
    assert raw_partition_column([column("seen", "TIMESTAMP", "NULLABLE"), column("day", "DATE")]) == "day"
    assert raw_partition_column([column("id", "STRING"), column("seen", "TIMESTAMP", "NULLABLE")]) is None
