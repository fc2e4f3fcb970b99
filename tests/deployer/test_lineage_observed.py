"""Observed lineage: a real dbt run on DuckDB (the DAG library's dbt step, under `dbt-ol`) leaves
OpenLineage events; `deployer check` reports the edge no domain declares, `deployer lineage --env`
draws it."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from composer.local_run import lineage_events_file, openlineage_environ, read_lineage_events
from deployer.airflow_local import STATE_DIR_ENV
from platform_model import REPO_ROOT
from tests.deployer.helpers import deployer
from tests.support.domains import copy_repo

DAY = "2026-01-15"
# A model of the orders domain reading the customers domain's raw table: orders does not declare it
# (customers is no input of orders), though the SQL names it through dbt's own source().
PEEK = "{{ config(materialized='table', contract={'enforced': false}) }}\n" + (
    "select customer_id, segment from {{ source('customers_raw', 'customers_events') }}\n"
)


@pytest.fixture(scope="module")
def peek_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A scratch repo with the undeclared model, its dbt step run for real: (release files, events)."""
    from composer.local_run import write_sample_events
    from composer.runtime_config import for_repo, write
    from platform_model.environment import load_environment

    tmp = tmp_path_factory.mktemp("lineage")
    repo = copy_repo(tmp / "repo", REPO_ROOT)
    (repo / "dbt" / "models" / "orders" / "staging" / "stg_orders_peek.sql").write_text(PEEK)
    # the layout a promotion leaves: files/{dags,domains,dbt}; the bucket root holds dags/ and data/
    files = tmp / "files"
    for part, src in (("dags", "composer/dags"), ("domains", "domains"), ("dbt", "dbt")):
        shutil.copytree(repo / src, files / part, ignore=shutil.ignore_patterns("target", "logs"))
    dags = files / "dags"
    write(
        for_repo(
            load_environment("local"),
            components=dict.fromkeys(("jobs", "dbt", "gx"), "r"),
            jobs_base="file:///x/",
        ),
        dags,
    )
    warehouse = tmp / "warehouse"
    write_sample_events(warehouse, DAY, rows=20)
    events = lineage_events_file(tmp)
    mp = pytest.MonkeyPatch()
    try:
        for key, value in openlineage_environ(dags, events).items():
            mp.setenv(key, value)
        mp.setenv("AIRFLOW_HOME", str(tmp / "airflow-home"))  # where the task keeps dbt's parse state
        mp.syspath_prepend(str(dags))
        from pipelines import dbt_task, runtime

        cfg = runtime.load(dags / "runtime_config.json")
        outcome = dbt_task.build(files / "dbt", cfg, "stg_orders_peek", DAY, warehouse)
    finally:
        mp.undo()
    assert outcome.nodes == {"model.platform.stg_orders_peek": "success"}
    return files, events


def test_the_dbt_step_leaves_events_with_inputs_and_outputs(peek_run: tuple[Path, Path]) -> None:
    _files, events = peek_run
    runs = [e for e in read_lineage_events(events) if e["job"]["name"].endswith("stg_orders_peek.build.run")]
    assert {e["eventType"] for e in runs} == {"START", "COMPLETE"}
    done = next(e for e in runs if e["eventType"] == "COMPLETE")
    assert done["job"]["namespace"] == "local"  # the environment, from the transport's set-up
    assert [(d["namespace"].split("://")[0], d["name"]) for d in done["inputs"]] == [
        ("duckdb", "warehouse.raw_local.customers_events")
    ]
    assert [d["name"] for d in done["outputs"]] == ["warehouse.staging_local.stg_orders_peek"]


def test_check_reports_the_undeclared_edge(peek_run: tuple[Path, Path]) -> None:
    files, events = peek_run
    done = deployer(
        files, "check", "--release", str(files), "--only", "dbt-selectors", "--lineage-events", str(events)
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        "lineage: observed, never declared: raw.customers_events -> dbt stg_orders_peek "
        "(orders does not declare reading it)"
    ) in done.stdout.splitlines()
    assert "1 cross-layer finding(s)" in done.stderr + done.stdout


