"""Concurrency: K promoters racing on one environment, and on two environments at once.

- Held race: every racer stops right after taking the lock (`DEPLOYER_TEST_PAUSE_AT=locked`), so the one
  holding it stays: exactly one pauses per environment, the others exit 1 with one line naming the holder
  (the lock's `holder`), and write nothing (buckets and audit log unchanged). The winners are then
  SIGKILLed: their lock is abandoned (same machine, process gone) and the next promotion breaks it with
  a warning and an audit entry.
- Free race: K promoters of different releases run to their end at once; every one exits 0 or 1 (held),
  the successful ones' lock tenures (from their JSON logs) never overlap, and the buckets end converged.
- Stale and foreign locks: a lock from another machine older than the TTL is never broken by a promotion
  (refused, naming `deployer unlock`), only by `deployer unlock`, audited; a fresh one needs `--force`.
"""

from __future__ import annotations

import itertools
import json
import random
import subprocess
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.reliability.harness import Section, World, kill

ENVS = ("local", "local-prod")
# local-prod without the approval gate here: the races are about the lock (approvals have their section).
OVERRIDES: dict[str, dict[str, Any]] = {"local-prod": {"promotion.requires_approval": False}}


def _held_race(world: World, section: Section, envs: tuple[str, ...], k: int, round_no: int) -> None:
    section.attempts += 1
    where = f"held race {round_no} on {'+'.join(envs)}"
    before = {env: world.snapshot(env) for env in envs}
    audits = {env: len(world.audit(env)) for env in envs}
    racers: list[tuple[str, str, subprocess.Popen[str], Any]] = []
    for env in envs:
        live = world.live(env)
        target = next(r for r in world.releases if r != live)
        for i in range(k):
            name = f"racer-{env}-{i}"
            signal_file = world.workdir / "signals" / f"{round_no}-{name}"
            proc = world.start(
                ["promote", "--env", env, "--release", target, "--yes", "--as", name],
                DEPLOYER_TEST_PAUSE_AT="locked",
                DEPLOYER_TEST_PAUSE_SIGNAL=str(signal_file),
            )
            racers.append((env, name, proc, signal_file))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ended = sum(p.poll() is not None for _e, _n, p, _s in racers)
        paused = sum(s.exists() for _e, _n, _p, s in racers)
        if ended + paused == len(racers):
            break
        time.sleep(0.05)
    time.sleep(0.3)  # a paused winner must stay paused, and a second winner would show by now
    for env in envs:
        mine = [(n, p, s) for e, n, p, s in racers if e == env]
        winners = [n for n, _p, s in mine if s.exists()]
        if not section.check(len(winners) == 1, f"{where}: {env} had {len(winners)} lock holders"):
            continue
        lock = world.read_json(world.buckets(env)["artifacts"], "deployer/lock")
        holder = lock["holder"] if lock else None
        section.check(holder == winners[0], f"{where}: {env} lock names {holder}, paused {winners[0]}")
        for name, proc, signal_file in mine:
            if signal_file.exists():
                continue
            _out, err = proc.communicate(timeout=60)
            ok = (
                proc.returncode == 1
                and "Traceback" not in err
                and len([ln for ln in err.splitlines() if ln.startswith("error: ")]) == 1
                and f"held by {holder}" in err
            )
            section.check(ok, f"{where}: loser {name} exit {proc.returncode}: {err.strip()[-200:]}")
        after = world.snapshot(env)
        written = {n for n in set(after) | set(before[env]) if after.get(n) != before[env].get(n)} - {
            f"{world.buckets(env)['artifacts']}/deployer/lock"
        }
        section.check(not written, f"{where}: {env} changed beyond the winner's lock: {sorted(written)[:3]}")
        section.check(len(world.audit(env)) == audits[env], f"{where}: losers wrote audit entries in {env}")
    for _e, _n, proc, signal_file in racers:
        section.killed += signal_file.exists() and proc.poll() is None
        kill(proc)
    # The killed winners' locks are abandoned: the next promotion breaks them, warns and audits.
    for env in envs:
        target = next(r for r in world.releases if r != world.live(env))
        rerun = world.run(["promote", "--env", env, "--release", target, "--yes", "--as", "next"])
        broke = rerun.code == 0 and "breaking abandoned lock" in rerun.err
        section.check(broke, f"{where}: {env} abandoned lock not broken cleanly: {rerun.err.strip()[-200:]}")
        actions = [e["action"] for e in world.audit(env)]
        section.check(actions[-2:] == ["lock-break", "promote"], f"{where}: {env} audit ends {actions[-2:]}")
        problems = world.invariants(env, previous=None, target=target, ever_live=set(), converged=True)
        section.violations.extend(f"{where}: {env}: {p}" for p in problems)
    if len(section.violations) == 0:
        section.survived += 1


def _tenures(err: str) -> tuple[datetime, datetime] | None:
    start = end = None
    for line in err.splitlines():
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        if record.get("event") == "promotion_started":
            start = datetime.fromisoformat(record["time"])
        if record.get("event") == "promotion_finished":
            end = datetime.fromisoformat(record["time"])
    return (start, end) if start and end else None


