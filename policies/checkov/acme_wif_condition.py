"""CKV_ACME_7: a Workload Identity Federation provider pins the repository (by id) and the git ref.

Without an attribute condition any repository on GitHub could mint tokens for the pool. The
condition must be a conjunction (`&&`, no `||`) with
- `repository_id == "<digits>"`: the numeric id survives a rename and cannot be re-registered,
- `ref == "refs/..."` or `ref in ["refs/...", ...]`,
each on `assertion.<claim>` or on an `attribute.<name>` that `attribute_mapping` maps from that claim.
"""

from __future__ import annotations

import re
from typing import Any

from acme_stack import StackCheck, mapping
from checkov.common.models.enums import CheckCategories, CheckResult

_OPERAND = r"(?P<subject>(?:assertion|attribute)\.[A-Za-z_][A-Za-z0-9_]*)"
REPOSITORY_ID = re.compile(rf"^{_OPERAND}\s*==\s*(['\"])\d+\2$")
REF = re.compile(rf"^{_OPERAND}\s*(?:==\s*(['\"])refs/[^'\"]+\2|in\s*\[(?P<refs>[^\]]+)\])$")
_QUOTED = re.compile(r"""\s*(['"])([^'"]*)\1\s*""")


def _refs_only(items: str) -> bool:
    """Every item of a CEL list literal is a quoted `refs/...`."""
    parts = items.split(",")
    matches = [_QUOTED.fullmatch(p) for p in parts]
    return all(m is not None and m.group(2).startswith("refs/") for m in matches)


def _clauses(condition: str) -> list[str]:
    return [c.strip().strip("()").strip() for c in condition.split("&&")]


def _subject_is(subject: str, claim: str, claims: dict[str, Any]) -> bool:
    """`subject` is the claim itself, or an attribute mapped straight from it."""
    if subject == f"assertion.{claim}":
        return True
    return str(claims.get(subject, "")).replace(" ", "") == f"assertion.{claim}"


class WorkloadIdentityProviderPinned(StackCheck):
    """WIF providers have an attribute condition on repository id and ref."""

    def __init__(self) -> None:
        super().__init__(
            name="Workload Identity Federation providers pin repository_id and ref in attribute_condition",
            id="CKV_ACME_7",
            categories=[CheckCategories.IAM],
            supported_resources=["google_iam_workload_identity_pool_provider"],
        )

    def evaluate(
        self, stack: dict[str, Any], resource_type: str, name: str, resource: dict[str, Any]
    ) -> tuple[CheckResult, list[str]]:
        """Parse the condition's clauses; require both pins and no alternative."""
        self.evaluated_keys = ["attribute_condition", "attribute_mapping"]
        condition = resource.get("attribute_condition")
        if not isinstance(condition, str) or not condition.strip():
            return CheckResult.FAILED, ["no attribute_condition: any repository can use this provider"]
        if "||" in condition:
            return CheckResult.FAILED, ["attribute_condition has an alternative (||): pins can be bypassed"]
        claims = mapping(resource.get("attribute_mapping"))
        pinned = {"repository_id": False, "ref": False}
        for clause in _clauses(condition):
            for claim, pattern in (("repository_id", REPOSITORY_ID), ("ref", REF)):
                match = pattern.match(clause)
                if not match or not _subject_is(match.group("subject"), claim, claims):
                    continue
                if claim == "ref" and match.group("refs") is not None and not _refs_only(match.group("refs")):
                    continue
                pinned[claim] = True
        missing = [claim for claim, ok in pinned.items() if not ok]
        if missing:
            return CheckResult.FAILED, [f"attribute_condition does not pin {' and '.join(missing)}"]
        return CheckResult.PASSED, []


check = WorkloadIdentityProviderPinned()
