"""Release-build benchmark: the copied tree, the DAG-only change, and a smoke run of (a)-(d)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import release
from bench.table import Figure


def test_the_copy_holds_what_a_release_is_built_from_and_one_dag_changes(tmp_path: Path) -> None:
    root = release.copy_tree(tmp_path / "src")
    assert all((root / part).is_dir() for part in release.SOURCE_PARTS)
    assert (root / "dataproc_jobs" / "build.py").is_file()
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    dag = release.change_one_dag(root)
    after = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert [p for p in after if after[p] != before.get(p)] == [dag]
    assert dag.parent == root / "composer" / "dags"


@pytest.mark.slow
def test_smoke_run() -> None:
    figures = release.run()

    def named(prefix: str) -> Figure:
        (found,) = [f for f in figures if f.name.startswith(prefix)]
        return found

    full = named("release (a): full build")
    assert {"spark build", "collect"} <= set(full.details["timings"])
    assert any(k.startswith("dag parse: ") for k in full.details["timings"])
    assert any(k.startswith("check: ") for k in full.details["timings"])
    dag_only = named("release (b)")
    assert dag_only.baseline == full.value and dag_only.met is not None
    assert "spark build" in dag_only.details["cached"]
    assert not any(step.startswith("dag parse: ") for step in dag_only.details["cached"])
    assert named("release (d)").met is True
