"""CKV_ACME_3: a BigQuery dataset that holds PII has a policy-tag taxonomy enforcing fine-grained access.

A dataset holds PII when it is labelled `pii: "true"` (the infra sets it from `holds_pii` in the
environment file) or when a table of the stack in it tags a column with a policy tag. Then the stack
must define a Data Catalog taxonomy that
- activates `FINE_GRAINED_ACCESS_CONTROL` (without it policy tags are labels, not access control),
- lives in the dataset's location (BigQuery only applies tags of a taxonomy in the same location),
- holds at least one policy tag;
and every policy tag the dataset's tables use must belong to such a taxonomy.
"""

from __future__ import annotations

from typing import Any

from acme_stack import StackCheck, is_true, mapping, provider_config, references, resources
from checkov.common.models.enums import CheckCategories, CheckResult

FINE_GRAINED = "FINE_GRAINED_ACCESS_CONTROL"
PII_LABEL = "pii"


def _dataset_keys(name: str, dataset: dict[str, Any]) -> set[str]:
    """The ways a table may name this dataset: a reference or the literal dataset id."""
    keys = {f"ref:{name}"}
    if isinstance(dataset.get("dataset_id"), str):
        keys.add(f"id:{dataset['dataset_id']}")
    return keys


def _table_dataset_keys(table: dict[str, Any]) -> set[str]:
    value = table.get("dataset_id")
    keys = {f"ref:{n}" for n in references(value, "google_bigquery_dataset")}
    if isinstance(value, str) and "${" not in value:
        keys.add(f"id:{value}")
    return keys


class PiiDatasetHasFineGrainedTaxonomy(StackCheck):
    """PII datasets are covered by a same-location taxonomy with fine-grained access control."""

    def __init__(self) -> None:
        super().__init__(
            name="BigQuery datasets holding PII have a fine-grained-access taxonomy in their location",
            id="CKV_ACME_3",
            categories=[CheckCategories.IAM],
            supported_resources=["google_bigquery_dataset"],
        )

    def evaluate(
        self, stack: dict[str, Any], resource_type: str, name: str, resource: dict[str, Any]
    ) -> tuple[CheckResult, list[str]]:
        """Pass datasets without PII; check the taxonomy of those with it."""
        self.evaluated_keys = ["labels", "location"]
        keys = _dataset_keys(name, resource)
        tables = [t for _, t in resources(stack, "google_bigquery_table") if _table_dataset_keys(t) & keys]
        used_tags: set[str] = set()
        for table in tables:
            used_tags |= references(table.get("schema"), "google_data_catalog_policy_tag")
        labels = mapping(resource.get("labels"))
        if not is_true(labels.get(PII_LABEL)) and not used_tags:
            return CheckResult.PASSED, []

        location = str(resource.get("location") or "US").lower()
        default_region = str(provider_config(stack, "google_data_catalog_taxonomy", {}).get("region") or "")
        taxonomies = dict(resources(stack, "google_data_catalog_taxonomy"))
        tags = dict(resources(stack, "google_data_catalog_policy_tag"))
        tags_of: dict[str, set[str]] = {t: set() for t in taxonomies}
        for tag_name, tag in tags.items():
            for taxonomy in references(tag.get("taxonomy"), "google_data_catalog_taxonomy"):
                tags_of.setdefault(taxonomy, set()).add(tag_name)

        def enforcing(taxonomy: str) -> bool:
            return FINE_GRAINED in (taxonomies.get(taxonomy, {}).get("activated_policy_types") or [])

        def region(taxonomy: str) -> str:
            return str(taxonomies[taxonomy].get("region") or default_region).lower()

        reasons: list[str] = []
        usable = [t for t in taxonomies if enforcing(t) and region(t) == location and tags_of.get(t)]
        if not usable:
            found = ", ".join(
                f"{t} (region {region(t) or '?'}, "
                f"{'fine-grained' if enforcing(t) else 'no fine-grained access'}, "
                f"{len(tags_of.get(t, ()))} tags)"
                for t in sorted(taxonomies)
            )
            reasons.append(
                f"holds PII in {location} but no taxonomy with {FINE_GRAINED}, policy tags and region "
                f"{location} is defined (found: {found or 'none'})"
            )
        for used in sorted(used_tags):
            owners = references(tags.get(used, {}).get("taxonomy"), "google_data_catalog_taxonomy")
            if used not in tags:
                reasons.append(f"a table uses policy tag {used}, which the stack does not define")
            elif not any(enforcing(t) for t in owners):
                reasons.append(f"policy tag {used} belongs to a taxonomy without {FINE_GRAINED}")
        return (CheckResult.FAILED if reasons else CheckResult.PASSED), reasons


check = PiiDatasetHasFineGrainedTaxonomy()
