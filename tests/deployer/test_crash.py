"""A promotion SIGKILLed at any phase converges when run again, and no moment breaks the invariants:

- every URI and path in dags/runtime_config.json exists (no DAG points at a missing artifact);
- every file of the previous release's DAG folder is still there or archived (nothing lost);
- the state record names a release whose files are all present.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from platform_model.manifest import parse_manifest
from tests.conftest import DeployerEnv
from tests.deployer.conftest import Releases
from tests.deployer.helpers import cli, run
from tests.deployer.procs import Paused

pytestmark = pytest.mark.slow

PHASES = [
    "locked",
    "artifacts-upload:1",
    "artifacts",
    "data",
    "runtime-config",
    "dags-archived",
    "dags-upload:1",
    "dags",
    "archive-copied",
    "before-state",
    "after-state",
    "after-approval",
    "archive-remove:1",
    "archived",
    "before-unlock",
]


def check_invariants(env: DeployerEnv, env_name: str, releases_dir: Path, previous: str) -> None:
    buckets = env.buckets(env_name)
    composer = env.objects(buckets["composer"])
    artifacts = env.objects(buckets["artifacts"])
    config = json.loads(composer["dags/runtime_config.json"])
    for job in config["spark"]["jobs"].values():
        for uri in [job["main_python_file_uri"], *job["python_file_uris"], *job["jar_file_uris"]]:
            prefix = f"gs://{buckets['artifacts']}/"
            if uri.startswith(prefix):
                assert uri.removeprefix(prefix) in artifacts, f"runtime config references missing {uri}"
    for key in ("dbt", "gx"):
        path = config[key]["project_path" if key == "dbt" else "suites_path"]
        assert any(name.startswith(path + "/") for name in composer), f"missing {path}"
    old = parse_manifest((releases_dir / previous / "manifest.json").read_bytes(), previous)
    for entry in old.component_files("dags"):
        if entry.path not in composer:
            assert any(
                a.endswith(f"/{previous}/{entry.path}") for a in artifacts if a.startswith("archive/")
            ), f"{entry.path} of {previous} is gone without an archived copy"
    state = json.loads(artifacts["deployer/state.json"])
    live = state["current"]["release"]
    manifest = parse_manifest((releases_dir / live / "manifest.json").read_bytes(), live)
    for entry in manifest.component_files("dags"):
        assert entry.path in composer, f"state names {live} but {entry.path} is missing"
    jobs = manifest.components["jobs"]
    for entry in manifest.component_files("jobs"):
        assert f"jobs/{jobs}/{entry.path.removeprefix('jobs/')}" in artifacts


@pytest.mark.parametrize("phase", PHASES)
def test_kill_at_phase_then_converge(
    env_with_releases: DeployerEnv, releases: Releases, tmp_path: Path, phase: str
) -> None:
    for rid in (releases.a, releases.c):
        assert cli("release", "publish", rid, "--env", "local").code == 0
    assert cli("promote", "--env", "local", "--release", releases.a, "--yes").code == 0
    args = ["promote", "--env", "local", "--release", releases.c, "--yes"]

    victim = Paused(env_with_releases, args, phase, tmp_path)
    victim.wait_paused()
    victim.kill()
    check_invariants(env_with_releases, "local", releases.dir, releases.a)

    again = run([*args, "--json"], env_with_releases.environ())
    assert again.code == 0, again.err
    check_invariants(env_with_releases, "local", releases.dir, releases.a)
    state = cli("status", "--env", "local", "--json").json()
    assert state["release"] == releases.c and state["previous_release"] == releases.a
    assert cli("drift", "--env", "local").code == 0
    archived = env_with_releases.objects(env_with_releases.buckets("local")["artifacts"], "archive/")
    assert sorted(n.split("/", 3)[-1] for n in archived) == ["dags/b.py", "dags/c.py"]
    # Converged: one more run uploads nothing.
    final = cli("promote", "--env", "local", "--release", releases.c, "--yes", "--json").json()
    assert final["uploaded"] == 0 and final["counters"]["uploads"] == 0


def test_kill_after_state_still_consumes_the_approval(
    env_with_releases: DeployerEnv, releases: Releases, tmp_path: Path
) -> None:
    env = "local-prod"
    assert cli("release", "publish", releases.a, "--env", env).code == 0
    request_id = cli(
        "approval", "request", "--env", env, "--release", releases.a, "--as", "alice", "--json"
    ).json()["id"]
    assert cli("approval", "grant", request_id, "--env", env, "--as", "bob").code == 0
    args = ["promote", "--env", env, "--release", releases.a, "--yes", "--as", "alice"]
    victim = Paused(env_with_releases, args, "after-state", tmp_path)
    victim.wait_paused()
    victim.kill()
    approvals = cli("approval", "list", "--env", env, "--json").json()["approvals"]
    assert approvals[0]["status"] == "granted"
    again = run(args, env_with_releases.environ())
    assert again.code == 0, again.err
    approvals = cli("approval", "list", "--env", env, "--json").json()["approvals"]
    assert approvals[0]["status"] == "consumed", "a killed run must not leave a reusable approval behind"
