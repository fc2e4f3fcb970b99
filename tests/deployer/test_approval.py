"""The prod approval gate (env `local-prod`, `promotion.requires_approval: true`, `promotion.approvers`
bob and carol): every refusal path."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import DeployerEnv, write_local_envs
from tests.deployer.conftest import Releases
from tests.deployer.helpers import cli, one_line_error

ENV = "local-prod"


def publish(*ids: str) -> None:
    for rid in ids:
        assert cli("release", "publish", rid, "--env", ENV).code == 0


def request(rid: str, who: str = "alice") -> str:
    result = cli("approval", "request", "--env", ENV, "--release", rid, "--as", who, "--json")
    assert result.code == 0, result.err
    return str(result.json()["id"])


def grant(request_id: str, who: str = "bob") -> None:
    result = cli("approval", "grant", request_id, "--env", ENV, "--as", who)
    assert result.code == 0, result.err


def promote(rid: str, *extra: str, who: str = "alice"):  # type: ignore[no-untyped-def]
    return cli("promote", "--env", ENV, "--release", rid, "--yes", "--as", who, *extra)


def refused(env: DeployerEnv, result, reason: str) -> None:  # type: ignore[no-untyped-def]
    """Exit 1, one line naming the reason, nothing written to the Composer bucket, and audited."""
    line = one_line_error(result, code=1)
    assert reason in line, line
    entries = cli("audit", "--env", ENV, "--json").json()["entries"]
    assert entries[-1]["outcome"] == "refused" and reason in entries[-1]["reason"], entries[-1]
    assert {
        "time",
        "actor",
        "authenticated",
        "action",
        "env",
        "release",
        "digest",
        "outcome",
        "reason",
    } <= set(entries[-1])


def rewrite(deployer_env: DeployerEnv, request_id: str, **changes: object) -> None:
    """Change an approval record in the bucket (what time passing or a forger would do)."""
    bucket = deployer_env.client.bucket(deployer_env.buckets(ENV)["artifacts"])
    blob = bucket.blob(f"deployer/approvals/{request_id}.json")
    data = json.loads(blob.download_as_bytes())
    data.update(changes)
    blob.upload_from_string(json.dumps(data).encode())


def dags(env: DeployerEnv) -> dict[str, bytes]:
    return env.objects(env.buckets(ENV)["composer"], "dags/")


def test_granted_approval_is_single_use(env_with_releases: DeployerEnv, releases: Releases) -> None:
    publish(releases.a, releases.b)
    rid = request(releases.a)
    grant(rid)
    result = promote(releases.a, "--json")
    assert result.code == 0, result.err
    assert result.json()["approval"] == {"id": rid, "approved_by": "bob"}
    listed = cli("approval", "list", "--env", ENV, "--json").json()["approvals"]
    assert [(a["id"], a["status"]) for a in listed] == [(rid, "consumed")]
    status = cli("status", "--env", ENV, "--json").json()
    assert status["approved_by"] == "bob" and status["last_promotion"]["approver"] == "bob"
    # Re-running the promotion of the live release converges without a new approval.
    assert promote(releases.a).code == 0

    rid_b = request(releases.b)
    grant(rid_b)
    assert promote(releases.b).code == 0
    # Replay: A's approval was used; promoting A again (not a rollback) needs a new one.
    before = dags(env_with_releases)
    refused(env_with_releases, promote(releases.a), "already used")
    assert dags(env_with_releases) == before
    # Rollback to a release that was live here needs no new approval (documented rule).
    back = cli("rollback", "--env", ENV, "--yes", "--as", "carol", "--json")
    assert back.code == 0, back.err
    assert back.json()["release"] == releases.a and back.json()["approval"] is None


def test_no_approval(env_with_releases: DeployerEnv, releases: Releases) -> None:
    publish(releases.a)
    refused(env_with_releases, promote(releases.a), "requires an approval and there is none")
    assert dags(env_with_releases) == {}


def test_requested_but_not_granted(env_with_releases: DeployerEnv, releases: Releases) -> None:
    publish(releases.a)
    request(releases.a)
    refused(env_with_releases, promote(releases.a), "not granted yet")


def test_approval_for_another_release(env_with_releases: DeployerEnv, releases: Releases) -> None:
    publish(releases.a, releases.b)
    grant(request(releases.b))
    refused(
        env_with_releases,
        promote(releases.a),
        f"granted approvals exist only for other releases ({releases.b})",
    )


def test_self_approval(env_with_releases: DeployerEnv, releases: Releases) -> None:
    publish(releases.a)
    rid = request(releases.a, "alice")
    result = cli("approval", "grant", rid, "--env", ENV, "--as", "alice")
    line = one_line_error(result, code=1)
    assert "approving your own request is not allowed" in line
    entries = cli("audit", "--env", ENV, "--json").json()["entries"]
    assert (entries[-1]["action"], entries[-1]["outcome"]) == ("approval-grant", "refused")
    # A self-grant forged into the bucket is refused by the gate too.
    soon = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    rewrite(env_with_releases, rid, status="granted", granted_by="alice", granted_at=soon, expires_at=soon)
    refused(env_with_releases, promote(releases.a), "self-approval")


def test_self_approval_ignores_case(env_with_releases: DeployerEnv, releases: Releases) -> None:
    publish(releases.a)
    rid = request(releases.a, "bob")
    line = one_line_error(cli("approval", "grant", rid, "--env", ENV, "--as", "BOB"), code=1)
    assert "approving your own request is not allowed" in line


def test_grant_by_someone_outside_the_approvers_is_refused_and_audited(
    env_with_releases: DeployerEnv, releases: Releases
) -> None:
    publish(releases.a)
    rid = request(releases.a, "alice")
    result = cli("approval", "grant", rid, "--env", ENV, "--as", "mallory")
    line = one_line_error(result, code=1)
    assert line == (
        "error: mallory is not an approver of local-prod: promotion.approvers in "
        "environments/local-prod.yaml lists bob, carol"
    )
    entry = cli("audit", "--env", ENV, "--json").json()["entries"][-1]
    assert (entry["action"], entry["outcome"], entry["actor"]) == ("approval-grant", "refused", "mallory")
    assert entry["reason"] == line.removeprefix("error: ") and entry["details"] == {"request_id": rid}
    listed = cli("approval", "list", "--env", ENV, "--json").json()["approvals"]
    assert [(a["id"], a["status"], a["granted_by"]) for a in listed] == [(rid, "requested", None)]
    # Nothing can be promoted on it, and a listed approver can still grant it.
    refused(env_with_releases, promote(releases.a), "not granted yet")
    grant(rid, "carol")
    assert promote(releases.a).code == 0


def test_grant_by_a_non_approver_forged_into_the_bucket(
    env_with_releases: DeployerEnv, releases: Releases
) -> None:
    publish(releases.a)
    rid = request(releases.a)
    soon = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    rewrite(env_with_releases, rid, status="granted", granted_by="mallory", granted_at=soon, expires_at=soon)
    refused(
        env_with_releases, promote(releases.a), "was granted by mallory, who is not an approver of local-prod"
    )
    assert dags(env_with_releases) == {}


def test_grant_by_an_approver_since_removed_from_the_file(
    env_with_releases: DeployerEnv, releases: Releases
) -> None:
    publish(releases.a)
    grant(request(releases.a), "bob")
    write_local_envs(
        env_with_releases.env_dir, env_with_releases.suffix, {ENV: {"promotion.approvers": ["carol"]}}
    )
    refused(
        env_with_releases,
        promote(releases.a),
        "was granted by bob, who is not an approver of local-prod (promotion.approvers in "
        "environments/local-prod.yaml)",
    )


def test_expired(env_with_releases: DeployerEnv, releases: Releases) -> None:
    publish(releases.a)
    rid = request(releases.a)
    grant(rid)
    past = datetime.now(UTC) - timedelta(hours=25)
    rewrite(
        env_with_releases,
        rid,
        granted_at=past.strftime("%Y-%m-%dT%H:%M:%SZ"),
        expires_at=(past + timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    refused(env_with_releases, promote(releases.a), "expired")


def test_expired_request_cannot_be_granted(env_with_releases: DeployerEnv, releases: Releases) -> None:
    publish(releases.a)
    rid = request(releases.a)
    rewrite(env_with_releases, rid, request_expires_at="2020-01-01T00:00:00Z")
    assert "expired" in one_line_error(cli("approval", "grant", rid, "--env", ENV, "--as", "bob"), code=1)


def test_approval_for_another_env(env_with_releases: DeployerEnv, releases: Releases) -> None:
    publish(releases.a)
    rid = request(releases.a)
    grant(rid)
    rewrite(env_with_releases, rid, env="local")  # e.g. copied over from another environment's bucket
    refused(env_with_releases, promote(releases.a), "is for environment local, not local-prod")


def test_manifest_tampered_after_approval(env_with_releases: DeployerEnv, releases: Releases) -> None:
    publish(releases.a)
    grant(request(releases.a))
    store = env_with_releases.client.bucket(env_with_releases.buckets(ENV)["store"])
    blob = store.blob(f"releases/{releases.a}/manifest.json")
    manifest = json.loads(blob.download_as_bytes())
    manifest["builder"] = "mallory@elsewhere"  # same files, other bytes: another digest
    blob.upload_from_string(json.dumps(manifest).encode())
    refused(env_with_releases, promote(releases.a), "manifest changed after approval")


def test_files_changed_after_approval(env_with_releases: DeployerEnv, releases: Releases) -> None:
    publish(releases.a)
    grant(request(releases.a))
    store = env_with_releases.client.bucket(env_with_releases.buckets(ENV)["store"])
    store.blob(f"releases/{releases.a}/files/dags/b.py").upload_from_string(b"import os\nos.system('id')\n")
    refused(env_with_releases, promote(releases.a), "tampered store")
    assert dags(env_with_releases) == {}


def test_bad_request_ids(env_with_releases: DeployerEnv, releases: Releases) -> None:
    assert "not an approval request id" in one_line_error(cli("approval", "grant", "../x", "--env", ENV))
    assert "does not exist" in one_line_error(
        cli("approval", "grant", "ar-20260101t000000z-deadbeef", "--env", ENV, "--as", "bob")
    )
    assert "is not published" in one_line_error(
        cli("approval", "request", "--env", ENV, "--release", releases.a, "--as", "alice")
    )


@pytest.mark.parametrize("name", ["", "bad name", "x" * 200])
def test_bad_actor_names(env_with_releases: DeployerEnv, releases: Releases, name: str) -> None:
    publish(releases.a)
    assert "--as" in one_line_error(
        cli("approval", "request", "--env", ENV, "--release", releases.a, "--as", name)
    )
