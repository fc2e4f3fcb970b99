"""CKV_ACME_5: no service-account keys (nor HMAC keys) anywhere: CI uses Workload Identity Federation.

A key is a long-lived credential that leaves Google; its mere presence in a stack is the failure, so
every resource of these types fails.
"""

from __future__ import annotations

from typing import Any

from acme_stack import StackCheck
from checkov.common.models.enums import CheckCategories, CheckResult

KEY_TYPES = ["google_service_account_key", "google_storage_hmac_key"]


class NoServiceAccountKeys(StackCheck):
    """Every service-account key or HMAC key resource fails."""

    def __init__(self) -> None:
        super().__init__(
            name="No service-account keys or HMAC keys (use Workload Identity Federation)",
            id="CKV_ACME_5",
            categories=[CheckCategories.IAM],
            supported_resources=KEY_TYPES,
        )

    def evaluate(
        self, stack: dict[str, Any], resource_type: str, name: str, resource: dict[str, Any]
    ) -> tuple[CheckResult, list[str]]:
        """Always a failure: the resource is a long-lived key."""
        self.evaluated_keys: list[str] = []
        return CheckResult.FAILED, [
            f"{resource_type} creates a long-lived key; use Workload Identity Federation"
        ]


check = NoServiceAccountKeys()
