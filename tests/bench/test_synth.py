"""Synth benchmark: the provider modules infra imports, and a smoke run of (a), (b), (c) and the profile."""

from __future__ import annotations

import pytest

from bench import synth
from bench.table import Figure


def test_provider_modules_are_read_from_the_infra_sources() -> None:
    modules = synth.provider_modules()
    assert "cdktn_provider_google.provider" in modules
    assert "cdktn_provider_google.composer_environment" in modules
    assert all(m.startswith("cdktn_provider_google.") for m in modules)


@pytest.mark.slow
def test_smoke_run() -> None:
    figures = synth.run(repeats=1, warm_repeats=1, with_make=False)

    def named(prefix: str) -> Figure:
        (found,) = [f for f in figures if f.name.startswith(prefix)]
        return found

    bare = named(f"synth (a): import {len(synth.provider_modules())} provider modules")
    cold = named("synth (b): cold synth")
    assert 0 < bare.value < cold.value
    assert cold.speedup == pytest.approx(cold.value / bare.value)
    assert cold.met is not None
    assert named("synth profile: build constructs").details["calls"]["create"] > 100
    warm = named("synth (c): warm python -m infra.synth")
    assert 0 < warm.value < cold.value
