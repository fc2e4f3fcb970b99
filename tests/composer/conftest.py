"""DAG folders to test: copies of composer/dags with a runtime config built by `platform_model.runtime.build`
(through `composer.runtime_config.for_repo`) for a gcp environment (staging) or the local one."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from composer.dag_check import dag_report
from composer.runtime_config import for_repo, write
from platform_model.environment import DomainOverride, Environment, load_environment
from platform_model.runtime import RuntimeConfig

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "composer" / "dags"
DAG_FILES = sorted(p.name for p in DAGS.glob("*.py"))
PLATFORM_ENVS = {"gcp": "staging", "local": "local"}
COMPONENTS = {
    "jobs": "0f1e2d3c4b5a6978",  # pragma: allowlist secret (a test release's component digest)
    "dbt": "dbt0a1b2c3d4e5f",
    "gx": "gx9f8e7d6c5b4a",
}

# Airflow imported in this process (alert e-mail, operators) keeps its files out of the home folder, in a
# directory of its own that goes when the process ends.
if "AIRFLOW_HOME" not in os.environ:
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="airflow-home-tests-")
    atexit.register(shutil.rmtree, os.environ["AIRFLOW_HOME"], ignore_errors=True)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")


def environment(platform: str = "gcp", **overrides: DomainOverride) -> Environment:
    """The environment of a platform (staging for gcp), with per-domain `overrides` replacing its own."""
    env = load_environment(PLATFORM_ENVS[platform])
    return env.model_copy(update={"domains": overrides}) if overrides else env


def runtime_config(platform: str = "gcp", **overrides: DomainOverride) -> RuntimeConfig:
    """The runtime config of the platform's environment for the repo's domains (the one builder)."""
    env = environment(platform, **overrides)
    base = (
        f"gs://{env.buckets.artifacts.name}/jobs/{COMPONENTS['jobs']}/"
        if platform == "gcp"
        else "file:///tmp/jobs/"
    )
    return for_repo(env, jobs_base=base, components=COMPONENTS)


def stage_dags(root: Path, config: RuntimeConfig | str | None) -> Path:
    """Copy composer/dags to `root/dags` with `config` as runtime_config.json (None: no file)."""
    folder = root / "dags"
    shutil.copytree(DAGS, folder, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
    if isinstance(config, RuntimeConfig):
        write(config, folder)
    elif isinstance(config, str):
        (folder / "runtime_config.json").write_text(config, encoding="utf-8")
    return folder


def probe(path: Path, tmp: Path) -> dict[str, Any]:
    """Load a DAG file or folder through DagBag in a fresh interpreter (composer.dag_check)."""
    return dag_report(path, airflow_home=tmp / "airflow-home")


@pytest.fixture
def gcp_config() -> RuntimeConfig:
    """A staging (gcp) runtime config."""
    return runtime_config("gcp")
