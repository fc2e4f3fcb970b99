"""The runtime config of an environment for this repository's domains, built by
`platform_model.runtime.build` (the one builder) for stagings that are not a promoted release: the
local run (`composer.local_run`), the DAG-integrity tests and the DAG parse benchmark.

A promotion renders the file from the release instead (`platform_model.runtime.render`); both go
through the same builder, so what the DAGs read here is what they read on Composer.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dataproc_jobs.build import discover_jobs, job_index
from platform_model.domain import Domain, load_for
from platform_model.environment import Environment
from platform_model.runtime import RUNTIME_CONFIG_NAME, RuntimeConfig, build, to_bytes


def for_repo(
    env: Environment,
    *,
    jobs_base: str,
    components: Mapping[str, str],
    jobs: Mapping[str, Mapping[str, Any]] | None = None,
    domains: Mapping[str, Domain] | None = None,
    policy_tags: Mapping[str, str] | None = None,
) -> RuntimeConfig:
    """The runtime config of `env` for the repository's domains as `env` deploys them.

    `jobs`: the jobs.json index of a build (default: the one `dataproc_jobs.build` would write for the
    domains, without building); `domains`: resolved domains (default: `load_for(env)`);
    `policy_tags`: display name -> id (default: the environment's deterministic local ids).
    """
    return build(
        env,
        load_for(env) if domains is None else domains,
        components=components,
        jobs=job_index(discover_jobs()) if jobs is None else jobs,
        jobs_base=jobs_base,
        policy_tags=env.local_policy_tag_ids() if policy_tags is None else policy_tags,
    )


def write(config: RuntimeConfig, dag_folder: Path) -> Path:
    """Write `config` as `runtime_config.json` into `dag_folder`; its path."""
    path = dag_folder / RUNTIME_CONFIG_NAME
    path.write_bytes(to_bytes(config))
    return path
