"""One promotion per environment: the lock object `deployer/lock` in the artifacts bucket.

It is created with `if_generation_match=0` (only one creator wins); its generation is the lock id.
It is released only by its holder, with `if_generation_match=<lock id>`; the emulator does not enforce
preconditions on delete, so the generation is read back and compared first (and the precondition still
sent, for real GCS).

A lock is **stale** once older than `promotion.lock_ttl_seconds`: promotions then refuse with a message
naming the holder, the age and the command to break it (`deployer unlock --env ENV LOCK_ID`). A lock is
**abandoned** when its holder ran on this very machine (same host, boot and PID namespace) and that
process is gone (e.g. killed): the next promotion breaks it, prints a warning and audits it, so a killed
promotion converges when simply run again. Nothing else ever breaks a lock.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, ValidationError

from deployer import log
from deployer.gcs import Gcs
from deployer.state import iso, parse_iso, utc_now
from platform_model.errors import ConfigError, Refused

LOCK_OBJECT = "deployer/lock"


class LockInfo(BaseModel):
    """What the lock object holds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    holder: str
    command: str
    release: str | None
    pid: int
    pid_start: str | None
    host: str
    boot_id: str | None
    pid_ns: str | None
    created: str
    ttl_seconds: int
    token: str

    def age_seconds(self) -> float:
        """Seconds since the lock was taken."""
        return (utc_now() - parse_iso(self.created)).total_seconds()

    def is_stale(self) -> bool:
        """Older than its TTL."""
        return self.age_seconds() > self.ttl_seconds

    def is_abandoned(self) -> bool:
        """Its holder ran on this machine and is gone."""
        me = _process_identity(os.getpid())
        if (self.host, self.boot_id, self.pid_ns) != (
            me["host"],
            me["boot_id"],
            me["pid_ns"],
        ) or self.boot_id is None:
            return False
        if self.pid == os.getpid():
            return False
        start = _pid_start(self.pid)
        if start is None:
            return not _alive(self.pid)
        return self.pid_start is not None and start != self.pid_start  # the pid was reused

    def describe(self, lock_id: int) -> str:
        """`held by alice (promote r-..., pid 12 on host h) for 42s`."""
        what = f"{self.command} {self.release}" if self.release else self.command
        age = self.age_seconds()
        return (
            f"held by {self.holder} ({what}, pid {self.pid} on {self.host}) for {age:.0f}s, lock id {lock_id}"
        )


@dataclass(frozen=True)
class Lock:
    """A lock this process holds."""

    id: int
    info: LockInfo


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            return fh.read().strip()
    except OSError:
        return None


def _pid_start(pid: int) -> str | None:
    stat = _read_text(f"/proc/{pid}/stat")
    if stat is None:
        return None
    # Field 22 (start time in clock ticks) comes after the parenthesised command name.
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _process_identity(pid: int) -> dict[str, str | None]:
    try:
        pid_ns: str | None = str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        pid_ns = None
    return {
        "host": socket.gethostname(),
        "boot_id": _read_text("/proc/sys/kernel/random/boot_id"),
        "pid_ns": pid_ns,
        "pid_start": _pid_start(pid),
    }


def read(gcs: Gcs, bucket: str) -> tuple[LockInfo, int] | None:
    """The current lock and its id, or None when the environment is not locked."""
    obj = gcs.read(bucket, LOCK_OBJECT)
    if obj is None:
        return None
    try:
        return LockInfo.model_validate(json.loads(obj.data)), obj.generation
    except (json.JSONDecodeError, UnicodeDecodeError, ValidationError):
        # Unreadable content: still a lock, owned by nobody we can name.
        info = LockInfo(
            holder="unknown (unreadable lock object)",
            command="?",
            release=None,
            pid=0,
            pid_start=None,
            host="?",
            boot_id=None,
            pid_ns=None,
            created=iso(utc_now()),
            ttl_seconds=0,
            token="",
        )
        return info, obj.generation


