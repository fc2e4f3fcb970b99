"""Approvals: `deployer/approvals/<request-id>.json` in the environment's artifacts bucket.

A request binds a release's manifest digest (sha256 of the stored manifest bytes) to one environment.
A grant must come from someone other than the requester who is among the environment's
`promotion.approvers` (the deployer's own check; IAM on this prefix, `approvers_group`, is a second layer),
before the request expires; it is valid for
`promotion.approval_ttl_hours` after it was granted and is used once: the promotion that relies on it
marks it consumed when it completes (a write conditioned on the generation it checked). Every refusal
names its reason and is appended to the audit log by the caller.

A grant from a GitHub deployment review records the reviewer as `github:<login>` (`granted_by`), the
principal that wrote it (`granted_via`) and the workflow run's URL (`github_run`), all read from GitHub by
`deployer.identity.github_review`.

Rollback (to a release that was live in this environment before) and re-running the promotion of the
release that is live now need no new approval: that release was approved when it first went live and
nothing new reaches the environment. Any other promotion into an environment with
`promotion.requires_approval` needs a fresh grant.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from deployer.gcs import Gcs
from deployer.identity import Actor, same
from deployer.state import iso, parse_iso, utc_now
from platform_model.environment import Environment
from platform_model.errors import ConfigError, Refused

APPROVALS_PREFIX = "deployer/approvals/"
REQUEST_ID_RE = re.compile(r"^ar-\d{8}t\d{6}z-[0-9a-f]{8}$")


class Approval(BaseModel):
    """One approval request and, once granted, its grant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    env: str
    release: str
    digest: str
    requested_by: str
    requested_authenticated: bool
    requested_at: str
    request_expires_at: str
    status: Literal["requested", "granted", "consumed"] = "requested"
    granted_by: str | None = None
    granted_authenticated: bool | None = None
    granted_via: str | None = None
    github_run: str | None = None
    granted_at: str | None = None
    expires_at: str | None = None
    consumed_at: str | None = None
    consumed_by: str | None = None


@dataclass(frozen=True)
class Stored:
    """An approval with the generation it was read at."""

    approval: Approval
    generation: int


def object_name(request_id: str) -> str:
    """Object name of an approval."""
    return f"{APPROVALS_PREFIX}{request_id}.json"


def check_request_id(value: str) -> str:
    """`value` if it is a well-formed request id, else ConfigError."""
    if not REQUEST_ID_RE.fullmatch(value or ""):
        raise ConfigError(
            f"REQUEST_ID: {value!r} is not an approval request id (e.g. ar-20261125t174023z-0123abcd)"
        )
    return value


def _write(gcs: Gcs, bucket: str, approval: Approval, generation: int) -> int:
    from google.api_core.exceptions import PreconditionFailed

    data = (json.dumps(approval.model_dump(mode="json"), indent=2, sort_keys=True) + "\n").encode()
    try:
        return gcs.write(
            bucket,
            object_name(approval.id),
            data,
            if_generation_match=generation,
            content_type="application/json",
            bookkeeping=True,
        )
    except PreconditionFailed:
        raise Refused(
            f"approval {approval.id} changed meanwhile (granted or used by another command); look again"
        ) from None


def _parse(data: bytes, name: str) -> Approval:
    try:
        return Approval.model_validate(json.loads(data))
    except (json.JSONDecodeError, UnicodeDecodeError, ValidationError):
        raise ConfigError(f"{name} is not a valid approval record") from None


def read(gcs: Gcs, bucket: str, request_id: str) -> Stored:
    """One approval; ConfigError when it does not exist."""
    obj = gcs.read(bucket, object_name(check_request_id(request_id)))
    if obj is None:
        raise ConfigError(f"approval request {request_id} does not exist in gs://{bucket}/{APPROVALS_PREFIX}")
    return Stored(_parse(obj.data, object_name(request_id)), obj.generation)


def list_all(gcs: Gcs, bucket: str) -> list[Stored]:
    """Every approval in the bucket, oldest first; unreadable objects are skipped."""
    out: list[Stored] = []
    for name in sorted(gcs.list(bucket, APPROVALS_PREFIX)):
        obj = gcs.read(bucket, name)
        if obj is None:
            continue
        try:
            out.append(Stored(_parse(obj.data, name), obj.generation))
        except ConfigError:
            continue
    return out


def request(gcs: Gcs, bucket: str, env: Environment, release: str, digest: str, actor: Actor) -> Approval:
    """Create an approval request for `release` (manifest `digest`) in `env`."""
    now = utc_now()
    approval = Approval(
        id=f"ar-{now.strftime('%Y%m%dt%H%M%Sz')}-{uuid.uuid4().hex[:8]}",
        env=env.name,
        release=release,
        digest=digest,
        requested_by=actor.name,
        requested_authenticated=actor.authenticated,
        requested_at=iso(now),
        request_expires_at=iso(now + timedelta(hours=env.promotion.approval_ttl_hours)),
    )
    _write(gcs, bucket, approval, 0)
    return approval


