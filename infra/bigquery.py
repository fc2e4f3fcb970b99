"""BigQuery: datasets raw/staging/marts, the PII taxonomy with its policy tags and masking, the raw table.

- Datasets: ids, description, location and table expiry from the environment file, labels, dataset IAM
  through `google_bigquery_dataset_iam_member` only (additive; never an authoritative `access` list that
  would fight other grants). Readers from the file get `dataViewer`; the pipeline accounts get what
  their step needs: Spark (dataproc) reads raw and writes staging, dbt (composer) reads raw and
  staging and writes staging and marts.
- Taxonomy (Data Catalog, in the BigQuery location, `FINE_GRAINED_ACCESS_CONTROL` activated) with one
  policy tag per PII class of the file. Clear-text readers: `fine_grained_readers` from the file and the
  two pipeline accounts (they transform PII: hash it, mask it). Everyone else reads NULL-or-error,
  except `masked_readers`, who read through one data-masking policy per tag
  (`DATA_MASKING_POLICY` with the tag's predefined `masking` expression).
- The raw table of every contract a topic publishes (`contracts/orders.yaml` -> `orders_events`):
  schema from the contract, PII columns carrying their policy tag, day partitions on `event_time`.
- The staging tables the daily Spark job writes, from the same contract's `staging` (`orders`, by day on
  `event_date`) and `rejects` (`orders_rejects`, by day on `processing_date`) sections, in the staging
  dataset, built by the same code as the raw table (schema, policy tags, partitions, CMEK). Created here,
  not by the job, so their schema, descriptions and policy tags are reviewed and never inferred from a
  DataFrame (a job-created table would carry no policy tags: its PII would be readable by any viewer).
- Every contract table has `deletion_protection`: dropping it takes a deliberate change first.
- CMEK: the `bigquery` key as the datasets' default and on every contract table when the environment
  enables it.

Attributes: `datasets` (layer -> dataset), `taxonomy`, `policy_tags` (display name -> tag),
`data_policies` (display name -> policy), `raw_tables` and `staging_tables` (table id -> table).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import NamedTuple

from cdktn_provider_google.bigquery_datapolicy_data_policy import (
    BigqueryDatapolicyDataPolicy,
    BigqueryDatapolicyDataPolicyDataMaskingPolicy,
)
from cdktn_provider_google.bigquery_datapolicy_data_policy_iam_member import (
    BigqueryDatapolicyDataPolicyIamMember,
)
from cdktn_provider_google.bigquery_dataset import (
    BigqueryDataset,
    BigqueryDatasetDefaultEncryptionConfiguration,
)
from cdktn_provider_google.bigquery_dataset_iam_member import BigqueryDatasetIamMember
from cdktn_provider_google.bigquery_table import (
    BigqueryTable,
    BigqueryTableEncryptionConfiguration,
    BigqueryTableTimePartitioning,
)
from cdktn_provider_google.data_catalog_policy_tag import DataCatalogPolicyTag
from cdktn_provider_google.data_catalog_policy_tag_iam_member import DataCatalogPolicyTagIamMember
from cdktn_provider_google.data_catalog_taxonomy import DataCatalogTaxonomy
from constructs import Construct

from deployer.config import Environment
from deployer.errors import ConfigError
from infra import env_file
from infra.cmek import Cmek
from infra.contracts import PARTITION_TYPES, Column, Contract, bigquery_schema, check_policy_tags
from infra.iam import Identities

PARTITION_COLUMN = "event_time"
FINE_GRAINED_READER = "roles/datacatalog.categoryFineGrainedReader"
MASKED_READER = "roles/bigquerydatapolicy.maskedReader"
DAY_MS = 24 * 3600 * 1000

# layer -> ((pipeline account, role), ...)
PIPELINE_GRANTS: dict[str, tuple[tuple[str, str], ...]] = {
    "raw": (("dataproc", "roles/bigquery.dataViewer"), ("composer", "roles/bigquery.dataViewer")),
    "staging": (("dataproc", "roles/bigquery.dataEditor"), ("composer", "roles/bigquery.dataEditor")),
    "marts": (("composer", "roles/bigquery.dataEditor"),),
}


# contract section -> what its table holds (the table's description)
STAGING_PURPOSE: dict[str, str] = {
    "staging": "cleaned, deduplicated events the daily Spark job writes, PII hashed",
    "rejects": "records the daily Spark job set aside (malformed, late, superseded) instead of dropping",
}


class TableArgs(NamedTuple):
    """What every contract table of the stack shares."""

    project: str
    """GCP project."""
    labels: dict[str, str]
    """The environment's labels."""
    policy_tag_ids: dict[str, str]
    """Policy tag resource names by display name (tokens)."""
    kms_key: str | None
    """The `bigquery` CMEK key, when the environment enables CMEK."""


