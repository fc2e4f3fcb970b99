"""Synthesize once per session (`ensure_synth`, shared through its input hash), then read the JSON.

Two synths per session at most: the committed inputs (`stacks`, shared with every other test through
`cdktf.out`), and one of a temp copy (`extra`) where a third domain is added from files only and switched
off in one environment, and a third environment switches data lineage off.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra import REPO_ROOT
from infra.domains import deployed, load_all
from infra.synth import ensure_synth
from platform_model.domain import DOMAINS_DIR, Domain
from platform_model.environment import ENVIRONMENTS_DIR, Environment, load_environment
from platform_model.environment import load_all as load_environments

Stack = dict[str, Any]
PROVIDER = REPO_ROOT / ".venv/lib/python3.11/site-packages/cdktn_provider_google"

NEW_DOMAIN = "suppliers"
"""The domain added in the extra synth: a renamed copy of `template()` (as a new user would add one)."""
ON_ENV, OFF_ENV = "dev", "staging"
"""The extra synth: the new domain runs in `ON_ENV` and is switched off in `OFF_ENV`."""
LINEAGE_OFF_ENV = "prod"
"""The extra synth: `LINEAGE_OFF_ENV`'s file with `lineage.enabled: false` (and the new domain off, so
its stack differs from the committed one by the lineage switch alone)."""


@pytest.fixture(scope="session")
def outdir() -> Path:
    """cdktf.out, synthesized from the committed inputs (a no-op when already current)."""
    return ensure_synth()


@pytest.fixture(scope="session")
def envs() -> dict[str, Environment]:
    """The GCP environments, by name."""
    return {name: env for name, env in load_environments().items() if env.platform == "gcp"}


@pytest.fixture(scope="session")
def domains(envs: dict[str, Environment]) -> dict[str, dict[str, Domain]]:
    """Environment -> the domains of `domains/` it deploys (its overrides applied), by name."""
    every = load_all(DOMAINS_DIR)
    return {name: deployed(env, every) for name, env in envs.items()}


@pytest.fixture(scope="session")
def stacks(outdir: Path, envs: dict[str, Environment]) -> dict[str, Stack]:
    """Each stack's cdk.tf.json, by stack name."""
    return {name: read_stack(outdir, name) for name in envs}


def read_stack(outdir: Path, name: str) -> Stack:
    """The synthesized `cdk.tf.json` of stack `name`."""
    return json.loads((outdir / "stacks" / name / "cdk.tf.json").read_text())  # type: ignore[no-any-return]


def template(domains: dict[str, Domain]) -> Domain:
    """The domain a new one is copied from: the first (by name) with an event, a PII secret, GX suites
    and DAGs, so the copy brings every kind of resource a domain gets."""
    return next(d for _, d in sorted(domains.items()) if d.event and d.pii_secret and d.gx_suites and d.dags)


def copy_domain(source: Path, target: Path, old: str, new: str) -> None:
    """`domains/<old>.yaml` copied to `<new>.yaml` with every name inside renamed (topic, tables, jobs,
    secret, suites, dbt folder): the first step of adding a domain."""
    target.write_text(source.read_text().replace(old, new))


@dataclass(frozen=True)
class Extra:
    """The synth of a temp copy: `domains/` plus `NEW_DOMAIN`; `OFF_ENV` switches it off;
    `LINEAGE_OFF_ENV` switches it and data lineage off."""

    outdir: Path
    template: str
    """The domain `NEW_DOMAIN` is a copy of."""
    domains_dir: Path
    envs_dir: Path
    stacks: dict[str, Stack]
    envs: dict[str, Environment]
    domains: dict[str, dict[str, Domain]]


@pytest.fixture(scope="session")
def extra(tmp_path_factory: pytest.TempPathFactory) -> Extra:
    """A third domain added from files only (a renamed copy of `TEMPLATE`), deployed to `ON_ENV` and
    switched off in `OFF_ENV` (`domains.<new>.enabled: false`); `LINEAGE_OFF_ENV` with the domain and
    `lineage.enabled` off; those three stacks synthesized (in the one synth)."""
    root = tmp_path_factory.mktemp("third-domain")
    domains_dir = root / "domains"
    shutil.copytree(DOMAINS_DIR, domains_dir)
    old = template(load_all(DOMAINS_DIR)).domain
    copy_domain(DOMAINS_DIR / f"{old}.yaml", domains_dir / f"{NEW_DOMAIN}.yaml", old, NEW_DOMAIN)
    envs_dir = root / "environments"
    envs_dir.mkdir()
    shutil.copy(ENVIRONMENTS_DIR / f"{ON_ENV}.yaml", envs_dir / f"{ON_ENV}.yaml")
    for name, lineage in ((OFF_ENV, None), (LINEAGE_OFF_ENV, False)):
        off = yaml.safe_load((ENVIRONMENTS_DIR / f"{name}.yaml").read_text())
        off.setdefault("domains", {})[NEW_DOMAIN] = {"enabled": False}
        if lineage is not None:
            off["lineage"] = {"enabled": lineage}
        (envs_dir / f"{name}.yaml").write_text(yaml.safe_dump(off, sort_keys=False))
    out = ensure_synth(root / "out", envs_dir, domains=domains_dir)
    envs = {name: load_environment(name, envs_dir) for name in (ON_ENV, OFF_ENV, LINEAGE_OFF_ENV)}
    every = load_all(domains_dir)
    return Extra(
        outdir=out,
        template=old,
        domains_dir=domains_dir,
        envs_dir=envs_dir,
        stacks={name: read_stack(out, name) for name in envs},
        envs=envs,
        domains={name: deployed(env, every) for name, env in envs.items()},
    )


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
