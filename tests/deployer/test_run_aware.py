"""Run-aware promotion against the real local Airflow (one per session, tests/airflow_fixture.py): a DAG
run in progress on a DAG whose files a promotion changes makes `promote` wait, or refuse naming the DAG
and run ids with nothing uploaded; `--force` goes on and the audit entry names them.

The DAG `run_aware_probe` has one task that waits for a flag file named after its run id (or `all`),
so the test decides when each run ends. Two DAG runs in all.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deployer.release import build_release
from tests import airflow_fixture
from tests.airflow_fixture import AirflowOn
from tests.deployer.conftest import HELPER, build_environments
from tests.deployer.helpers import cli, dag_source, make_jobs, make_tree, one_line_error

pytestmark = pytest.mark.slow
local_airflow = airflow_fixture.local_airflow
airflow_on = airflow_fixture.airflow_on

PROBE = "run_aware_probe"
WAIT_LONG = ("--yes", "--json", "--wait", "240")
OTHER = "run_aware_other"
WAITER = '''"""Holds each run until {flags}/<run id> (or {flags}/all) exists. Version {version}."""

import os
import time

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

FLAGS = {flags!r}


def hold(run_id, **_):
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if os.path.exists(os.path.join(FLAGS, run_id)) or os.path.exists(os.path.join(FLAGS, "all")):
            return
        time.sleep(0.5)
    raise TimeoutError(f"no flag for {{run_id}} within 300 s")


with DAG(dag_id="{dag_id}", schedule=None, tags=["test"], default_args={{"owner": "data-platform"}}):
    PythonOperator(task_id="hold", python_callable=hold)
'''


@dataclass(frozen=True)
class RunAwareReleases:
    """r1; r1_other (only the other DAG's file changed); r2 (the probe's file changed); r3 (only the
    shared library changed, which every DAG reads)."""

    dir: Path
    flags: Path
    r1: str
    r1_other: str
    r2: str
    r3: str


@pytest.fixture(scope="module")
def run_aware_releases(tmp_path_factory: pytest.TempPathFactory) -> RunAwareReleases:
    """Build the four releases once."""
    base = tmp_path_factory.mktemp("run-aware")
    flags = base / "flags"
    flags.mkdir()
    out = base / "releases"
    envs = build_environments(base / "environments")
    jobs = make_jobs(base / "jobs")

    def dags(version: int, other_task: str, helper: str) -> dict[str, str]:
        return {
            "waiter.py": WAITER.format(flags=str(flags), version=version, dag_id=PROBE),
            "other.py": dag_source(OTHER, task=other_task),
            "lib/helpers.py": helper,
            ".airflowignore": "lib/\n",
        }

    variants = {
        "r1": dags(1, "t", HELPER),
        "r1_other": dags(1, "t2", HELPER),
        "r2": dags(2, "t2", HELPER),
        "r3": dags(2, "t2", HELPER + "\n\nSHARED = True\n"),
    }
    ids = {}
    for name, files in variants.items():
        root = make_tree(base / f"src-{name}", files)
        ids[name] = build_release(root, out, jobs_dir=jobs, run_checks=False, environments_dir=envs).release
    return RunAwareReleases(out, flags, **ids)


@pytest.fixture
def held(
    airflow_on: AirflowOn, run_aware_releases: RunAwareReleases, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AirflowOn]:
    """The session's Airflow on this test's buckets; at the end every held run is let go and waited for,
    so no run of this test outlives it (also on failure)."""
    monkeypatch.setenv("DEPLOYER_RELEASES_DIR", str(run_aware_releases.dir))
    try:
        yield airflow_on
    finally:
        (run_aware_releases.flags / "all").touch()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and _active(airflow_on):
            time.sleep(1)


def _active(on: AirflowOn) -> list[str]:
    answer = on.airflow.api("GET", f"/api/v2/dags/{PROBE}/dagRuns?state=queued&state=running")
    return [r["dag_run_id"] for r in answer.get("dag_runs", [])] if answer else []


def _until(what: str, check: Any, seconds: float = 180) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(1)
    raise AssertionError(f"not within {seconds:g} s: {what}")


def _parsed(on: AirflowOn) -> bool:
    known = {d["dag_id"]: d for d in on.airflow.api("GET", "/api/v2/dags?limit=100")["dags"]}
    return PROBE in known and not known[PROBE]["is_stale"]


def _hold(on: AirflowOn, run_id: str) -> None:
    """Trigger a run of the probe and wait until its task runs."""
    on.airflow.api("POST", f"/api/v2/dags/{PROBE}/dagRuns", {"dag_run_id": run_id, "logical_date": None})

    def running() -> bool:
        run = on.airflow.api("GET", f"/api/v2/dags/{PROBE}/dagRuns/{run_id}")
        assert run["state"] in ("queued", "running"), run
        return bool(run["state"] == "running")

    _until(f"{run_id} running", running)


def _promote(*args: str) -> dict[str, Any]:
    result = cli("promote", "--env", "local", "--yes", "--json", *args)
    assert result.code == 0, (result.out, result.err)
    return dict(result.json())


def _last_audit() -> dict[str, Any]:
    return dict(cli("audit", "--env", "local", "--json").json()["entries"][-1])


def test_promote_waits_for_refuses_over_or_is_forced_over_a_running_dag_run(
    held: AirflowOn, run_aware_releases: RunAwareReleases
) -> None:
    rel, env = run_aware_releases, held.env
    composer = env.buckets("local")["composer"]
    for rid in (rel.r1, rel.r1_other, rel.r2, rel.r3):
        assert cli("release", "publish", rid, "--env", "local").code == 0
    _promote("--release", rel.r1)
    _until(f"{PROBE} parsed", lambda: _parsed(held))
    _hold(held, "hold-1")

    # Only the other DAG's file changes: the probe's run is no reason to wait.
    report = _promote("--release", rel.r1_other, "--wait", "0")
    assert report["dag_runs"]["affected_dags"] == [OTHER] and report["dag_runs"]["waited_for"] == []

    # The probe's file changes: still running after --wait -> refused, nothing uploaded, audited.
    before = env.snapshot(composer)
    result = cli("promote", "--env", "local", "--release", rel.r2, "--yes", "--wait", "3")
    line = one_line_error(result, code=1)
    assert re.search(
        rf"still in progress after waiting 3(\.\d)? s \(--wait 3\) on DAGs this promotion changes: "
        rf"{PROBE} run ",
        line,
    )
    assert "hold-1 (running)" in line and "nothing uploaded" in line
    assert f"waiting up to 3 s for DAG run {PROBE} run hold-1 (running) (gs://{composer}/dags/waiter.py" in (
        result.err
    )
    assert env.snapshot(composer) == before
    refused = _last_audit()
    assert (refused["outcome"], refused["release"]) == ("refused", rel.r2)
    assert refused["details"]["dag_runs"] == [{"dag_id": PROBE, "run_id": "hold-1", "state": "running"}]
    assert cli("status", "--env", "local", "--json").json()["release"] == rel.r1_other

    # Waits, uploading nothing meanwhile, and goes on once the run is over.
    proc = subprocess.Popen(
        [sys.executable, "-m", "deployer", "promote", "--env", "local", "--release", rel.r2, *WAIT_LONG],
        env=env.environ(DEPLOYER_RELEASES_DIR=str(rel.dir)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.extend(iter(proc.stderr.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        _until(
            "promote waiting",
            lambda: any(f"for DAG run {PROBE} run hold-1" in ln for ln in err) or proc.poll(),
        )
        assert proc.poll() is None, "".join(err)
        assert env.snapshot(composer) == before
        (rel.flags / "hold-1").touch()
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=10)
    assert proc.returncode == 0, "".join(err)
    waited = json.loads(proc.stdout.read())["dag_runs"]  # type: ignore[union-attr]
    assert [r["run_id"] for r in waited["waited_for"]] == ["hold-1"] and waited["forced_over"] == []
    assert any("DAG runs finished after" in ln for ln in err), err
    assert held.airflow.api("GET", f"/api/v2/dags/{PROBE}/dagRuns/hold-1")["state"] == "success"
    assert "Version 2." in env.objects(composer, "dags/waiter.py")["dags/waiter.py"].decode()

    # A rollback changes the probe's file back: refused the same way.
    _hold(held, "hold-2")
    line = one_line_error(cli("rollback", "--env", "local", "--yes", "--wait", "0"), code=1)
    assert f"{PROBE} run hold-2 (running)" in line
    assert cli("status", "--env", "local", "--json").json()["release"] == rel.r2

    # Only the shared DAG library changes: every DAG is affected. --force goes on and audits the ids.
    forced = _promote("--release", rel.r3, "--wait", "0", "--force")
    assert forced["dag_runs"]["affected_dags"] == [OTHER, PROBE]
    assert forced["dag_runs"]["forced_over"] == [{"dag_id": PROBE, "run_id": "hold-2", "state": "running"}]
    entry = _last_audit()
    assert (entry["action"], entry["outcome"], entry["release"]) == ("promote", "ok", rel.r3)
    assert entry["details"]["forced_over_dags"] == [PROBE]
    assert entry["details"]["forced_over_dag_runs"] == forced["dag_runs"]["forced_over"]
    assert entry["reason"] == f"--force: promoted while DAG runs were in progress: {PROBE} run hold-2"
