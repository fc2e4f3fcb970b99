"""Synthesize once per session (`ensure_synth`, shared through its input hash), then read the JSON."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from deployer.config import Environment, load_all
from infra import REPO_ROOT
from infra.synth import ensure_synth

Stack = dict[str, Any]
PROVIDER = REPO_ROOT / ".venv/lib/python3.11/site-packages/cdktn_provider_google"


@pytest.fixture(scope="session")
def outdir() -> Path:
    """cdktf.out, synthesized from the committed inputs (a no-op when already current)."""
    return ensure_synth()


@pytest.fixture(scope="session")
def envs() -> dict[str, Environment]:
    """The GCP environments, by name."""
    return {name: env for name, env in load_all().items() if env.platform == "gcp"}


@pytest.fixture(scope="session")
def stacks(outdir: Path, envs: dict[str, Environment]) -> dict[str, Stack]:
    """Each stack's cdk.tf.json, by stack name."""
    return {name: json.loads((outdir / "stacks" / name / "cdk.tf.json").read_text()) for name in envs}


def resources(stack: Stack, type_: str) -> dict[str, dict[str, Any]]:
    """Resources of `type_`, keyed by construct path below the stack (e.g. `storage/artifacts`)."""
    out: dict[str, dict[str, Any]] = {}
    for body in stack.get("resource", {}).get(type_, {}).values():
        path = body["//"]["metadata"]["path"]
        out[path.split("/", 1)[1]] = body
    return out


def all_resources(stack: Stack) -> list[tuple[str, str, dict[str, Any]]]:
    """Every resource as (type, construct path below the stack, body)."""
    return [
        (type_, body["//"]["metadata"]["path"].split("/", 1)[1], body)
        for type_, items in stack.get("resource", {}).items()
        for body in items.values()
    ]


@cache
def labelable(type_: str) -> str | None:
    """The labels argument (`labels` or `user_labels`) resource `type_` takes, read from its binding."""
    source = (PROVIDER / type_.removeprefix("google_") / "__init__.py").read_text()
    match = re.search(
        r"class \w+Config\(\s*_cdktn_\w+\.TerraformMetaArguments,?\s*\):.*?def __init__\((.*?)\) -> None:",
        source,
        re.S,
    )
    assert match, f"no config class for {type_}"
    params = set(re.findall(r"^\s+(\w+):", match.group(1), re.M))
    for name in ("user_labels", "labels"):  # a notification channel's `labels` are its settings
        if name in params:
            return name
    return None
