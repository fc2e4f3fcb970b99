"""CKV_ACME_2: every resource that takes labels carries `env`, `owner` and `cost-center`.

"Takes labels" comes from the provider schema (`acme_labelled_types`, generated), so a new resource
type is covered without editing this file; so does the argument holding them (`user_labels` for the
monitoring resources, `labels` elsewhere). The labels that count are the ones terraform applies: the
provider's `default_labels` merged with the resource's own (`default_labels` only reach `labels`).
"""

from __future__ import annotations

from typing import Any

from acme_labelled_types import LABEL_ARGUMENT, LABELLED_TYPES
from acme_stack import StackCheck, provider_config
from checkov.common.models.enums import CheckCategories, CheckResult

REQUIRED_LABELS = ("env", "owner", "cost-center")


class RequiredLabels(StackCheck):
    """Resources with a `labels` argument carry the required labels with non-empty values."""

    def __init__(self) -> None:
        super().__init__(
            name="Resources that take labels carry env, owner and cost-center",
            id="CKV_ACME_2",
            categories=[CheckCategories.CONVENTION],
            # Every google resource is offered; the ones without a `labels` argument get no verdict.
            supported_resources=["google_*"],
        )

    def scan_resource_conf(self, conf: dict[str, list[Any]]) -> CheckResult:
        """No verdict on resources whose schema has no `labels` map."""
        if self.entity_type not in LABELLED_TYPES:
            return CheckResult.UNKNOWN
        return super().scan_resource_conf(conf)

    def evaluate(
        self, stack: dict[str, Any], resource_type: str, name: str, resource: dict[str, Any]
    ) -> tuple[CheckResult, list[str]]:
        """Fail when a required label is missing or empty after merging the provider's defaults."""
        argument = LABEL_ARGUMENT[resource_type]
        self.evaluated_keys = [argument]
        labels: dict[str, Any] = {}
        defaults = provider_config(stack, resource_type, resource).get("default_labels")
        if isinstance(defaults, dict) and argument == "labels":
            labels.update(defaults)
        own = resource.get(argument)
        if isinstance(own, dict):
            labels.update(own)
        elif own is not None:
            return CheckResult.FAILED, [
                f"{argument} is an expression ({own!r}), not a map the policy can read"
            ]
        missing = [key for key in REQUIRED_LABELS if not str(labels.get(key) or "").strip()]
        if missing:
            return CheckResult.FAILED, [f"{argument} lack {', '.join(missing)}"]
        return CheckResult.PASSED, []


check = RequiredLabels()
