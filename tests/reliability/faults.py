"""Faults from the store: the deployer talks to the emulator through `tests.doubles.faultproxy`.

Passing faults (a burst of 503s, 429s mid-promotion, a failure rate, dropped connections, lost responses
whose writes did happen) must be survived by the storage library's retries: the promotion exits 0 and
the buckets converge. Lasting faults (503 for good, the emulator gone mid-promotion) must end in one line
within a bounded time (`DEPLOYER_GCS_RETRY_DEADLINE`), and the next run, with the store back, converges.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from tests.doubles.faultproxy import FaultProxy
from tests.reliability.harness import Section, World

ENV = "local"


@dataclass(frozen=True)
class FaultCase:
    """A fault and whether the promotion must survive it."""

    name: str
    fault: dict[str, Any]
    survives: bool


def cases(window: int) -> list[FaultCase]:
    """The fault cases; `window` is the length of a passing burst in requests."""
    return [
        FaultCase(f"{window} x 503 at the start", {"status": 503, "count": window}, True),
        FaultCase(f"{window} x 429 mid-promotion", {"status": 429, "count": window, "after": 25}, True),
        FaultCase(
            "20% of requests 503 (seeded)", {"status": 503, "rate": 0.2, "seed": 5, "count": 4 * window}, True
        ),
        FaultCase(
            f"{window} dropped connections mid-promotion",
            {"mode": "reset", "count": window, "after": 15},
            True,
        ),
        FaultCase(
            f"{window} lost responses (the write happened)",
            {"mode": "lost", "count": window, "after": 10},
            True,
        ),
        FaultCase("503 for good from mid-promotion", {"status": 503, "after": 20}, False),
        FaultCase("emulator gone mid-promotion", {"mode": "reset", "after": 20}, False),
    ]


def run(world: World, *, window: int = 4, deadline: float = 3.0) -> Section:
    """Every fault case on a promotion to another release; lasting faults bounded by `deadline` seconds."""
    section = Section("store faults")
    t0 = time.monotonic()
    world.publish_all(ENV)
    first = world.run(world.promote_args(ENV, world.releases[0]))
    section.check(first.code == 0, f"first promotion failed: {first.err[-300:]}")
    ever_live = {world.releases[0]}
    worst = 0.0
    with FaultProxy(world.emulator_url) as proxy:
        for i, case in enumerate(cases(window)):
            section.attempts += 1
            previous = world.live(ENV)
            target = world.releases[
                (world.releases.index(previous or world.releases[0]) + 1) % len(world.releases)
            ]
            proxy.fail(**case.fault)
            result = world.run(
                world.promote_args(ENV, target),
                STORAGE_EMULATOR_HOST=proxy.url,
                DEPLOYER_GCS_RETRY_DEADLINE=str(deadline),
            )
            fired = proxy.fired
            proxy.clear()
            problems: list[str] = []
            if case.survives:
                if result.code != 0:
                    problems.append(f"not survived: exit {result.code}: {result.err.strip()[-300:]}")
                if fired == 0:
                    problems.append("the fault never fired")
            else:
                worst = max(worst, result.seconds)
                problem = result.one_line_problem(2)
                if problem:
                    problems.append(problem)
                elif "gave up after retrying" not in result.err and "cannot reach" not in result.err:
                    problems.append(f"the line does not say it gave up: {result.error_lines()[0]}")
                if result.seconds > deadline * 4 + 20:
                    problems.append(f"took {result.seconds:.1f}s with a {deadline}s retry deadline")
                problems += [
                    f"after the failure: {p}"
                    for p in world.invariants(
                        ENV, previous=previous, target=target, ever_live=ever_live, converged=False
                    )
                ]
                again = world.run(world.promote_args(ENV, target))
                if again.code != 0:
                    problems.append(f"the re-run with the store back failed: {again.err.strip()[-300:]}")
            ever_live.add(target)
            problems += world.invariants(
                ENV, previous=previous, target=target, ever_live=ever_live, converged=True
            )
            section.violations.extend(f"{case.name}: {p}" for p in problems)
            section.notes[f"case {i} fired"] = fired
            if not problems:
                section.survived += 1
    section.notes["slowest lasting-fault failure (s)"] = round(worst, 1)
    section.seconds = round(time.monotonic() - t0, 1)
    return section
