"""The audit log: one object per entry, `deployer/audit/<utc-time>-<uuid>.json`, created with
`if_generation_match=0`, so an entry can be added but never overwritten (append-only by construction;
bucket retention or IAM keeps it from being deleted).

`actor` is the person the action is recorded for; when someone else's principal wrote it on their behalf
(a GitHub reviewer's grant, written by the approver service account) that principal is `via`."""

from __future__ import annotations

import json
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from deployer import log
from deployer.gcs import Gcs
from deployer.identity import Actor
from deployer.state import utc_now

AUDIT_PREFIX = "deployer/audit/"

Action = Literal[
    "publish", "approval-request", "approval-grant", "promote", "rollback", "unlock", "lock-break"
]
Outcome = Literal["ok", "refused", "unchanged", "failed"]


class AuditEntry(BaseModel):
    """One audited action."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    time: str = Field(description="UTC time, microseconds.")
    actor: str
    authenticated: bool = Field(description="False when the actor was declared (--as on the local platform).")
    via: str | None = Field(
        default=None, description="The principal that acted on the actor's behalf (GitHub reviewer's grant)."
    )
    action: Action
    env: str
    release: str | None = None
    digest: str | None = Field(default=None, description="Manifest digest the action was about.")
    outcome: Outcome
    reason: str | None = None
    details: dict[str, object] = Field(default_factory=dict)


def append(
    gcs: Gcs,
    bucket: str,
    actor: Actor,
    action: Action,
    env: str,
    outcome: Outcome,
    *,
    release: str | None = None,
    digest: str | None = None,
    reason: str | None = None,
    details: dict[str, object] | None = None,
) -> str:
    """Add one entry; returns its object name. A failure to write is logged, not raised, for refusals:
    the refusal itself must still reach the user."""
    now = utc_now()
    entry = AuditEntry(
        time=now.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        actor=actor.name,
        authenticated=actor.authenticated,
        via=actor.via,
        action=action,
        env=env,
        release=release,
        digest=digest,
        outcome=outcome,
        reason=reason,
        details=details or {},
    )
    name = f"{AUDIT_PREFIX}{now.strftime('%Y%m%dT%H%M%S.%fZ')}-{uuid.uuid4().hex}.json"
    data = (json.dumps(entry.model_dump(mode="json"), sort_keys=True) + "\n").encode()
    gcs.write(bucket, name, data, if_generation_match=0, content_type="application/json", bookkeeping=True)
    log.event(
        "audit", env=env, release=release, action=action, outcome=outcome, actor=actor.name, reason=reason
    )
    return name


def try_append(
    gcs: Gcs, bucket: str, actor: Actor, action: Action, env: str, outcome: Outcome, **kw: object
) -> None:
    """`append`, but a storage failure only logs a warning (used on refusal paths)."""
    try:
        append(gcs, bucket, actor, action, env, outcome, **kw)  # type: ignore[arg-type]
    except Exception as exc:
        log.event(
            "audit_write_failed",
            level="warning",
            message=f"could not write the audit entry: {type(exc).__name__}",
        )


def read_all(gcs: Gcs, bucket: str) -> list[AuditEntry]:
    """Every entry, oldest first (object names start with the UTC time)."""
    entries: list[AuditEntry] = []
    for name in sorted(gcs.list(bucket, AUDIT_PREFIX)):
        obj = gcs.read(bucket, name)
        if obj is None:
            continue
        try:
            entries.append(AuditEntry.model_validate(json.loads(obj.data)))
        except (json.JSONDecodeError, UnicodeDecodeError, ValidationError):
            log.event(
                "audit_entry_unreadable", level="warning", message=f"skipping unreadable audit entry {name}"
            )
    return entries
