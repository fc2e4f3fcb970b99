"""What the Python policies share: the whole stack a resource belongs to, and value helpers.

Checkov hands a Python check one resource, already rewritten (every value wrapped in a list). The
rules here need the resource as synthesized and, for some, its neighbours (the provider's default
labels, the topic a subscription drains, the taxonomy a policy tag lives in). So each check reads the
stack file checkov is scanning: checkov names it relative to its working directory (`-f`) or root
folder (`-d`), and `BaseCheck.run` records it in `entity_path` before calling the check.
"""

from __future__ import annotations

import json
import os
import re
from abc import abstractmethod
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from checkov.common.models.enums import CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

# `${google_pubsub_topic.events.id}` or `${data.google_iam_policy.x.policy_data}`.
REFERENCE = re.compile(r"\$\{\s*(data\.)?([a-z][a-z0-9_-]*)\.([A-Za-z0-9_-]+)")


class StackNotFound(Exception):
    """The file checkov is scanning cannot be read back."""


def stack_file(scanned_file: str) -> Path:
    """The stack file checkov names `scanned_file` (relative to the working directory or root)."""
    relative = scanned_file.lstrip("/")
    candidates = [Path.cwd() / relative, Path(scanned_file)]
    root = os.environ.get("ACME_CHECKOV_ROOT")
    if root:
        candidates.insert(0, Path(root) / relative)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise StackNotFound(f"cannot read back {scanned_file} (run checkov from the folder it scans)")


@lru_cache(maxsize=16)
def _load(path: str, mtime_ns: int) -> dict[str, Any]:
    return mapping(json.loads(Path(path).read_text(encoding="utf-8")))


def load_stack(scanned_file: str) -> dict[str, Any]:
    """The synthesized stack (cdk.tf.json) as plain JSON."""
    path = stack_file(scanned_file)
    return _load(str(path), path.stat().st_mtime_ns)


def current(check: Any) -> tuple[dict[str, Any], str, str, dict[str, Any]]:
    """(stack, type, name, resource as synthesized) of the resource `check` is looking at."""
    scanned_file, entity_type, entity_name = check.entity_path.rsplit(":", 2)
    stack = load_stack(scanned_file)
    block = "data" if check.block_type == "data" else "resource"
    resource = stack.get(block, {}).get(entity_type, {}).get(entity_name)
    if not isinstance(resource, dict):
        raise StackNotFound(f"{entity_type}.{entity_name} is not in {scanned_file}")
    return stack, entity_type, entity_name, resource


def resources(stack: dict[str, Any], resource_type: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, config) of every resource of `resource_type` in the stack."""
    for name, config in (stack.get("resource", {}).get(resource_type) or {}).items():
        if name != "//" and isinstance(config, dict):
            yield name, config


def mapping(value: Any) -> dict[str, Any]:
    """`value` if it is an object (a map argument such as `labels`), else an empty one."""
    return value if isinstance(value, dict) else {}


def blocks(value: Any) -> list[dict[str, Any]]:
    """A nested block as a list of objects (cdktf writes a single block as an object)."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    return []


def first(value: Any) -> dict[str, Any]:
    """The first object of a nested block, or an empty one."""
    found = blocks(value)
    return found[0] if found else {}


def references(value: Any, resource_type: str) -> set[str]:
    """Names of the `resource_type` resources `value` (any nesting, strings included) refers to."""
    found: set[str] = set()
    if isinstance(value, str):
        for is_data, rtype, name in REFERENCE.findall(value):
            if rtype == resource_type and not is_data:
                found.add(name)
    elif isinstance(value, dict):
        for item in value.values():
            found |= references(item, resource_type)
    elif isinstance(value, list):
        for item in value:
            found |= references(item, resource_type)
    return found


def data_references(value: Any, data_type: str) -> set[str]:
    """Names of the `data.<data_type>` sources `value` refers to."""
    if not isinstance(value, str):
        return set()
    return {name for is_data, rtype, name in REFERENCE.findall(value) if is_data and rtype == data_type}


def is_true(value: Any) -> bool:
    """True for `true` and `"true"` (terraform accepts both)."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def provider_config(stack: dict[str, Any], resource_type: str, resource: dict[str, Any]) -> dict[str, Any]:
    """The provider block a resource uses (`provider = "google.alias"` or the default one)."""
    ref = resource.get("provider")
    local_name, _, alias = (ref or resource_type.split("_", 1)[0]).partition(".")
    for config in blocks(stack.get("provider", {}).get(local_name)):
        if (config.get("alias") or "") == alias:
            return config
    return {}


class StackCheck(BaseResourceCheck):
    """A resource check that sees the resource as synthesized and the stack around it.

    Subclasses implement `evaluate`, returning the verdict and the reasons printed beside a failure.
    """

    def scan_resource_conf(self, conf: dict[str, list[Any]]) -> CheckResult:
        """Checkov's entry point: find the resource in its stack, then `evaluate` it."""
        try:
            stack, resource_type, name, resource = current(self)
        except StackNotFound as exc:
            self.details.append(str(exc))
            return CheckResult.FAILED
        result, reasons = self.evaluate(stack, resource_type, name, resource)
        self.details.extend(reasons)
        return result

    @abstractmethod
    def evaluate(
        self, stack: dict[str, Any], resource_type: str, name: str, resource: dict[str, Any]
    ) -> tuple[CheckResult, list[str]]:
        """The verdict on one resource, with the reasons for a failure (each policy defines it)."""
