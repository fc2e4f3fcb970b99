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
- The raw table of every domain with an event (`event.raw_table`, in the raw dataset): schema from the
  event's columns, PII columns carrying their policy tag, day partitions on the event's first REQUIRED
  TIMESTAMP or DATE column (`schemas.raw_partition_column`).
- The staging tables each domain's daily Spark job writes, from its `staging` and `rejects` sections
  (day partitions on their `partition_by`), in the staging dataset, built by the same code as the raw
  table (schema, policy tags, partitions, CMEK). Created here, not by the job, so their schema,
  descriptions and policy tags are reviewed and never inferred from a DataFrame (a job-created table
  would carry no policy tags: its PII would be readable by any viewer).
- A domain's tables carry its labels (`owner` of the domain, `domain=<name>`). Table ids are unique
  across domains (`platform_model.domain.check_together`), so construct ids follow from them alone:
  `raw-<table>`, `staging-<table>`; adding a domain renames nothing.
- Every contract table has `deletion_protection`: dropping it takes a deliberate change first.
- CMEK: the `bigquery` key as the datasets' default and on every contract table when the environment
  enables it.

Attributes: `datasets` (layer -> dataset), `taxonomy`, `policy_tags` (display name -> tag),
`data_policies` (display name -> policy), `raw_tables` and `staging_tables` (table id -> table),
`tables` (domain -> `layer.table` -> table).
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

from infra.cmek import Cmek
from infra.domains import domain_labels
from infra.iam import Identities
from infra.refs import ref
from infra.schemas import bigquery_schema, raw_partition_column
from platform_model.domain import Column, Domain
from platform_model.environment import Environment

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
    "staging": "cleaned, deduplicated events the daily Spark job writes",
    "rejects": "records the daily Spark job set aside instead of dropping them",
}


class TableArgs(NamedTuple):
    """What every contract table of the stack shares."""

    project: str
    """GCP project."""
    policy_tag_ids: dict[str, str]
    """Policy tag resource names by display name (tokens)."""
    kms_key: str | None
    """The `bigquery` CMEK key, when the environment enables CMEK."""


def slug(text: str) -> str:
    """`PII Email` -> `pii_email`: a policy tag display name as an identifier."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


class BigQuery(Construct):
    """Datasets, dataset IAM, taxonomy, policy tags, fine-grained and masked readers, the domains' tables."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        env: Environment,
        identities: Identities,
        cmek: Cmek | None,
        domains: Sequence[Domain],
    ) -> None:
        """`domains`: the domains deployed to `env` (their PII tags already checked against its taxonomy)."""
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
                    dataset_id=ref(self.datasets[layer], "dataset_id"),
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
                    policy_tag=ref(tag, "name"),
                    role=FINE_GRAINED_READER,
                    member=member,
                )
            policy = BigqueryDatapolicyDataPolicy(
                self,
                f"masking-{key}",
                project=env.project,
                location=location,
                data_policy_id=f"{slug(env.prefix)}_{key}_masked",
                policy_tag=ref(tag, "name"),
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
                    data_policy_id=ref(policy, "data_policy_id"),
                    role=MASKED_READER,
                    member=member,
                )

        self._table_args = TableArgs(env.project, self.policy_tag_ids(), kms_key)
        self.raw_tables: dict[str, BigqueryTable] = {}
        self.staging_tables: dict[str, BigqueryTable] = {}
        self.tables: dict[str, dict[str, BigqueryTable]] = {}
        for domain in domains:
            own = self.tables.setdefault(domain.domain, {})
            tagged = domain_labels(env, domain)
            version = f"contract v{domain.version}"
            if domain.event is not None:
                event = domain.event
                table = self._table(
                    f"raw-{event.raw_table}",
                    self.datasets["raw"],
                    event.raw_table,
                    f"{domain.domain} events as published on {event.topic} ({version}).",
                    event.columns,
                    raw_partition_column(event.columns),
                    tagged,
                )
                self.raw_tables[event.raw_table] = own[f"raw.{event.raw_table}"] = table
            for section, declared in (("staging", domain.staging), ("rejects", domain.rejects)):
                if declared is None:
                    continue
                table = self._table(
                    f"staging-{declared.table}",
                    self.datasets["staging"],
                    declared.table,
                    f"{domain.domain}: {STAGING_PURPOSE[section]} ({version}, section {section}).",
                    declared.columns,
                    declared.partition_by,
                    tagged,
                )
                self.staging_tables[declared.table] = own[f"staging.{declared.table}"] = table

    def _table(
        self,
        id_: str,
        dataset: BigqueryDataset,
        table_id: str,
        description: str,
        columns: Sequence[Column],
        partition_by: str | None,
        labels: dict[str, str],
    ) -> BigqueryTable:
        """A contract table: schema from its columns (PII columns tagged), day partitions (on
        `partition_by`, else on ingestion time), kept on destroy."""
        args = self._table_args
        return BigqueryTable(
            self,
            id_,
            project=args.project,
            dataset_id=ref(dataset, "dataset_id"),
            table_id=table_id,
            description=description,
            labels=labels,
            schema=json.dumps(bigquery_schema(columns, args.policy_tag_ids)),
            time_partitioning=BigqueryTableTimePartitioning(type="DAY", field=partition_by),
            deletion_protection=True,
            encryption_configuration=(
                BigqueryTableEncryptionConfiguration(kms_key_name=args.kms_key) if args.kms_key else None
            ),
        )

    def policy_tag_ids(self) -> dict[str, str]:
        """Policy-tag resource names by display name (tokens until applied)."""
        return {name: str(ref(tag, "name")) for name, tag in self.policy_tags.items()}
