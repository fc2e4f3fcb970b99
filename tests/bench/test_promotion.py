"""Promotion benchmark: generated releases, argument checks, and a smoke run on tiny sizes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench import promotion
from bench.table import Figure
from platform_model.domain import domain_files, load_domains


@pytest.mark.parametrize("size", [20, 100, 1000])
def test_source_files_make_releases_of_exactly_the_size(size: int) -> None:
    tree, jobs = promotion.source_files(size)
    assert len(tree) + len(jobs) == size
    assert sum(1 for p in tree if p.startswith("composer/dags/") and p.endswith(".py")) >= 2
    assert {p for p in tree if p.startswith("domains/")} == {f"domains/{p.name}" for p in domain_files()}
    index = json.loads(jobs["jobs.json"])["jobs"]
    declared = {job for d in load_domains().values() for job in d.spark_jobs}
    assert set(index) == declared and declared
    for job in index.values():  # every file jobs.json names is an artifact of the release
        assert {job["main"], *job["py_files"], *job["jars"]} <= set(jobs)


def test_parse_sizes() -> None:
    assert promotion.parse_sizes("100, 1_000,5000") == (100, 1000, 5000)
    for bad in ("abc", "5", "100,,200", "-100"):
        with pytest.raises(ValueError, match="--sizes"):
            promotion.parse_sizes(bad)


@pytest.mark.parametrize(
    "args", [["--sizes", "ten"], ["--only", "nothing"], ["--repeats", "0"], ["--synth-domains", "0"]]
)
def test_bad_arguments_are_one_line_and_exit_2(args: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", *args], capture_output=True, text=True, check=False, timeout=120
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr


def _by_name(figures: list[Figure], suffix: str, mode: str) -> Figure:
    (found,) = [f for f in figures if f.name.endswith(suffix) and f" {mode}:" in f.name]
    return found


@pytest.mark.slow
def test_smoke_run_on_a_tiny_release() -> None:
    cfg = promotion.Config(sizes=(30,), delay_ms=5, noop_repeats=1)
    figures = promotion.run(cfg, log=lambda _msg: None)
    # The domain files travel in the rendered runtime config, which is uploaded beside the DAGs.
    uploaded = 30 - len(domain_files()) + 1
    for mode in ("direct", "+5ms"):
        assert (
            _by_name(figures, "first promotion objects written (uploaded or copied server-side)", mode).value
            == uploaded
        )
        assert _by_name(figures, "no-op objects written", mode).value == 0
        assert _by_name(figures, "baseline sequential upload", mode).details["uploads"] == 30
    change = _by_name(figures, "one-DAG change objects written", "+5ms")
    (objects,) = change.details["objects"]
    # The changed DAG, and at most the runtime config beside it (while it carries the release id).
    assert "dags/pipeline_000.py" in objects
    assert set(objects) <= {"dags/pipeline_000.py", "dags/runtime_config.json"}
    dbt = _by_name(
        figures,
        "one-dbt-model change, files taken from the release (the rest copied from the live one)",
        "+5ms",
    )
    assert dbt.value == 1 and dbt.met is True, dbt.details
    assert "dags/runtime_config.json" in dbt.details["objects"] and dbt.details["server_side_copies"] > 0
    (counter,) = [f for f in figures if f.name.startswith("deployer API-call counter")]
    assert counter.met is True, counter.details
    assert _by_name(figures, "no-op API calls (proxy)", "+5ms").value > 0
