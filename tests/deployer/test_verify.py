"""`deployer verify` and the paused leftovers, against the real local Airflow (one per session) fed from
the GCS emulator's Composer bucket, with releases built from the repository's DAG library."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from deployer.release import build_release
from platform_model import REPO_ROOT
from platform_model.domain import load_domains
from tests import airflow_fixture
from tests.airflow_fixture import AirflowOn
from tests.deployer.conftest import build_environments
from tests.deployer.helpers import cli, dag_source, make_jobs, make_tree, one_line_error

pytestmark = pytest.mark.slow
local_airflow = airflow_fixture.local_airflow
airflow_on = airflow_fixture.airflow_on

DAG_LIBRARY = REPO_ROOT / "composer" / "dags"
LEFTOVER = "leftover_probe"
# Passes the build (which parses with PLATFORM_RUNTIME_CONFIG set) and breaks in Airflow, which has no
# such variable: the kind of error only the environment's own Airflow shows.
BROKEN = '''"""Reads a variable only the build sets."""

import os

from airflow.sdk import DAG

CONFIG = os.environ["PLATFORM_RUNTIME_CONFIG"]

with DAG(dag_id="broken_probe", schedule=None):
    pass
'''


@dataclass(frozen=True)
class AirflowReleases:
    """Releases of the real DAG library: with an extra DAG file, without it, with a broken file."""

    dir: Path
    with_extra: str
    without_extra: str
    broken: str


def _library() -> dict[str, str]:
    return {
        p.relative_to(DAG_LIBRARY).as_posix(): p.read_text()
        for p in sorted(DAG_LIBRARY.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


@pytest.fixture(scope="session")
def airflow_releases(tmp_path_factory: pytest.TempPathFactory) -> AirflowReleases:
    """Build the three releases once."""
    base = tmp_path_factory.mktemp("airflow-releases")
    out = base / "releases"
    envs = build_environments(base / "environments")
    jobs = make_jobs(base / "jobs")
    ids = []
    for name, extra in (
        ("with", {"leftover.py": dag_source(LEFTOVER)}),
        ("without", {}),
        ("broken", {"broken.py": BROKEN}),
    ):
        root = make_tree(base / f"src-{name}", {**_library(), **extra})
        ids.append(build_release(root, out, jobs_dir=jobs, run_checks=False, environments_dir=envs).release)
    return AirflowReleases(out, *ids)


def _promote(on: AirflowOn, releases: AirflowReleases, rid: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYER_RELEASES_DIR", str(releases.dir))
    result = cli("release", "publish", rid, "--env", "local")
    assert result.code == 0, result.err
    result = cli("promote", "--env", "local", "--release", rid, "--yes", "--json")
    assert result.code == 0, result.err


def _declared() -> list[str]:
    return [dag for domain in load_domains().values() for dag in domain.dag_ids()]


def test_a_promoted_release_goes_live(
    airflow_on: AirflowOn, airflow_releases: AirflowReleases, monkeypatch: pytest.MonkeyPatch
) -> None:
    begin = time.monotonic()
    _promote(airflow_on, airflow_releases, airflow_releases.with_extra, monkeypatch)
    result = cli("verify", "--env", "local", "--timeout", "240")
    took = time.monotonic() - begin
    assert result.code == 0, (result.out, result.err)
    assert f"{airflow_releases.with_extra} live in local after " in result.out
    print(f"\npromote -> live: {took:.1f} s (verify printed: {result.out.splitlines()[0]})")
    as_json = cli("verify", "--env", "local", "--release", airflow_releases.with_extra, "--json").json()
    assert as_json["status"] == "live" and as_json["import_errors"] == []
    assert set(as_json["dags"]) == set(_declared()) and set(as_json["dags"].values()) == {"live"}
    # Every DAG Airflow parsed carries the release's component digests.
    dags = {d["dag_id"]: d for d in airflow_on.airflow.api("GET", "/api/v2/dags?limit=100")["dags"]}
    for dag_id in _declared():
        tags = {t["name"] for t in dags[dag_id]["tags"]}
        assert "env:local" in tags and any(t.startswith("jobs-") for t in tags), tags


def test_a_broken_dag_file_is_reported_and_exits_1(
    airflow_on: AirflowOn, airflow_releases: AirflowReleases, monkeypatch: pytest.MonkeyPatch
) -> None:
    _promote(airflow_on, airflow_releases, airflow_releases.broken, monkeypatch)
    result = cli("verify", "--env", "local", "--timeout", "240", "--json")
    assert result.code == 1, (result.out, result.err)
    verdict = result.json()
    assert verdict["status"] == "import_errors"
    assert [e["file"] for e in verdict["import_errors"]] == ["dags/broken.py"]
    assert "KeyError: 'PLATFORM_RUNTIME_CONFIG'" in verdict["import_errors"][0]["message"]
    text = cli("verify", "--env", "local", "--timeout", "60")
    assert text.code == 1
    assert "import error dags/broken.py: KeyError: 'PLATFORM_RUNTIME_CONFIG'" in text.out


def test_a_dag_whose_file_is_removed_is_paused_with_its_runs_kept(
    airflow_on: AirflowOn, airflow_releases: AirflowReleases, monkeypatch: pytest.MonkeyPatch
) -> None:
    airflow = airflow_on.airflow
    _promote(airflow_on, airflow_releases, airflow_releases.with_extra, monkeypatch)
    assert cli("verify", "--env", "local", "--timeout", "240").code == 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        known = {d["dag_id"]: d for d in airflow.api("GET", "/api/v2/dags?limit=100")["dags"]}
        if LEFTOVER in known and not known[LEFTOVER]["is_stale"]:
            break
        time.sleep(1)
    run = airflow.api("POST", f"/api/v2/dags/{LEFTOVER}/dagRuns", {"logical_date": None})
    _promote(airflow_on, airflow_releases, airflow_releases.without_extra, monkeypatch)
    result = cli("verify", "--env", "local", "--timeout", "240", "--json")
    assert result.code == 0, (result.out, result.err)
    assert LEFTOVER in result.json()["paused_leftovers"]
    dag = airflow.api("GET", f"/api/v2/dags/{LEFTOVER}")
    assert dag["is_paused"] is True
    runs = airflow.api("GET", f"/api/v2/dags/{LEFTOVER}/dagRuns")["dag_runs"]
    assert run["dag_run_id"] in [r["dag_run_id"] for r in runs]
    # Paused once: verify again pauses nothing new, and the leftover stays listed for `deployer status`.
    again = cli("verify", "--env", "local", "--json").json()
    assert again["paused_leftovers"] == []
    from deployer.context import load_env, open_target
    from deployer.verify import status_leftovers

    listed = status_leftovers(open_target(load_env("local")))["leftovers"]
    mine = [d for d in listed if d["dag_id"] == LEFTOVER]
    assert len(mine) == 1 and mine[0]["is_paused"] is True, listed


def test_bad_arguments_exit_2(airflow_on: AirflowOn) -> None:
    assert "--timeout" in one_line_error(cli("verify", "--env", "local", "--timeout", "0"))
    assert "release id" in one_line_error(cli("verify", "--env", "local", "--release", "nope")).lower()
    assert "no live release" in one_line_error(cli("verify", "--env", "local"))
    assert "nowhere" in one_line_error(cli("verify", "--env", "nowhere"))
