"""Shared fixtures: one GCS emulator per test session, and a fresh set of buckets per test.

    def test_something(deployer_env):          # STORAGE_EMULATOR_HOST, DEPLOYER_ENV_DIR ... are set
        deployer_env.client.list_blobs(deployer_env.buckets("local")["artifacts"])

`gcs_emulator` is the real fake-gcs-server binary (memory backend) on a free loopback port.
`deployer_env` writes the `local` and `local-prod` environment files into a temp folder with bucket
names unique to the test, so tests share the emulator without seeing each other's objects, and points
the deployer at them (`DEPLOYER_ENV_DIR`) and at a temp releases folder (`DEPLOYER_RELEASES_DIR`).
The files keep the committed shape (shared datasets `raw_local` ..., no Pub/Sub topics: those come
from the domains); `write_local_envs(..., overrides)` sets dotted paths, e.g.
`{"local": {"domains.revenue.enabled": False}}` switches a domain off in `local`.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from deployer.emulator import Emulator
from platform_model.environment import ENVIRONMENTS_DIR

LOCAL_ENVS = ("local", "local-prod")

# The DAG folder on sys.path, as Airflow puts it: the DAG library (`pipelines`) imports like on Composer.
DAG_FOLDER = Path(__file__).resolve().parent.parent / "composer" / "dags"
if str(DAG_FOLDER) not in sys.path:
    sys.path.insert(0, str(DAG_FOLDER))


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[Emulator]:
    """A fake-gcs-server for the whole session (stopped at the end, also on failures)."""
    with Emulator() as emulator:
        yield emulator


@dataclass
class DeployerEnv:
    """Generated local environments with buckets of their own, in the session's emulator."""

    env_dir: Path
    releases_dir: Path
    emulator_url: str
    suffix: str

    def environment(self, name: str) -> dict[str, Any]:
        """The parsed environment file `name`."""
        return dict(yaml.safe_load((self.env_dir / f"{name}.yaml").read_text()))

    def buckets(self, name: str) -> dict[str, str]:
        """artifacts, composer and store bucket names of environment `name`."""
        env = self.environment(name)
        return {
            "artifacts": env["buckets"]["artifacts"]["name"],
            "composer": env["composer"]["dag_bucket"],
            "store": env["promotion"]["release_store"],
        }

    def environ(self, **extra: str) -> dict[str, str]:
        """Environment variables for a deployer subprocess acting on these environments."""
        env = dict(os.environ)
        env.update(
            STORAGE_EMULATOR_HOST=self.emulator_url,
            DEPLOYER_ENV_DIR=str(self.env_dir),
            DEPLOYER_RELEASES_DIR=str(self.releases_dir),
            DEPLOYER_GCS_RETRY_DEADLINE="10",
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            PYTHONDONTWRITEBYTECODE="1",
        )
        env.update(extra)
        return env

    @property
    def client(self) -> Any:
        """A google-cloud-storage client on the emulator (to inspect buckets directly)."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(project="acme-data-local", credentials=AnonymousCredentials())

    def objects(self, bucket: str, prefix: str = "") -> dict[str, bytes]:
        """Every object under `prefix` with its content (empty when the bucket does not exist)."""
        from google.api_core.exceptions import NotFound

        try:
            return {b.name: b.download_as_bytes() for b in self.client.list_blobs(bucket, prefix=prefix)}
        except NotFound:
            return {}

    def snapshot(self, *buckets: str) -> dict[str, tuple[int, str | None]]:
        """`bucket/name` -> (generation, md5) of every object: compare before/after to prove no writes."""
        from google.api_core.exceptions import NotFound

        out: dict[str, tuple[int, str | None]] = {}
        for bucket in buckets:
            try:
                for blob in self.client.list_blobs(bucket):
                    out[f"{bucket}/{blob.name}"] = (int(blob.generation), blob.md5_hash)
            except NotFound:
                continue
        return out


def write_local_envs(env_dir: Path, suffix: str, overrides: dict[str, dict[str, Any]] | None = None) -> None:
    """Copy the committed local environment files into `env_dir` with bucket names ending in `suffix`.

    `overrides`: environment name -> {dotted path: value}; a value of None removes the key, missing
    mappings on the way are created (`domains.<domain>.enabled` in a file that has no `domains:`)."""
    env_dir.mkdir(parents=True, exist_ok=True)
    store = f"acme-releases-{suffix}"
    for name in LOCAL_ENVS:
        data = yaml.safe_load((ENVIRONMENTS_DIR / f"{name}.yaml").read_text())
        short = "lp" if name == "local-prod" else "l"
        for key in ("artifacts", "dataproc_staging", "dataproc_temp"):
            data["buckets"][key]["name"] = f"t-{suffix}-{short}-{key.replace('_', '-')}"
        data["buckets"].pop("releases", None)
        data["composer"]["dag_bucket"] = f"t-{suffix}-{short}-composer"
        data["promotion"]["release_store"] = store
        for path, value in (overrides or {}).get(name, {}).items():
            node = data
            keys = path.split(".")
            for key in keys[:-1]:
                node = node.setdefault(key, {})
            if value is None:
                node.pop(keys[-1], None)
            else:
                node[keys[-1]] = value
        (env_dir / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.fixture
def deployer_env(gcs_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DeployerEnv:
    """Fresh buckets for this test in the shared emulator, and the variables pointing the deployer at them."""
    suffix = uuid.uuid4().hex[:10]
    env_dir = tmp_path / "environments"
    write_local_envs(env_dir, suffix)
    releases_dir = tmp_path / "releases"
    releases_dir.mkdir()
    result = DeployerEnv(env_dir, releases_dir, gcs_emulator.url, suffix)
    for key, value in result.environ().items():
        if os.environ.get(key) != value:
            monkeypatch.setenv(key, value)
    monkeypatch.delenv("DEPLOYER_ENV", raising=False)
    monkeypatch.delenv("DEPLOYER_TEST_PAUSE_AT", raising=False)
    # A `deployer airflow start` of this machine (.gen/airflow/) is not the tests' Airflow: promote
    # would ask it for DAG runs.
    monkeypatch.setenv("DEPLOYER_AIRFLOW_STATE_DIR", str(tmp_path / "airflow-state"))
    return result


# The release build refuses a DAG file that parses in over 200 ms (a gate for users' releases). The suite
# runs three workers on two cores, where the repo's DAG files took 300 ms: a timing the suite cannot hold.
# The gate itself is tested with DAG files far over and under a budget (tests/deployer/test_parse_budget.py
# sets its own), and `python -m bench --only dag_parse` prints the real files' parse times against 200 ms.
os.environ.setdefault("DEPLOYER_DAG_PARSE_BUDGET_MS", "3000")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Hand the slow files out first, the longest first (`make test` runs `-n 3 --dist loadscope`: a
    scope, a module or a test class, stays on one worker), so that no long file starts last and runs
    alone at the end. A file's weight is the largest `seconds` its `slow` marks give (1 if none)."""
    weight: dict[str, float] = {}
    for item in items:
        mark = item.get_closest_marker("slow")
        if mark is not None:
            path = item.nodeid.split("::", 1)[0]
            weight[path] = max(weight.get(path, 0.0), float(mark.kwargs.get("seconds", 1)))
    # A stable sort: the files keep their order otherwise and each file stays whole.
    items.sort(key=lambda item: -weight.get(item.nodeid.split("::", 1)[0], 0.0))