def _free_race(world: World, section: Section, env: str, k: int, rng: random.Random) -> None:
    section.attempts += 1
    where = f"free race of {k} on {env}"
    procs = []
    for i in range(k):
        target = rng.choice(world.releases)
        args = [
            "--log-format",
            "json",
            "promote",
            "--env",
            env,
            "--release",
            target,
            "--yes",
            "--as",
            f"free{i}",
        ]
        procs.append((target, world.start(args)))
    tenures = []
    last: tuple[datetime, str] | None = None
    for target, proc in procs:
        _out, err = proc.communicate(timeout=300)
        if proc.returncode == 0:
            tenure = _tenures(err)
            if section.check(tenure is not None, f"{where}: a winner logged no tenure"):
                assert tenure is not None
                tenures.append(tenure)
                if last is None or tenure[1] > last[0]:
                    last = (tenure[1], target)
        else:
            ok = proc.returncode == 1 and "is locked, held by" in err and "Traceback" not in err
            section.check(ok, f"{where}: exit {proc.returncode}: {err.strip()[-200:]}")
    tenures.sort()
    for (s1, e1), (s2, _e2) in itertools.pairwise(tenures):
        section.check(e1 <= s2, f"{where}: two promotions held the lock at once ({s1}-{e1} and {s2}-)")
    section.notes.setdefault("free-race winners", []).append(len(tenures))
    if last is not None:
        problems = world.invariants(env, previous=None, target=last[1], ever_live=set(), converged=True)
        section.violations.extend(f"{where}: {p}" for p in problems)
    if not section.violations:
        section.survived += 1


def _plant_lock(world: World, env: str, age: timedelta) -> int:
    content = {
        "holder": "ci@acme.example",
        "command": "promote",
        "release": "r-0123456789ab",
        "pid": 4242,
        "pid_start": "1",
        "host": "ci-runner-7",
        "boot_id": "00000000-0000-0000-0000-000000000000",
        "pid_ns": "1",
        "created": (datetime.now(UTC) - age).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ttl_seconds": 1800,
    }
    content["token"] = content["holder"]  # a lock's random nonce; any value does for a planted one
    blob = world.client.bucket(world.buckets(env)["artifacts"]).blob("deployer/lock")
    blob.upload_from_string(json.dumps(content).encode(), if_generation_match=0)
    return int(blob.generation)


def _foreign_locks(world: World, section: Section, env: str) -> None:
    for age, stale in ((timedelta(hours=2), True), (timedelta(seconds=20), False)):
        section.attempts += 1
        where = f"{'stale' if stale else 'fresh'} foreign lock on {env}"
        lock_id = _plant_lock(world, env, age)
        before = world.snapshot(env)
        target = next(r for r in world.releases if r != world.live(env))
        refused = world.run(world.promote_args(env, target))
        problem = refused.one_line_problem(1)
        section.check(problem is None, f"{where}: promotion {problem}")
        expect = f"deployer unlock --env {env} {lock_id}" if stale else "--force"
        section.check(
            expect in refused.err, f"{where}: refusal does not say {expect!r}: {refused.err[-200:]}"
        )
        after = world.snapshot(env)
        changed = {n for n in set(after) | set(before) if after.get(n) != before.get(n)}
        # The refusal is audited; nothing else changes, and the lock is never broken silently.
        section.check(
            all("/deployer/audit/" in n for n in changed),
            f"{where}: refused promotion wrote {sorted(changed)}",
        )
        if not stale:
            no_force = world.run(["unlock", str(lock_id), "--env", env, "--as", "ops"])
            section.check(no_force.code == 1, f"{where}: unlock without --force exited {no_force.code}")
        unlock = world.run(
            ["unlock", str(lock_id), "--env", env, "--as", "ops", *([] if stale else ["--force"])]
        )
        section.check(unlock.code == 0, f"{where}: unlock failed: {unlock.err[-200:]}")
        entry = world.audit(env)[-1]
        section.check(entry["action"] == "unlock" and entry["actor"] == "ops", f"{where}: unlock not audited")
        done = world.run(world.promote_args(env, target))
        section.check(done.code == 0, f"{where}: promotion after unlock failed: {done.err[-200:]}")
        if not section.violations:
            section.survived += 1


def run(world: World, k: int, *, rounds: int = 2, seed: int = 3) -> Section:
    """`rounds` held races of `k` on one environment and on both at once, a free race, foreign locks."""
    section = Section("concurrency")
    t0 = time.monotonic()
    rng = random.Random(seed)
    (world.workdir / "signals").mkdir(parents=True, exist_ok=True)
    for env in ENVS:
        world.publish_all(env)
        first = world.run(world.promote_args(env, world.releases[0]))
        section.check(first.code == 0, f"first promotion in {env} failed: {first.err[-300:]}")
    n = 0
    for _ in range(rounds):
        for envs in ((ENVS[0],), ENVS):
            n += 1
            _held_race(world, section, envs, k, n)
    _free_race(world, section, ENVS[0], k, rng)
    _foreign_locks(world, section, ENVS[1])
    section.seconds = round(time.monotonic() - t0, 1)
    return section
