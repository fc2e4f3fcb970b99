"""A DAG whose content changes between releases is archived with its old bytes before it is overwritten."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import DeployerEnv
from tests.deployer.conftest import Releases
from tests.deployer.helpers import cli, run
from tests.deployer.procs import Paused


def _publish(*ids: str) -> None:
    for rid in ids:
        assert cli("release", "publish", rid, "--env", "local").code == 0


def _old_bytes(releases: Releases, rid: str, path: str) -> bytes:
    return (releases.dir / rid / "files" / path).read_bytes()


def _archived(env: DeployerEnv) -> dict[str, bytes]:
    return env.objects(env.buckets("local")["artifacts"], "archive/")


def test_changed_dag_is_archived_with_its_old_bytes(
    env_with_releases: DeployerEnv, releases: Releases
) -> None:
    _publish(releases.a, releases.b)
    assert cli("promote", "--env", "local", "--release", releases.a, "--yes").code == 0

    plan = cli("plan", "--env", "local", "--release", releases.b, "--json").json()
    reasons = {item["uri"].split("/", 3)[-1]: item["reason"] for item in plan["archive"]}
    assert reasons == {"dags/b.py": "overwritten", "dags/c.py": "removed"}
    text = cli("plan", "--env", "local", "--release", releases.b).out
    assert "dags/b.py" in text and "(overwritten)" in text

    report = cli("promote", "--env", "local", "--release", releases.b, "--yes", "--json").json()
    assert report["archived"] == 2 and report["archived_overwritten"] == 1 and report["archive_copies"] == 2
    archived = _archived(env_with_releases)
    b_copy = next(name for name in archived if name.endswith(f"/{releases.a}/dags/b.py"))
    assert archived[b_copy] == _old_bytes(releases, releases.a, "dags/b.py")
    assert archived[b_copy] != _old_bytes(releases, releases.b, "dags/b.py")
    composer = env_with_releases.objects(env_with_releases.buckets("local")["composer"], "dags/")
    assert composer["dags/b.py"] == _old_bytes(releases, releases.b, "dags/b.py")
    assert cli("drift", "--env", "local").code == 0

    # The re-promotion of the same release archives nothing.
    again = cli("promote", "--env", "local", "--release", releases.b, "--yes", "--json").json()
    assert again["outcome"] == "unchanged" and again["archived"] == 0 and again["counters"]["copies"] == 0
    assert _archived(env_with_releases) == archived


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["dags-archive-copy:1", "dags-archived", "dags-upload:1", "dags"])
def test_kill_around_the_overwrite_keeps_the_old_version(
    env_with_releases: DeployerEnv, releases: Releases, tmp_path: Path, phase: str
) -> None:
    _publish(releases.a, releases.b)
    assert cli("promote", "--env", "local", "--release", releases.a, "--yes").code == 0
    args = ["promote", "--env", "local", "--release", releases.b, "--yes"]
    victim = Paused(env_with_releases, args, phase, tmp_path)
    victim.wait_paused()
    victim.kill()
    composer = env_with_releases.objects(env_with_releases.buckets("local")["composer"], "dags/")
    old = _old_bytes(releases, releases.a, "dags/b.py")
    if composer["dags/b.py"] != old:
        assert old in _archived(env_with_releases).values(), "b.py overwritten before it was archived"

    again = run(args, env_with_releases.environ())
    assert again.code == 0, again.err
    archived = _archived(env_with_releases)
    names = sorted(name.split("/", 2)[-1] for name in archived)
    # Archived under the release it came from, with its old bytes; the new version never archived.
    assert names == [f"{releases.a}/dags/b.py", f"{releases.a}/dags/c.py"]
    b_copy = next(name for name in archived if name.endswith("/dags/b.py"))
    assert archived[b_copy] == old
