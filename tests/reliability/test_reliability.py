"""The short form of the reliability suite inside `make test`: 10 kills, 4 racers, every approval attack and
bad-input case, a short fault window. The full suite is `make reliability` (python -m tests.reliability)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployer.emulator import Emulator
from tests.reliability import approvals, badinput, concurrency, crash, faults
from tests.reliability.harness import World

pytestmark = pytest.mark.slow(seconds=45)  # each class (a scope of its own) about this long


# Each test is a class of its own so that it is a scope of its own for `--dist loadscope`: the five
# build their own worlds on the shared emulator and spread over the workers instead of running in a row.


def _clean(section: object) -> None:
    violations = getattr(section, "violations")
    assert violations == [], "\n".join(violations)


class TestCrashConsistency:
    def test_crash_consistency(self, gcs_emulator: Emulator, tmp_path: Path) -> None:
        section = crash.run(World.create(gcs_emulator.url, tmp_path), 10, seed=2, log=lambda _m: None)
        _clean(section)
        assert section.attempts == 10 and section.killed >= 5 and section.survived == 10


class TestConcurrency:
    def test_concurrency(self, gcs_emulator: Emulator, tmp_path: Path) -> None:
        world = World.create(gcs_emulator.url, tmp_path, n_releases=3, overrides=concurrency.OVERRIDES)
        section = concurrency.run(world, 4, rounds=1)
        _clean(section)
        assert section.attempts == 5 and section.survived == 5


class TestApprovalAttacks:
    def test_approval_attacks(self, gcs_emulator: Emulator, tmp_path: Path) -> None:
        world = World.create(gcs_emulator.url, tmp_path, n_releases=4)
        section = approvals.run(world)
        _clean(section)
        assert section.attempts == section.survived == len(approvals.attacks(world)) == 11


class TestBadInput:
    def test_bad_input(self, gcs_emulator: Emulator, tmp_path: Path) -> None:
        section = badinput.run(World.create(gcs_emulator.url, tmp_path))
        _clean(section)
        assert section.attempts == len(badinput.all_cases())


class TestStoreFaults:
    def test_store_faults(self, gcs_emulator: Emulator, tmp_path: Path) -> None:
        section = faults.run(World.create(gcs_emulator.url, tmp_path, n_releases=4), window=3, deadline=2.0)
        _clean(section)
        assert section.attempts == len(faults.cases(3))
