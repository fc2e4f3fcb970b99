"""Rollback returns only to the manifest that was live: the digest recorded in the state when the release
went live must be the digest of the manifest the release store holds now (a rollback needs no new
approval, so a manifest replaced in the store would otherwise go live unapproved)."""

from __future__ import annotations

import json

from tests.conftest import DeployerEnv
from tests.deployer.conftest import Releases
from tests.deployer.helpers import cli, one_line_error

ENV = "local-prod"


def live(releases: Releases) -> None:
    """A goes live, then B (each with its own approval): A is the rollback target."""
    for rid in (releases.a, releases.b):
        assert cli("release", "publish", rid, "--env", ENV).code == 0
        made = cli("approval", "request", "--env", ENV, "--release", rid, "--as", "alice", "--json")
        assert cli("approval", "grant", made.json()["id"], "--env", ENV, "--as", "bob").code == 0
        assert cli("promote", "--env", ENV, "--release", rid, "--yes", "--as", "alice").code == 0


def replace_manifest(env: DeployerEnv, release: str) -> str:
    """Rewrite the store's manifest of `release`: same files, other bytes (so another digest)."""
    blob = env.client.bucket(env.buckets(ENV)["store"]).blob(f"releases/{release}/manifest.json")
    manifest = json.loads(blob.download_as_bytes())
    manifest["builder"] = "mallory@elsewhere"
    blob.upload_from_string(json.dumps(manifest).encode())
    return str(cli("plan", "--env", ENV, "--release", release, "--json").json()["digest"])


def test_rollback_to_a_replaced_manifest_is_refused(
    env_with_releases: DeployerEnv, releases: Releases
) -> None:
    live(releases)
    status = cli("status", "--env", ENV, "--json").json()
    recorded = cli("audit", "--env", ENV, "--json").json()["entries"]
    a_digest = next(e["digest"] for e in recorded if e["action"] == "promote" and e["release"] == releases.a)
    assert status["release"] == releases.b and status["previous_release"] == releases.a
    replaced = replace_manifest(env_with_releases, releases.a)
    assert replaced != a_digest
    composer = env_with_releases.buckets(ENV)["composer"]
    before = env_with_releases.snapshot(composer)

    for args in ((), ("--to", releases.a)):
        line = one_line_error(cli("rollback", "--env", ENV, *args, "--yes", "--as", "carol"), code=1)
        assert line == (
            f"error: rollback to {releases.a} refused: the store's manifest of {releases.a} has digest "
            f"{replaced}, but {releases.a} was live in {ENV} with {a_digest} (the release store's manifest "
            "was replaced)"
        )
        entry = cli("audit", "--env", ENV, "--json").json()["entries"][-1]
        assert (entry["action"], entry["outcome"], entry["actor"]) == ("rollback", "refused", "carol")
        assert (entry["release"], entry["digest"]) == (releases.a, replaced)
        assert entry["reason"] == line.removeprefix("error: ")
    assert env_with_releases.snapshot(composer) == before
    assert cli("status", "--env", ENV, "--json").json()["release"] == releases.b


def test_rollback_to_the_manifest_that_was_live(env_with_releases: DeployerEnv, releases: Releases) -> None:
    live(releases)
    back = cli("rollback", "--env", ENV, "--yes", "--as", "carol", "--json")
    assert back.code == 0, back.err
    assert (back.json()["release"], back.json()["approval"]) == (releases.a, None)
    state = cli("status", "--env", ENV, "--json").json()
    assert (state["release"], state["kind"]) == (releases.a, "rollback")