def test_check_without_events_has_no_lineage_finding_and_says_so(peek_run: tuple[Path, Path]) -> None:
    files, _events = peek_run
    missing = files.parent / "no-events.jsonl"
    done = deployer(
        files, "check", "--release", str(files), "--only", "dbt-selectors", "--lineage-events", str(missing)
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"lineage: no OpenLineage events at {missing}, nothing observed (no finding)" in done.stdout


def test_check_reads_the_events_of_the_local_airflow_by_itself(peek_run: tuple[Path, Path]) -> None:
    files, events = peek_run
    home = events.parents[1]  # <AIRFLOW_HOME>/openlineage/events.jsonl, as the local Airflow writes them
    states = files.parent / "airflow-states"
    states.mkdir(exist_ok=True)
    only = ("check", "--release", str(files), "--only", "dbt-selectors")
    none = deployer(files, *only, env={STATE_DIR_ENV: str(states)})
    assert none.returncode == 0, none.stdout + none.stderr
    assert "lineage not compared (no --lineage-events, no local Airflow events of local)" in none.stdout
    (states / "local.json").write_text(json.dumps({"home": str(home)}))
    found = deployer(files, *only, env={STATE_DIR_ENV: str(states)})
    assert found.returncode == 1, found.stdout + found.stderr
    undeclared = "lineage: observed, never declared: raw.customers_events"
    assert any(line.startswith(undeclared) for line in found.stdout.splitlines())


def test_lineage_env_draws_the_observed_graph_beside_the_declared(
    peek_run: tuple[Path, Path], tmp_path: Path
) -> None:
    from deployer.lineage_observed import report, write_observed

    files, events = peek_run
    result = report(files, events, "local")
    assert result is not None
    written = write_observed(result, tmp_path)
    assert sorted(p.name for p in written) == [
        "lineage-observed.mmd",
        "lineage-observed.svg",
        "lineage-observed.txt",
    ]
    root = ET.parse(tmp_path / "lineage-observed.svg").getroot()
    titles = {"".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}title")}
    assert "raw_customers_events&#45;&gt;model_stg_orders_peek" in titles or (
        "raw_customers_events->model_stg_orders_peek" in titles
    )
    text = (tmp_path / "lineage-observed.txt").read_text()
    assert "observed, never declared: raw.customers_events -> dbt stg_orders_peek" in text
    # the one step that ran read nothing it declares, so no declared edge is missing from it
    assert "declared, never observed" not in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "error: --release: give a release id, or --env ENV for the one live there"),
        (("--release", "r-0123456789ab", "--events", "x.jsonl"), "error: --events: needs --env ENV"),
    ],
)
def test_lineage_bad_arguments_are_one_line_and_exit_2(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    done = deployer(REPO_ROOT, "lineage", *args, "--out", str(tmp_path))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines()[0].startswith(message) and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("line", "message"),
    [("{not json", "not an OpenLineage event (invalid JSON)"), ("{}", "not an OpenLineage run event")],
)
def test_a_file_of_other_json_is_an_error(tmp_path: Path, line: str, message: str) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(line + "\n")
    done = deployer(REPO_ROOT, "check", "--only", "pii-tags", "--lineage-events", str(events))
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {events}:1: {message}"), lines


def _config_for(dags: Path, env_name: str) -> None:
    """A rendered local runtime config, relabelled as `env_name`'s."""
    import json

    from composer.runtime_config import for_repo, write
    from platform_model.environment import load_environment

    path = write(
        for_repo(
            load_environment("local"),
            components=dict.fromkeys(("jobs", "dbt", "gx"), "r"),
            jobs_base="file:///x/",
        ),
        dags,
    )
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "env": env_name}))


def test_lineage_switches_on_only_for_a_local_environment_with_lineage_enabled(tmp_path: Path) -> None:
    envs = tmp_path / "environments"
    envs.mkdir()
    local = (REPO_ROOT / "environments" / "local.yaml").read_text()
    (envs / "local.yaml").write_text(local)
    (envs / "local-off.yaml").write_text(
        local.replace("name: local\n", "name: local-off\n") + "lineage: {enabled: false}\n"
    )
    shutil.copy(REPO_ROOT / "environments" / "dev.yaml", envs / "dev.yaml")
    dags, events = tmp_path / "dags", tmp_path / "ol" / "events.jsonl"
    dags.mkdir()
    assert openlineage_environ(dags, events, envs) == {}  # nothing promoted yet
    _config_for(dags, "local")
    on = openlineage_environ(dags, events, envs)
    assert on["PLATFORM_LINEAGE_EVENTS"] == str(events) and on["OPENLINEAGE_NAMESPACE"] == "local"
    assert (
        '"type": "file"' in on["AIRFLOW__OPENLINEAGE__TRANSPORT"]
        and str(events) in on["AIRFLOW__OPENLINEAGE__TRANSPORT"]
    )
    for off in ("local-off", "dev"):
        _config_for(dags, off)
        assert openlineage_environ(dags, events, envs) == {}, off


def test_the_local_airflow_writes_its_events_into_its_home(tmp_path: Path) -> None:
    from deployer.airflow_local import LocalAirflow

    (tmp_path / "home").mkdir()
    airflow = LocalAirflow(tmp_path / "home")
    assert "PLATFORM_LINEAGE_EVENTS" not in airflow.environ()  # nothing promoted into its bucket yet
    airflow.dags_folder.mkdir(parents=True)
    _config_for(airflow.dags_folder, "local")
    env = airflow.environ()
    assert env["PLATFORM_LINEAGE_EVENTS"] == str(lineage_events_file(airflow.home))
    assert str(lineage_events_file(airflow.home)) in env["AIRFLOW__OPENLINEAGE__TRANSPORT"]