def is_approver(env: Environment, name: str) -> bool:
    """Whether `name` is among the environment's `promotion.approvers`."""
    return any(same(name, approver) for approver in env.promotion.approvers)


def not_an_approver(env: Environment, name: str) -> str:
    """The refusal reason for a grantor outside `promotion.approvers`."""
    listed = ", ".join(env.promotion.approvers) or "nobody"
    return f"{name} is not an approver of {env.name}: promotion.approvers in {env.file} lists {listed}"


def grant(
    gcs: Gcs,
    bucket: str,
    env: Environment,
    stored: Stored,
    store_digest: str,
    actor: Actor,
    *,
    github_run: str | None = None,
) -> Approval:
    """Grant a request: Refused when it is for another environment, expired, already granted or used, when
    the approver is the requester or not among `promotion.approvers`, or when the store's manifest no
    longer has the requested digest. `github_run`: the workflow run URL the review was read from."""
    approval = stored.approval
    now = utc_now()
    if approval.env != env.name:
        raise Refused(f"approval {approval.id} is for environment {approval.env}, not {env.name}")
    if approval.status != "requested":
        raise Refused(f"approval {approval.id} is already {approval.status}")
    if now > parse_iso(approval.request_expires_at):
        raise Refused(
            f"approval request {approval.id} expired at {approval.request_expires_at}; request a new one"
        )
    if same(actor.name, approval.requested_by):
        raise Refused(
            f"approval {approval.id} was requested by {actor.name}: approving your own request is not allowed"
        )
    if not is_approver(env, actor.name):
        raise Refused(not_an_approver(env, actor.name))
    if store_digest != approval.digest:
        raise Refused(
            f"approval {approval.id} is for manifest digest {approval.digest} but the store's manifest of "
            f"{approval.release} now has {store_digest} (manifest changed after the request)"
        )
    granted = approval.model_copy(
        update={
            "status": "granted",
            "granted_by": actor.name,
            "granted_authenticated": actor.authenticated,
            "granted_via": actor.via,
            "github_run": github_run,
            "granted_at": iso(now),
            "expires_at": iso(now + timedelta(hours=env.promotion.approval_ttl_hours)),
        }
    )
    _write(gcs, bucket, granted, stored.generation)
    return granted


def _unusable(approval: Approval, env: Environment, release: str, digest: str) -> str | None:
    """Why this approval cannot let `release` (with `digest`) into `env`, or None when it can."""
    if approval.env != env.name:
        return f"approval {approval.id} is for environment {approval.env}, not {env.name}"
    if approval.release != release:
        return f"approval {approval.id} is for release {approval.release}, not {release}"
    if approval.digest != digest:
        return (
            f"approval {approval.id} was given for manifest digest {approval.digest} but the store's "
            f"manifest of {release} has digest {digest} (manifest changed after approval)"
        )
    if approval.status == "requested":
        return f"approval {approval.id} is requested but not granted yet"
    if approval.status == "consumed":
        return f"approval {approval.id} was already used at {approval.consumed_at} (approvals are single-use)"
    if approval.granted_by is None or same(approval.granted_by, approval.requested_by):
        return (
            f"approval {approval.id} was granted by its own requester {approval.requested_by} (self-approval)"
        )
    if not is_approver(env, approval.granted_by):
        return (
            f"approval {approval.id} was granted by {approval.granted_by}, who is not an approver of "
            f"{env.name} (promotion.approvers in {env.file})"
        )
    if approval.expires_at is None or utc_now() > parse_iso(approval.expires_at):
        return f"approval {approval.id} expired at {approval.expires_at}"
    return None


def find_usable(gcs: Gcs, bucket: str, env: Environment, release: str, digest: str) -> Stored:
    """The granted, unexpired, unused approval of exactly this release digest and env; Refused with the most
    telling reason otherwise."""
    every = list_all(gcs, bucket)
    candidates = [s for s in every if s.approval.release == release or s.approval.digest == digest]
    reasons: list[tuple[int, str]] = []
    for stored in sorted(candidates, key=lambda s: s.approval.requested_at, reverse=True):
        reason = _unusable(stored.approval, env, release, digest)
        if reason is None:
            return stored
        # Prefer reporting a granted approval's problem over a pending request's.
        reasons.append((0 if stored.approval.status != "requested" else 1, reason))
    if not reasons:
        others = sorted({s.approval.release for s in every if s.approval.status == "granted"})
        hint = f"; granted approvals exist only for other releases ({', '.join(others)})" if others else ""
        raise Refused(
            f"environment {env.name} requires an approval and there is none for {release} "
            f"(digest {digest}){hint}; run: deployer approval request --env {env.name} --release {release}"
        )
    raise Refused(f"no usable approval for {release} in {env.name}: {min(reasons, key=lambda r: r[0])[1]}")


def consume(gcs: Gcs, bucket: str, stored: Stored, by: str) -> None:
    """Mark the approval used (conditioned on the generation it was checked at)."""
    used = stored.approval.model_copy(
        update={"status": "consumed", "consumed_at": iso(utc_now()), "consumed_by": by}
    )
    _write(gcs, bucket, used, stored.generation)
