"""The state record `deployer/state.json` in the artifacts bucket: which release is live, and which were.

Every write is conditioned on the generation read before it (the first with `if_generation_match=0`),
so two writers can never both win; the loser gets a clear refusal.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from deployer.gcs import Gcs
from platform_model.errors import ConfigError, Refused

STATE_OBJECT = "deployer/state.json"
HISTORY_LIMIT = 100


def utc_now() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """`2026-11-25T17:40:23Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    """Inverse of `iso` (also accepts fractional seconds and offsets)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


class LiveDomain(BaseModel):
    """A domain as the live release deploys it (from the runtime config the promotion rendered)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(description="Contract version MAJOR.MINOR of the domain in that release.")
    dags: list[str] = Field(default_factory=list, description="The domain's DAG ids.")


class Live(BaseModel):
    """One release as it went live in the environment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    release: str
    digest: str = Field(description="sha256 of the release's manifest bytes.")
    promoted_at: str
    promoted_by: str
    authenticated: bool = Field(
        description="False on the local platform, where the actor is declared (--as)."
    )
    kind: Literal["promote", "rollback"] = "promote"
    approval_id: str | None = None
    approved_by: str | None = None
    files: dict[str, int] = Field(default_factory=dict, description="Files per component.")
    components: dict[str, str] = Field(default_factory=dict, description="Component content digests.")
    domains: dict[str, LiveDomain] = Field(
        default_factory=dict, description="The domains the release deploys here, in input order."
    )
    report: str | None = Field(default=None, description="Object name of the promotion report.")
    replaced: str | None = Field(default=None, description="The release that was live before this one.")
    leaving: list[str] = Field(
        default_factory=list, description="DAG objects this promotion archived from `replaced` and removed."
    )


class State(BaseModel):
    """The environment's deployment state."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str
    current: Live | None = None
    history: list[Live] = Field(
        default_factory=list, description="Releases that were live before, oldest first."
    )
    updated_at: str | None = None

    def previous(self) -> Live | None:
        """The release live before the current one."""
        return self.history[-1] if self.history else None

    def was_live(self, release: str) -> bool:
        """Whether `release` is or was live here."""
        return any(
            item.release == release for item in [*self.history, *([self.current] if self.current else [])]
        )

    def with_current(self, live: Live) -> State:
        """The state after `live` goes live (the old current moves to history)."""
        history = list(self.history)
        if self.current is not None and self.current.release != live.release:
            history.append(self.current)
        return State(env=self.env, current=live, history=history[-HISTORY_LIMIT:], updated_at=iso(utc_now()))


def read_state(gcs: Gcs, bucket: str, env: str) -> tuple[State, int]:
    """The state and its generation (an empty state and 0 when none was written yet)."""
    obj = gcs.read(bucket, STATE_OBJECT)
    if obj is None:
        return State(env=env), 0
    try:
        state = State.model_validate(json.loads(obj.data))
    except (json.JSONDecodeError, UnicodeDecodeError, ValidationError):
        raise ConfigError(
            f"gs://{bucket}/{STATE_OBJECT} is not a valid state record (repair or restore a previous version)"
        ) from None
    if state.env != env:
        raise ConfigError(f"gs://{bucket}/{STATE_OBJECT} belongs to environment {state.env!r}, not {env!r}")
    return state, obj.generation


def write_state(gcs: Gcs, bucket: str, state: State, generation: int) -> int:
    """Write the state if nobody wrote it since `generation` was read; Refused otherwise."""
    from google.api_core.exceptions import PreconditionFailed

    data = (json.dumps(state.model_dump(mode="json"), indent=2, sort_keys=True) + "\n").encode()
    try:
        return gcs.write(
            bucket,
            STATE_OBJECT,
            data,
            if_generation_match=generation,
            content_type="application/json",
            bookkeeping=True,
        )
    except PreconditionFailed:
        raise Refused(
            f"gs://{bucket}/{STATE_OBJECT} changed during this promotion (another writer); run it again"
        ) from None
