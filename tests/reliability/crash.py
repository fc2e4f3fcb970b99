"""Crash consistency: promotions SIGKILLed at random moments and at named phases, then run to completion.

Every attempt promotes another of the world's releases (DAGs added, removed and changed, jobs and dbt
changed between them), kills the process, checks the invariants, runs the same promotion again to its
end and checks them again (converged). Every tenth converged attempt is run a third time: it must
upload nothing.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from pathlib import Path

from tests.reliability.harness import Section, World, kill, wait_paused

ENV = "local"
# Named moments: between uploads (after N done) and between steps, before and after the state record.
PHASES = [
    "locked",
    "artifacts-upload:1",
    "artifacts",
    "data-upload:2",
    "data",
    "runtime-config",
    "dags-archive-copy:1",
    "dags-archived",
    "dags-upload:1",
    "dags-upload:3",
    "dags",
    "archive-copy:1",
    "archive-copied",
    "before-state",
    "after-state",
    "after-approval",
    "archive-remove:1",
    "archived",
    "before-unlock",
]


def run(world: World, kills: int, *, seed: int = 1, log: Callable[[str], None] = print) -> Section:
    """`kills` attempts, alternating a named phase (in turn) and a random delay; figures and violations."""
    section = Section("crash consistency")
    rng = random.Random(seed)
    t0 = time.monotonic()
    world.publish_all(ENV)
    first = world.run(world.promote_args(ENV, world.releases[0]))
    section.check(first.code == 0, f"first promotion failed: {first.err.strip()[-300:]}")
    ever_live = {world.releases[0]}
    duration = first.seconds
    signals = world.workdir / "signals"
    signals.mkdir(exist_ok=True)
    completed_without_kill = 0
    by_phase: dict[str, int] = {}
    for attempt in range(kills):
        previous = world.live(ENV)
        target = rng.choice([r for r in world.releases if r != previous])
        args = world.promote_args(ENV, target)
        extra: dict[str, str] = {}
        phase = PHASES[(attempt // 2) % len(PHASES)] if attempt % 2 == 0 else None
        signal_file = signals / f"paused-{attempt}"
        if phase is not None:
            extra = {"DEPLOYER_TEST_PAUSE_AT": phase, "DEPLOYER_TEST_PAUSE_SIGNAL": str(signal_file)}
        proc = world.start(args, **extra)
        section.attempts += 1
        if phase is not None:
            paused = wait_paused(proc, signal_file)
        else:
            time.sleep(rng.uniform(0.05, duration * 1.1))
            paused = proc.poll() is None
        kill(proc)
        if paused:
            section.killed += 1
            label = phase or "random"
            by_phase[label] = by_phase.get(label, 0) + 1
        else:
            completed_without_kill += 1
            section.check(proc.returncode == 0, f"attempt {attempt}: unkilled run exited {proc.returncode}")
        where = f"attempt {attempt} ({phase or 'random delay'}, {previous} -> {target})"
        for problem in world.invariants(
            ENV, previous=previous, target=target, ever_live=ever_live, converged=False
        ):
            section.violations.append(f"{where}, after the kill: {problem}")
        again = world.run(args)
        if not section.check(again.code == 0, f"{where}: the re-run exited {again.code}: {again.err[-300:]}"):
            continue
        ever_live.add(target)
        problems = world.invariants(
            ENV, previous=previous, target=target, ever_live=ever_live, converged=True
        )
        for problem in problems:
            section.violations.append(f"{where}, after the re-run: {problem}")
        if attempt % 10 == 9:
            third = world.run([*args, "--json"])
            uploads = json.loads(third.out)["counters"]["uploads"] if third.code == 0 else -1
            section.check(uploads == 0, f"{where}: a third run uploaded {uploads} objects")
        if not problems:
            section.survived += 1
        if (attempt + 1) % 10 == 0:
            log(f"  crash: {attempt + 1}/{kills} attempts, {len(section.violations)} violations")
    section.notes = {"completed before the kill": completed_without_kill, "kills by moment": by_phase}
    section.seconds = round(time.monotonic() - t0, 1)
    return section


def main_world(emulator_url: str, workdir: Path) -> World:
    """The world this section runs in."""
    return World.create(emulator_url, workdir / "crash")