def acquire(
    gcs: Gcs, bucket: str, env: str, *, holder: str, command: str, release: str | None, ttl_seconds: int
) -> tuple[Lock, LockInfo | None]:
    """Take the lock; Refused naming the holder when someone else has it. Returns the lock and, when an
    abandoned lock was broken to take it, that lock's info (the caller audits it)."""
    from google.api_core.exceptions import PreconditionFailed

    me = _process_identity(os.getpid())
    info = LockInfo(
        holder=holder,
        command=command,
        release=release,
        pid=os.getpid(),
        pid_start=me["pid_start"],
        host=me["host"] or "?",
        boot_id=me["boot_id"],
        pid_ns=me["pid_ns"],
        created=iso(utc_now()),
        ttl_seconds=ttl_seconds,
        token=uuid.uuid4().hex,
    )
    data = json.dumps(info.model_dump(), sort_keys=True).encode()
    broken: LockInfo | None = None
    for _attempt in range(2):
        try:
            generation = gcs.write(
                bucket,
                LOCK_OBJECT,
                data,
                if_generation_match=0,
                content_type="application/json",
                bookkeeping=True,
            )
            return Lock(generation, info), broken
        except PreconditionFailed:
            current = read(gcs, bucket)
            if current is None:
                continue  # released meanwhile: try once more
            other, other_id = current
            if other.is_abandoned() and broken is None:
                log.event(
                    "lock_broken",
                    level="warning",
                    env=env,
                    message=f"breaking abandoned lock of {env}: {other.describe(other_id)}; process gone",
                )
                _delete_if(gcs, bucket, other_id)
                broken = other
                continue
            unlock = f"deployer unlock --env {env} {other_id}"
            if other.is_stale():
                raise Refused(
                    f"environment {env} is locked, {other.describe(other_id)}: the lock is stale "
                    f"(TTL {other.ttl_seconds}s); if that promotion is dead, run: {unlock}"
                ) from None
            raise Refused(
                f"environment {env} is locked, {other.describe(other_id)}; "
                f"wait for it, or if it is dead: {unlock} --force"
            ) from None
    raise Refused(f"environment {env}: could not take the lock (it changed hands while trying); run again")


def _delete_if(gcs: Gcs, bucket: str, lock_id: int) -> bool:
    """Delete the lock object only while its generation is `lock_id`."""
    if gcs.generation(bucket, LOCK_OBJECT) != lock_id:
        return False
    from google.api_core.exceptions import PreconditionFailed

    try:
        return gcs.delete(bucket, LOCK_OBJECT, if_generation_match=lock_id)
    except PreconditionFailed:
        return False


def release(gcs: Gcs, bucket: str, lock: Lock) -> None:
    """Release a lock this process holds (never someone else's)."""
    if not _delete_if(gcs, bucket, lock.id):
        log.event(
            "lock_lost",
            level="warning",
            message=f"the lock {lock.id} was broken or replaced meanwhile; left as is",
        )


def unlock(gcs: Gcs, bucket: str, env: str, lock_id: int, *, force: bool) -> LockInfo:
    """Break the lock `lock_id`: only when stale or abandoned, or with `force`."""
    current = read(gcs, bucket)
    if current is None:
        raise ConfigError(f"environment {env} is not locked")
    info, current_id = current
    if current_id != lock_id:
        raise ConfigError(
            f"lock id {lock_id} is not the current lock of {env} "
            f"(that is {current_id}: {info.describe(current_id)})"
        )
    if not (force or info.is_stale() or info.is_abandoned()):
        raise Refused(
            f"the lock of {env} is not stale ({info.describe(current_id)}, TTL {info.ttl_seconds}s); "
            "use --force if its promotion is dead"
        )
    if not _delete_if(gcs, bucket, lock_id):
        raise Refused(f"the lock of {env} changed while unlocking; look again")
    return info