def slug(text: str) -> str:
    """`PII Email` -> `pii_email`: a policy tag display name as an identifier."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


class BigQuery(Construct):
    """Datasets, dataset IAM, taxonomy, policy tags, fine-grained and masked readers, raw tables."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        env: Environment,
        identities: Identities,
        cmek: Cmek | None,
        contracts: Sequence[Contract],
    ) -> None:
        super().__init__(scope, id_)
        spec = env.bigquery
        location = spec.location.lower()  # Data Catalog and data policies spell multi-regions lower-case
        labels = env.labels.as_dict()
        kms_key = cmek.key_id("bigquery") if cmek else None
        kms_deps = cmek.grants["bigquery"] if cmek else None

        self.datasets: dict[str, BigqueryDataset] = {}
        for layer, ds in spec.datasets.items():
            self.datasets[layer] = BigqueryDataset(
                self,
                f"dataset-{layer}",
                project=env.project,
                dataset_id=ds.id,
                location=spec.location,
                description=ds.description or None,
                # the `pii` label lets policies (and people in the console) see which datasets hold PII
                labels={**labels, "pii": "true"} if ds.holds_pii else labels,
                default_table_expiration_ms=ds.default_table_expiration_days * DAY_MS
                if ds.default_table_expiration_days
                else None,
                delete_contents_on_destroy=False,
                default_encryption_configuration=(
                    BigqueryDatasetDefaultEncryptionConfiguration(kms_key_name=kms_key) if kms_key else None
                ),
                depends_on=kms_deps,
            )
            grants = [(f"reader-{i}", "roles/bigquery.dataViewer", m) for i, m in enumerate(ds.readers)]
            grants += [(who, role, identities.members[who]) for who, role in PIPELINE_GRANTS[layer]]
            for who, role, member in grants:
                BigqueryDatasetIamMember(
                    self,
                    f"dataset-{layer}-{who}",
                    project=env.project,
                    dataset_id=self.datasets[layer].dataset_id,
                    role=role,
                    member=member,
                )

        taxonomy = spec.taxonomy
        self.taxonomy = DataCatalogTaxonomy(
            self,
            "taxonomy",
            project=env.project,
            region=location,
            display_name=taxonomy.display_name,
            description=f"PII classes of the {env.name} platform; tagged columns need a grant to be read.",
            activated_policy_types=["FINE_GRAINED_ACCESS_CONTROL"],
        )
        clear_readers = [
            *taxonomy.fine_grained_readers,
            identities.members["dataproc"],
            identities.members["composer"],
        ]
        self.policy_tags: dict[str, DataCatalogPolicyTag] = {}
        self.data_policies: dict[str, BigqueryDatapolicyDataPolicy] = {}
        for tag_spec in taxonomy.policy_tags:
            key = slug(tag_spec.display_name)
            tag = DataCatalogPolicyTag(
                self,
                f"tag-{key}",
                taxonomy=self.taxonomy.id,
                display_name=tag_spec.display_name,
                description=tag_spec.description or None,
            )
            self.policy_tags[tag_spec.display_name] = tag
            for i, member in enumerate(clear_readers):
                DataCatalogPolicyTagIamMember(
                    self,
                    f"tag-{key}-reader-{i}",
                    policy_tag=tag.name,
                    role=FINE_GRAINED_READER,
                    member=member,
                )
            policy = BigqueryDatapolicyDataPolicy(
                self,
                f"masking-{key}",
                project=env.project,
                location=location,
                data_policy_id=f"{slug(env.prefix)}_{key}_masked",
                policy_tag=tag.name,
                data_policy_type="DATA_MASKING_POLICY",
                data_masking_policy=BigqueryDatapolicyDataPolicyDataMaskingPolicy(
                    predefined_expression=tag_spec.masking
                ),
            )
            self.data_policies[tag_spec.display_name] = policy
            for i, member in enumerate(taxonomy.masked_readers):
                BigqueryDatapolicyDataPolicyIamMember(
                    self,
                    f"masking-{key}-reader-{i}",
                    project=env.project,
                    location=location,
                    data_policy_id=policy.data_policy_id,
                    role=MASKED_READER,
                    member=member,
                )

        self._table_args = TableArgs(env.project, labels, self.policy_tag_ids(), kms_key)
        self.raw_tables: dict[str, BigqueryTable] = {}
        self.staging_tables: dict[str, BigqueryTable] = {}
        for contract in contracts:
            check_policy_tags(contract, env.policy_tag_names(), env_file(env.name))
            table_id = contract.event.raw_table
            types = {c.name: c.type for c in contract.event.columns}
            if types.get(PARTITION_COLUMN) not in PARTITION_TYPES:
                raise ConfigError(
                    f"{contract.path}: event.columns: the raw table is partitioned by day on "
                    f"{PARTITION_COLUMN!r}, which must be a TIMESTAMP or DATE column"
                )
            self.raw_tables[table_id] = self._table(
                f"raw-{table_id}",
                self.datasets["raw"],
                table_id,
                f"{contract.domain} events as published on {contract.event.topic} "
                f"(contract v{contract.version}).",
                contract.event.columns,
                PARTITION_COLUMN,
            )
            for table in contract.staging_tables():
                if table.table in self.staging_tables:
                    raise ConfigError(
                        f"{contract.path}: {table.section}.table: {table.table!r} is declared by another "
                        "contract (or section) too"
                    )
                self.staging_tables[table.table] = self._table(
                    f"staging-{table.table}",
                    self.datasets["staging"],
                    table.table,
                    f"{contract.domain}: {STAGING_PURPOSE[table.section]} "
                    f"(contract v{contract.version}, section {table.section}).",
                    table.columns,
                    table.partition_by,
                )

    def _table(
        self,
        id_: str,
        dataset: BigqueryDataset,
        table_id: str,
        description: str,
        columns: Sequence[Column],
        partition_by: str,
    ) -> BigqueryTable:
        """A contract table: schema from its columns (PII columns tagged), day partitions, kept on destroy."""
        args = self._table_args
        return BigqueryTable(
            self,
            id_,
            project=args.project,
            dataset_id=dataset.dataset_id,
            table_id=table_id,
            description=description,
            labels=args.labels,
            schema=json.dumps(bigquery_schema(columns, args.policy_tag_ids)),
            time_partitioning=BigqueryTableTimePartitioning(type="DAY", field=partition_by),
            deletion_protection=True,
            encryption_configuration=(
                BigqueryTableEncryptionConfiguration(kms_key_name=args.kms_key) if args.kms_key else None
            ),
        )

    def policy_tag_ids(self) -> dict[str, str]:
        """Policy-tag resource names by display name (tokens until applied)."""
        return {name: str(tag.name) for name, tag in self.policy_tags.items()}
