"""The synthesized stacks pass every policy: prod with no failure, dev and staging with listed skips only."""

from __future__ import annotations

import pytest

from policies.checkov_run import check_stacks, find_stacks, load_skips


@pytest.mark.slow
def test_every_stack_passes_with_only_listed_skips() -> None:
    from infra.synth import ensure_synth
    from platform_model.cache import BuildCache, default_cache_dir

    stacks = find_stacks(ensure_synth() / "stacks")
    assert set(stacks) == {"dev", "staging", "prod"}
    # `make check-infra` (run before the suite by `make test`) scanned these very files: its report is read
    report = check_stacks(stacks, load_skips(known_stacks=stacks), cache=BuildCache(default_cache_dir()))
    assert [r.line_text() for r in report.failures] == []
    assert report.problems == []
    for stack in stacks:
        counts = report.counts(stack)
        assert counts["passed"] > 100 and counts["failed"] == 0, (stack, counts)
    # Every custom policy had something to judge in prod (keys only exist to fail, so they may not).
    judged = {r.check_id for r in report.results if r.stack == "prod"}
    assert {f"CKV_ACME_{i}" for i in (1, 2, 3, 4, 6, 7)} | {f"CKV2_ACME_{i}" for i in (1, 2, 3)} <= judged
    # CMEK checks are skipped in dev only: prod and staging enforce them.
    skipped = {(r.stack, r.check_id) for r in report.results if r.status == "skipped"}
    assert ("dev", "CKV_GCP_81") in skipped and ("prod", "CKV_GCP_81") not in skipped
