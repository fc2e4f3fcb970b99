"""CKV_ACME_6: no primitive role (roles/owner, roles/editor, roles/viewer) is granted by any IAM resource.

Covers every `google_*_iam_member`, `_iam_binding` and `_iam_policy` (whose `policy_data` is read
from the `google_iam_policy` data source it refers to, or parsed when literal JSON), the BigQuery
dataset `access` blocks and `google_bigquery_dataset_access`.
"""

from __future__ import annotations

import json
from typing import Any

from acme_stack import StackCheck, blocks, data_references
from checkov.common.models.enums import CheckCategories, CheckResult

PRIMITIVE_ROLES = frozenset({"roles/owner", "roles/editor", "roles/viewer"})


def _policy_roles(stack: dict[str, Any], policy_data: Any) -> tuple[list[str], list[str]]:
    """(roles, problems) of an `_iam_policy` resource's policy_data."""
    if not isinstance(policy_data, str):
        return [], ["policy_data is missing"]
    sources = data_references(policy_data, "google_iam_policy")
    if sources:
        roles: list[str] = []
        problems: list[str] = []
        for source in sorted(sources):
            policy = (stack.get("data", {}).get("google_iam_policy") or {}).get(source)
            if not isinstance(policy, dict):
                problems.append(
                    f"policy_data refers to data.google_iam_policy.{source}, which is not in the stack"
                )
                continue
            roles += [str(b.get("role")) for b in blocks(policy.get("binding"))]
        return roles, problems
    try:
        document = json.loads(policy_data)
    except ValueError:
        return [], ["policy_data is neither JSON nor a data.google_iam_policy reference"]
    return [str(b.get("role")) for b in blocks(document.get("bindings"))], []


class NoPrimitiveRoles(StackCheck):
    """IAM grants use predefined or custom roles, never the primitive ones."""

    def __init__(self) -> None:
        super().__init__(
            name="No primitive roles (roles/owner, roles/editor, roles/viewer) in any IAM grant",
            id="CKV_ACME_6",
            categories=[CheckCategories.IAM],
            supported_resources=[
                "google_*_iam_member",
                "google_*_iam_binding",
                "google_*_iam_policy",
                "google_bigquery_dataset_access",
                "google_bigquery_dataset",
            ],
        )

    def evaluate(
        self, stack: dict[str, Any], resource_type: str, name: str, resource: dict[str, Any]
    ) -> tuple[CheckResult, list[str]]:
        """Collect every role the resource grants; fail on a primitive one or an unreadable policy."""
        self.evaluated_keys = ["role", "policy_data", "access/[*]/role"]
        problems: list[str] = []
        if resource_type.endswith("_iam_policy"):
            roles, problems = _policy_roles(stack, resource.get("policy_data"))
        elif resource_type == "google_bigquery_dataset":
            roles = [str(a.get("role")) for a in blocks(resource.get("access"))]
        else:
            roles = [str(resource.get("role"))]
        problems += [f"grants primitive role {role}" for role in roles if role in PRIMITIVE_ROLES]
        return (CheckResult.FAILED if problems else CheckResult.PASSED), problems


check = NoPrimitiveRoles()
