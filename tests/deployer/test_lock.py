"""One promotion per environment: racing promoters, stale and abandoned locks, unlock."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import DeployerEnv
from tests.deployer.conftest import Releases
from tests.deployer.helpers import cli, one_line_error, run
from tests.deployer.procs import Paused

pytestmark = pytest.mark.slow


def publish(*ids: str) -> None:
    for rid in ids:
        assert cli("release", "publish", rid, "--env", "local").code == 0


def lock_object(env: DeployerEnv) -> tuple[dict, int] | None:  # type: ignore[type-arg]
    blob = env.client.bucket(env.buckets("local")["artifacts"]).get_blob("deployer/lock")
    return None if blob is None else (json.loads(blob.download_as_bytes()), int(blob.generation))


def plant_lock(env: DeployerEnv, age: timedelta, host: str = "ci-runner-7") -> int:
    """A lock held by a promotion on another machine, taken `age` ago."""
    content = {
        "holder": "ci@acme.example",
        "command": "promote",
        "release": "r-0123456789ab",
        "pid": 4242,
        "pid_start": "1",
        "host": host,
        "boot_id": "00000000-0000-0000-0000-000000000000",
        "pid_ns": "1",
        "created": (datetime.now(UTC) - age).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ttl_seconds": 1800,
        "token": "planted",
    }
    bucket = env.client.bucket(env.buckets("local")["artifacts"])
    if not bucket.exists():
        env.client.create_bucket(bucket)
    blob = bucket.blob("deployer/lock")
    blob.upload_from_string(json.dumps(content).encode(), if_generation_match=0)
    return int(blob.generation)


def test_racing_promoters_exactly_one_wins(
    env_with_releases: DeployerEnv, releases: Releases, tmp_path: Path
) -> None:
    publish(releases.a, releases.b)
    assert cli("promote", "--env", "local", "--release", releases.a, "--yes").code == 0
    buckets = env_with_releases.buckets("local")
    environ = env_with_releases.environ(DEPLOYER_TEST_PAUSE_AT="locked")
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "deployer",
                "promote",
                "--env",
                "local",
                "--release",
                releases.b,
                "--yes",
                "--as",
                f"racer{i}",
            ],
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    deadline = time.monotonic() + 90
    while sum(p.poll() is not None for p in procs) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # the winner stays paused while holding the lock: it must not end too
    losers = [(p.returncode, p.stderr.read()) for p in procs if p.poll() is not None]  # type: ignore[union-attr]
    assert len(losers) == 3, losers
    held = lock_object(env_with_releases)
    assert held is not None
    winner = held[0]["holder"]
    for code, err in losers:
        assert code == 1 and "Traceback" not in err
        assert (
            f"environment local is locked, held by {winner}" in err and "deployer unlock --env local" in err
        )
    # The losers wrote nothing: no audit entries beyond the first promotion, B not promoted anywhere.
    entries = cli("audit", "--env", "local", "--json").json()["entries"]
    assert [e["release"] for e in entries] == [releases.a]
    assert env_with_releases.objects(buckets["composer"], "dags/d.py") == {}
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    # The winner was killed: its lock is abandoned (same machine, process gone) and the next run breaks it.
    rerun = cli("promote", "--env", "local", "--release", releases.b, "--yes", "--json")
    assert rerun.code == 0, rerun.err
    assert "breaking abandoned lock" in rerun.err
    assert lock_object(env_with_releases) is None
    actions = [
        (e["action"], e["outcome"]) for e in cli("audit", "--env", "local", "--json").json()["entries"]
    ]
    assert actions[-2:] == [("lock-break", "ok"), ("promote", "ok")]


def test_stale_lock_needs_unlock(env_with_releases: DeployerEnv, releases: Releases) -> None:
    publish(releases.a)
    lock_id = plant_lock(env_with_releases, timedelta(hours=2))
    line = one_line_error(cli("promote", "--env", "local", "--release", releases.a, "--yes"), code=1)
    assert "held by ci@acme.example" in line and "pid 4242 on ci-runner-7" in line
    assert "the lock is stale" in line and f"deployer unlock --env local {lock_id}" in line
    assert lock_object(env_with_releases) is not None, "a stale lock is never broken silently"

    assert "is not the current lock" in one_line_error(cli("unlock", str(lock_id + 1), "--env", "local"))
    assert "valid integer" in one_line_error(cli("unlock", "abc", "--env", "local"))
    result = cli("unlock", str(lock_id), "--env", "local", "--as", "ops")
    assert result.code == 0, result.err
    assert lock_object(env_with_releases) is None
    entry = cli("audit", "--env", "local", "--json").json()["entries"][-1]
    assert (entry["action"], entry["outcome"], entry["actor"]) == ("unlock", "ok", "ops")
    assert "ci@acme.example" in entry["reason"]
    assert cli("promote", "--env", "local", "--release", releases.a, "--yes").code == 0
    assert "is not locked" in one_line_error(cli("unlock", str(lock_id), "--env", "local"))


def test_fresh_lock_needs_force(env_with_releases: DeployerEnv, releases: Releases) -> None:
    publish(releases.a)
    lock_id = plant_lock(env_with_releases, timedelta(seconds=30))
    line = one_line_error(cli("promote", "--env", "local", "--release", releases.a, "--yes"), code=1)
    assert "wait for it" in line and "--force" in line
    assert "is not stale" in one_line_error(cli("unlock", str(lock_id), "--env", "local"), code=1)
    assert lock_object(env_with_releases) is not None
    assert cli("unlock", str(lock_id), "--env", "local", "--force").code == 0
    assert lock_object(env_with_releases) is None
    reasons = [e["reason"] for e in cli("audit", "--env", "local", "--json").json()["entries"]]
    assert "with --force" in reasons[-1]


def test_lock_on_this_machine_with_a_live_holder_is_not_abandoned(
    env_with_releases: DeployerEnv, releases: Releases, tmp_path: Path
) -> None:
    publish(releases.a)
    holder = Paused(
        env_with_releases, ["promote", "--env", "local", "--release", releases.a, "--yes"], "locked", tmp_path
    )
    try:
        holder.wait_paused()
        assert socket.gethostname() in lock_object(env_with_releases)[0]["host"]  # type: ignore[index]
        second = run(
            ["promote", "--env", "local", "--release", releases.a, "--yes"], env_with_releases.environ()
        )
        line = one_line_error(second, code=1)
        assert "is locked" in line
    finally:
        status = holder.kill(signal.SIGTERM)
    # SIGTERM unwinds like Ctrl-C: the holder released its own lock on the way out.
    assert status == 130, holder.stderr()
    assert lock_object(env_with_releases) is None
