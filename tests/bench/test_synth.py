"""Synth benchmark: the provider modules infra imports, the generated domains, and a smoke run of (a), (b),
(c), (d) and the profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import synth
from bench.table import Figure
from platform_model.domain import domain_files, load_domains


def test_provider_modules_are_read_from_the_infra_sources() -> None:
    modules = synth.provider_modules()
    assert "cdktn_provider_google.provider" in modules
    assert "cdktn_provider_google.composer_environment" in modules
    assert all(m.startswith("cdktn_provider_google.") for m in modules)


def test_generated_domains_are_renamed_copies_that_claim_nothing_twice(tmp_path: Path) -> None:
    repo = sorted(load_domains())
    names = synth.generate_domains(tmp_path, len(repo) + 3)
    assert names == sorted([*repo, "bench01", "bench02", "bench03"])
    domains = load_domains(tmp_path)  # validates each file and every claim across them
    template = domains[synth.TEMPLATE_DOMAIN]
    copy = domains["bench02"]
    assert copy.event is not None and template.event is not None
    assert copy.event.topic == template.event.topic.replace(synth.TEMPLATE_DOMAIN, "bench02")
    assert list(copy.spark_jobs) == [j.replace(synth.TEMPLATE_DOMAIN, "bench02") for j in template.spark_jobs]
    assert copy.dag_ids() == ["bench02_daily", "bench02_freshness"][: len(template.dags)]
    assert copy.pii_secret != template.pii_secret and copy.dbt_select != template.dbt_select
    assert [c.name for c in copy.event.columns] == [c.name for c in template.event.columns]
    # Asking for fewer domains than the repository has copies the repository's only.
    assert synth.generate_domains(tmp_path / "few", 1) == repo
    assert len(domain_files(tmp_path / "few")) == len(repo)


@pytest.mark.slow
def test_smoke_run() -> None:
    n_repo = len(domain_files())
    figures = synth.run(repeats=1, warm_repeats=1, with_make=False, domains=n_repo + 2)

    def named(prefix: str) -> Figure:
        (found,) = [f for f in figures if f.name.startswith(prefix)]
        return found

    bare = named(f"synth (a): import {len(synth.provider_modules())} provider modules")
    cold = named("synth (b): cold synth")
    # One sample each on a loaded machine: no order between timings is asserted (the bench's job).
    assert bare.value > 0 and cold.value > 0
    assert cold.speedup == pytest.approx(cold.value / bare.value)
    assert cold.met is not None
    assert named("synth profile: build constructs").details["calls"]["create"] > 100
    warm = named("synth (c): warm python -m infra.synth")
    assert warm.value > 0
    grown = named(f"synth (d): cold synth, {n_repo + 2} domains (2 generated")
    assert grown.baseline == bare.value and grown.details["baseline_domains"] == n_repo
    assert grown.met is not None and grown.target == f"<= {synth.GROWN_MAX_RATIO:g}x (a)"
    assert grown.details["against_cold_synth"] == pytest.approx(grown.value / cold.value)
    per_domain = named(f"synth (d): cost per domain ({n_repo} -> {n_repo + 2} domains)")
    assert per_domain.value == pytest.approx((grown.value - cold.value) / 2)
