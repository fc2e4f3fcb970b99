"""Shared fixtures of the policy tests: checkov runs once over every policy fixture."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies.checkov_run import Result, custom_check_ids, run_checkov

FIXTURES = Path(__file__).parent / "fixtures"
CHECKOV_FIXTURES = FIXTURES / "checkov"


def fixture_stacks() -> dict[str, Path]:
    """`<policy>/<variant>` -> its cdk.tf.json, for every checkov fixture."""
    return {
        str(p.parent.relative_to(CHECKOV_FIXTURES)): p
        for p in sorted(CHECKOV_FIXTURES.glob("*/*/cdk.tf.json"))
    }


@pytest.fixture(scope="session")
def custom_results() -> list[Result]:
    """Every custom policy's verdicts on every fixture stack (one checkov process)."""
    results, problems = run_checkov(fixture_stacks(), checks=sorted(custom_check_ids()))
    assert problems == []
    return results
