"""Releases built once per session (each build parses the DAGs with Airflow's DagBag once per environment
of its environments folder: here the one `local` file, ~4 s), shared read-only.

A: dags a, b, c (+ a helper package), jobs v1
B: a unchanged, b changed, c removed, d added, jobs v1 (same jobs digest as A)
C: like B, jobs v2 and another dbt model
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from deployer.release import build_release
from tests.conftest import DeployerEnv, write_local_envs
from tests.deployer.helpers import dag_source, make_jobs, make_tree

HELPER = "def answer() -> int:\n    return 42\n"


@dataclass(frozen=True)
class Releases:
    """Ids of the session's releases and the folder holding them."""

    dir: Path
    a: str
    b: str
    c: str


@pytest.fixture(scope="session")
def releases(tmp_path_factory: pytest.TempPathFactory) -> Releases:
    """Build releases A, B and C once."""
    base = tmp_path_factory.mktemp("releases")
    out = base / "releases"
    envs = build_environments(base / "environments")
    dags_a = {
        "a.py": dag_source("dag_a"),
        "b.py": dag_source("dag_b"),
        "c.py": dag_source("dag_c"),
        "lib/helpers.py": HELPER,
        ".airflowignore": "lib/\n",
    }
    dags_b = {k: v for k, v in dags_a.items() if k != "c.py"}
    dags_b["b.py"] = dag_source("dag_b", task="t2")
    dags_b["d.py"] = dag_source("dag_d")
    ids = []
    for name, dags, jobs_version, model in (
        ("a", dags_a, "1", "select 1 as id\n"),
        ("b", dags_b, "1", "select 1 as id\n"),
        ("c", dags_b, "2", "select 2 as id\n"),
    ):
        root = make_tree(base / f"src-{name}", dags, dbt_model=model)
        jobs = make_jobs(base / f"jobs-{name}", jobs_version)
        ids.append(build_release(root, out, jobs_dir=jobs, run_checks=False, environments_dir=envs).release)
    return Releases(out, *ids)


def build_environments(folder: Path, names: tuple[str, ...] = ("local",)) -> Path:
    """A folder of the committed local environment files `names`: what a test build parses its DAGs
    for (one DagBag load per file)."""
    write_local_envs(folder, "build")
    for path in folder.glob("*.yaml"):
        if path.stem not in names:
            path.unlink()
    return folder


@pytest.fixture
def env_with_releases(
    deployer_env: DeployerEnv, releases: Releases, monkeypatch: pytest.MonkeyPatch
) -> DeployerEnv:
    """`deployer_env` whose releases folder holds the session's built releases."""
    monkeypatch.setenv("DEPLOYER_RELEASES_DIR", str(releases.dir))
    deployer_env.releases_dir = releases.dir
    return deployer_env
