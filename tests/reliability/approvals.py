"""Approval attacks on a prod-like environment (`local-prod`, `promotion.requires_approval: true`,
`promotion.approvers` bob and carol: requests are made as alice, grants as bob).

Every attack is refused with exit 1 and one line naming its reason, the refusal is the newest entry of
the audit log (`deployer audit --json`) with that reason, and the Composer bucket does not change. An
attack ends with a promotion of the release it returns, or with the command it returns (a rollback).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from tests.reliability.harness import Section, World

ENV = "local-prod"


def _request(world: World, release: str, who: str = "alice") -> str:
    result = world.run(["approval", "request", "--env", ENV, "--release", release, "--as", who, "--json"])
    if result.code != 0:
        raise RuntimeError(f"approval request: {result.err}")
    return str(json.loads(result.out)["id"])


def _grant(world: World, request_id: str, who: str = "bob") -> None:
    result = world.run(["approval", "grant", request_id, "--env", ENV, "--as", who])
    if result.code != 0:
        raise RuntimeError(f"approval grant: {result.err}")


def _rewrite(world: World, request_id: str, **changes: object) -> None:
    """What a forger (or time passing) does to an approval record."""
    blob = world.client.bucket(world.buckets(ENV)["artifacts"]).blob(f"deployer/approvals/{request_id}.json")
    data = json.loads(blob.download_as_bytes())
    data.update(changes)
    blob.upload_from_string(json.dumps(data).encode())


def _stamp(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def _restore_store(world: World, release: str) -> None:
    """Put the published copy back as it was built (undo a previous attack's tampering)."""
    store = world.client.bucket(world.buckets(ENV)["store"])
    base = world.releases_dir / release
    for blob in store.list_blobs(prefix=f"releases/{release}/"):
        rel = blob.name.removeprefix(f"releases/{release}/")
        source = base / rel
        if source.is_file() and blob.download_as_bytes() != source.read_bytes():
            store.blob(blob.name).upload_from_string(source.read_bytes())


def _refused_grant(world: World, request_id: str, who: str, reason: str) -> None:
    """A grant through the CLI that must be refused (exit 1) with `reason` and audited."""
    refused = world.run(["approval", "grant", request_id, "--env", ENV, "--as", who])
    if refused.code != 1 or reason not in refused.err:
        raise AssertionError(f"grant by {who} through the CLI not refused: {refused.code} {refused.err}")
    entry = world.audit(ENV)[-1]
    if (entry.get("action"), entry.get("outcome"), entry.get("actor")) != ("approval-grant", "refused", who):
        raise AssertionError(f"the refused grant by {who} is not the newest audit entry: {entry}")


def _replace_manifest(world: World, release: str) -> None:
    """Same files, other bytes: the store's manifest of `release` gets another digest."""
    blob = world.client.bucket(world.buckets(ENV)["store"]).blob(f"releases/{release}/manifest.json")
    manifest = json.loads(blob.download_as_bytes())
    manifest["builder"] = "mallory@elsewhere"
    blob.upload_from_string(json.dumps(manifest).encode())


def attacks(world: World) -> list[tuple[str, str, Callable[[], str | list[str]]]]:
    """(name, expected reason, setup returning the release to promote or the command to run) of every
    attack."""
    a, b, c = world.releases[1], world.releases[2], world.releases[3]

    def none() -> str:
        return a

    def not_granted() -> str:
        _request(world, a)
        return a

    def other_digest() -> str:
        _grant(world, _request(world, b))
        return a

    def other_env() -> str:
        rid = _request(world, a)
        _grant(world, rid)
        _rewrite(world, rid, env="local")
        return a

    def expired() -> str:
        rid = _request(world, a)
        _grant(world, rid)
        _rewrite(world, rid, granted_at=_stamp(timedelta(hours=-30)), expires_at=_stamp(timedelta(hours=-6)))
        return a

    def self_approved() -> str:
        rid = _request(world, a, "alice")
        _refused_grant(world, rid, "alice", "approving your own request is not allowed")
        soon = _stamp(timedelta(hours=1))
        _rewrite(world, rid, status="granted", granted_by="alice", granted_at=soon, expires_at=soon)
        return a

    def replayed() -> str:
        # The grant for c goes live once; c is then replaced, and the same (used) grant is presented again.
        _grant(world, _request(world, c))
        for release in (c,):
            done = world.run(world.promote_args(ENV, release, "--as", "alice"))
            if done.code != 0:
                raise RuntimeError(f"promotion with a grant failed: {done.err}")
        back = world.run(["rollback", "--env", ENV, "--yes", "--as", "alice"])
        if back.code != 0:
            raise RuntimeError(f"rollback failed: {back.err}")
        return c

    def not_an_approver() -> str:
        # mallory is neither the requester nor in promotion.approvers: refused through the CLI, and a
        # grant in her name forged into the bucket is refused by the gate.
        rid = _request(world, a, "alice")
        _refused_grant(world, rid, "mallory", "mallory is not an approver of local-prod")
        soon = _stamp(timedelta(hours=1))
        _rewrite(world, rid, status="granted", granted_by="mallory", granted_at=soon, expires_at=soon)
        return a

    def tampered_manifest() -> str:
        _grant(world, _request(world, a))
        _replace_manifest(world, a)
        return a

    def files_changed() -> str:
        _grant(world, _request(world, a))
        dag = next(e.path for e in world.manifest(a).component_files("dags"))
        store = world.client.bucket(world.buckets(ENV)["store"])
        store.blob(f"releases/{a}/files/{dag}").upload_from_string(b"import os\nos.system('id')\n")
        return a

    def rollback_replaced() -> list[str]:
        # c goes live (approved) over the first release, whose manifest is then replaced in the store: a
        # rollback needs no approval, so only the digest recorded when it was live stops it.
        _grant(world, _request(world, c))
        done = world.run(world.promote_args(ENV, c, "--as", "alice"))
        if done.code != 0:
            raise RuntimeError(f"promotion with a grant failed: {done.err}")
        _replace_manifest(world, world.releases[0])
        return ["rollback", "--env", ENV, "--yes", "--as", "carol"]

    return [
        ("no approval", "requires an approval and there is none", none),
        ("requested, not granted", "not granted yet", not_granted),
        (
            "approval for another release/digest",
            "granted approvals exist only for other releases",
            other_digest,
        ),
        ("approval for another environment", "is for environment local, not local-prod", other_env),
        ("expired approval", "expired", expired),
        ("self-approved (forged record)", "self-approval", self_approved),
        (
            "granted by a non-approver (CLI, then forged)",
            "who is not an approver of local-prod",
            not_an_approver,
        ),
        ("replayed (already used) approval", "already used", replayed),
        ("manifest tampered in the store", "manifest changed after approval", tampered_manifest),
        ("release files changed after approval", "tampered store", files_changed),
        ("rollback to a replaced manifest", "the release store's manifest was replaced", rollback_replaced),
    ]


def _clear_approvals(world: World) -> None:
    """Each attack starts from no approvals (the gate picks the best reason among all records)."""
    bucket = world.client.bucket(world.buckets(ENV)["artifacts"])
    for blob in list(bucket.list_blobs(prefix="deployer/approvals/")):
        blob.delete()


def run(world: World) -> Section:
    """Run every attack; one violation per attack that is not refused exactly as documented."""
    section = Section("approval attacks")
    t0 = time.monotonic()
    world.publish_all(ENV)
    _grant(world, _request(world, world.releases[0]))
    first = world.run(world.promote_args(ENV, world.releases[0], "--as", "alice"))
    section.check(first.code == 0, f"approved first promotion failed: {first.err[-300:]}")
    composer = world.buckets(ENV)["composer"]
    for name, reason, setup in attacks(world):
        section.attempts += 1
        _clear_approvals(world)
        for rid in world.releases[:4]:
            _restore_store(world, rid)
        try:
            then = setup()
        except (RuntimeError, AssertionError) as exc:
            section.violations.append(f"{name}: setup failed: {exc}")
            continue
        before = world.listing(composer)
        command = (
            then
            if isinstance(then, list)
            else ["promote", "--env", ENV, "--release", then, "--yes", "--as", "alice"]
        )
        result = world.run(command)
        problems = []
        problem = result.one_line_problem(1)
        if problem:
            problems.append(problem)
        elif reason not in result.error_lines()[0]:
            problems.append(f"reason {reason!r} not in {result.error_lines()[0]!r}")
        entry = world.audit(ENV)[-1]
        if entry.get("outcome") != "refused" or reason not in str(entry.get("reason")):
            problems.append(
                f"newest audit entry is not this refusal: {entry.get('outcome')} {entry.get('reason')}"
            )
        if world.listing(composer) != before:
            problems.append("the Composer bucket changed")
        section.violations.extend(f"{name}: {p}" for p in problems)
        if not problems:
            section.survived += 1
    audit = world.run(["audit", "--env", ENV, "--json"])
    refusals = (
        [e for e in json.loads(audit.out)["entries"] if e["outcome"] == "refused"] if audit.code == 0 else []
    )
    section.check(len(refusals) >= section.attempts, f"deployer audit --json lists {len(refusals)} refusals")
    section.seconds = round(time.monotonic() - t0, 1)
    return section
