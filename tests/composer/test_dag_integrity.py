"""Every DAG file loads through Airflow's DagBag (composer.dag_check) with a runtime config built for a gcp
environment and for the local one: no import errors, no cycles, nothing heavy (or missing on Composer)
imported at parse time, and each domain's DAGs carry what its runtime entry says: schedule (cron, or the
input domains' assets), retries, paused, owner, tags, its own dbt selector and GX suites, the asset its
daily DAG emits; with a gcp config the Dataproc tasks run exactly the release's artifacts with the
domain's tables and PII secret. Each file's parse time is printed (the 200 ms budget is in bench/)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from platform_model.domain import load_domains
from platform_model.environment import DagOverride, DomainOverride
from platform_model.runtime import RuntimeConfig
from tests.composer.conftest import DAG_FILES, PLATFORM_ENVS, probe, runtime_config, stage_dags

DOMAIN_FILES = {f"{name}.py": name for name in runtime_config("gcp").domains}


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[RuntimeConfig, dict[str, Any]]]:
    """Per platform: its runtime config and the report of the whole DAG folder loaded with it."""
    out = {}
    for platform in PLATFORM_ENVS:
        tmp = tmp_path_factory.mktemp(platform)
        config = runtime_config(platform)
        out[platform] = (config, probe(stage_dags(tmp, config), tmp))
    return out


def test_every_domain_has_a_dag_file_and_every_dag_file_a_domain() -> None:
    assert sorted(DOMAIN_FILES) == DAG_FILES


def test_the_folder_loads_and_the_library_is_ignored(
    folders: dict[str, tuple[RuntimeConfig, dict[str, Any]]],
) -> None:
    for platform, (config, report) in folders.items():
        assert report["import_errors"] == {}, platform
        assert report["heavy_modules"] == [] and report["repo_modules"] == [], platform
        expected = sorted(dag_id for d in config.domains.values() for dag_id in d.dags)
        assert sorted(report["dags"]) == expected
        parsed = sorted(Path(s["file"]).name for s in report["stats"])
        assert parsed == DAG_FILES  # .airflowignore keeps pipelines/ out


@pytest.mark.parametrize("platform", sorted(PLATFORM_ENVS))
@pytest.mark.parametrize("dag_file", DAG_FILES)
def test_dag_file(
    dag_file: str, platform: str, folders: dict[str, tuple[RuntimeConfig, dict[str, Any]]]
) -> None:
    config, report = folders[platform]
    name = DOMAIN_FILES[dag_file]
    domain = config.domains[name]
    (stat,) = [s for s in report["stats"] if Path(s["file"]).name == dag_file]
    print(f"\n{dag_file} ({platform} config): parsed in {stat['duration'] * 1000:.0f} ms by DagBag")
    dags = {dag_id: dag for dag_id, dag in report["dags"].items() if dag["file"] == dag_file}
    assert sorted(dags) == sorted(domain.dags)
    for dag_id, dag in dags.items():
        spec = domain.dags[dag_id]
        assert dag["cycle"] is None
        assert set(dag["tags"]) == {
            name,
            f"env:{config.env}",
            f"platform:{platform}",
            *(f"{c}-{config.components[c][:12]}" for c in ("jobs", "dbt", "gx")),
        }
        assert dag["paused"] is spec.paused
        for task_id, task in dag["tasks"].items():
            assert task["owner"] == domain.owner, task_id
            assert task["retries"] == (0 if task_id == "gx_validate" else spec.retries), task_id
            assert task["has_failure_callback"], task_id
        if spec.kind == "freshness":
            assert dag["schedule"] == spec.schedule
            (task,) = dag["tasks"].values()
            assert task["op_kwargs"] == {
                "table": domain.raw_table,
                "target_seconds": spec.freshness_target_seconds,
            }
            continue
        spark = [f"spark_{job}" for job in domain.spark_jobs]
        chain = [*spark, "dbt_build", "gx_validate"]
        assert sorted(dag["tasks"]) == sorted(chain)
        for upstream, downstream in itertools.pairwise(chain):
            assert dag["tasks"][upstream]["downstream"] == [downstream]
        assert dag["tasks"]["gx_validate"]["downstream"] == []
        assert dag["tasks"]["dbt_build"]["op_kwargs"] == {"select": domain.dbt_select}
        assert dag["tasks"]["gx_validate"]["op_kwargs"] == {"suites": sorted(domain.gx_suites)}
        assert [t for t, task in dag["tasks"].items() if task["outlets"]] == ["gx_validate"]
        assert dag["tasks"]["gx_validate"]["outlets"] == [domain.asset]
        if spec.schedule is not None:
            assert dag["schedule"] == spec.schedule and dag["catchup"] is True
            assert dag["schedule_assets"] is None
        for task_id in spark:
            is_dataproc = "DataprocSubmitJobOperator" in dag["tasks"][task_id]["mro"]
            assert is_dataproc is (platform == "gcp"), task_id
            if platform == "gcp":
                _check_dataproc(config, name, task_id.removeprefix("spark_"), dag["tasks"][task_id])
            else:
                assert dag["tasks"][task_id]["op_kwargs"] == {"job": task_id.removeprefix("spark_")}


def _check_dataproc(config: RuntimeConfig, name: str, job: str, task: dict[str, Any]) -> None:
    domain, expected = config.domains[name], config.spark.jobs[job]
    rendered = task["rendered_job"]
    pyspark = rendered["pyspark_job"]
    assert pyspark["main_python_file_uri"] == expected.main_python_file_uri
    assert pyspark["python_file_uris"] == expected.python_file_uris
    assert pyspark["jar_file_uris"] == expected.jar_file_uris
    assert rendered["placement"] == {"cluster_name": config.spark.cluster_name}
    assert rendered["labels"]["domain"] == name and rendered["labels"]["job"] == job.replace("_", "-")
    project, ds = config.project, config.datasets
    args = pyspark["args"]
    assert "--date=2026-01-15" in args
    assert f"--input={project}.{ds['raw']}.{domain.raw_table}" in args
    assert f"--output={project}.{ds['staging']}.{domain.staging_table}" in args
    assert f"--rejects={project}.{ds['staging']}.{domain.rejects_table}" in args
    assert f"--lateness-days={domain.lateness_days}" in args
    assert f"--pii-key-source=gsm:projects/{project}/secrets/{domain.pii_secret}/versions/latest" in args
    assert task["metrics_uri"] == f"gs://{config.spark.temp_bucket}/{job}/metrics/2026-01-15.json"


def test_a_cross_domain_daily_dag_runs_on_all_its_inputs_assets(
    folders: dict[str, tuple[RuntimeConfig, dict[str, Any]]],
) -> None:
    config, report = folders["gcp"]
    dag = report["dags"]["revenue_daily"]
    assert dag["schedule_assets"] == {
        "condition": "AssetAll",
        "assets": ["x-platform://domains/orders", "x-platform://domains/customers"],
    }
    assert dag["schedule_assets"]["assets"] == config.domains["revenue"].input_assets
    assert [t for t in dag["tasks"] if t.startswith("spark_")] == []
    for name in config.domains["revenue"].inputs:
        emitted = report["dags"][f"{name}_daily"]["tasks"]["gx_validate"]["outlets"]
        assert emitted == [f"x-platform://domains/{name}"]


def test_each_domain_builds_and_validates_only_its_own(
    folders: dict[str, tuple[RuntimeConfig, dict[str, Any]]],
) -> None:
    _config, report = folders["local"]
    declared = load_domains()
    seen_suites: set[str] = set()
    for name in DOMAIN_FILES.values():
        tasks = report["dags"][f"{name}_daily"]["tasks"]
        select = tasks["dbt_build"]["op_kwargs"]["select"]
        assert select == declared[name].dbt_select
        assert f"path:models/{name}" in select.split()  # its own folder
        suites = tasks["gx_validate"]["op_kwargs"]["suites"]
        assert suites == sorted(declared[name].gx_suites) and suites
        assert not seen_suites & set(suites), f"{name} validates another domain's suite"
        seen_suites |= set(suites)


def test_environment_overrides_reach_the_dags(tmp_path: Path) -> None:
    override = DomainOverride(
        owner="night-shift",
        dags={"daily": DagOverride(schedule="15 4 * * *", retries=5, paused=True)},
    )
    config = runtime_config("gcp", orders=override)
    dag = probe(stage_dags(tmp_path, config) / "orders.py", tmp_path)["dags"]["orders_daily"]
    assert (dag["schedule"], dag["paused"]) == ("15 4 * * *", True)
    assert {t["owner"] for t in dag["tasks"].values()} == {"night-shift"}
    assert dag["tasks"]["dbt_build"]["retries"] == 5


def test_a_switched_off_domain_declares_no_dag(tmp_path: Path) -> None:
    config = runtime_config("gcp", revenue=DomainOverride(enabled=False))
    assert "revenue" not in config.domains
    folder = stage_dags(tmp_path, config)
    report = probe(folder / "revenue.py", tmp_path)
    assert report["import_errors"] == {} and report["dags"] == {}
    assert sorted(probe(folder / "orders.py", tmp_path)["dags"]) == ["orders_daily", "orders_freshness"]


def test_without_runtime_config_a_dag_file_imports_and_declares_nothing(tmp_path: Path) -> None:
    report = probe(stage_dags(tmp_path, None), tmp_path)
    assert report["import_errors"] == {}
    assert report["dags"] == {}
    assert sorted(Path(s["file"]).name for s in report["stats"]) == DAG_FILES


def test_a_broken_runtime_config_is_an_import_error_naming_the_field(tmp_path: Path) -> None:
    broken = runtime_config("gcp").model_dump(mode="json")
    del broken["domains"]["orders"]["dbt_select"]
    folder = stage_dags(tmp_path, json.dumps(broken))
    report = probe(folder / "orders.py", tmp_path)
    (message,) = report["import_errors"].values()
    assert "domains.orders.dbt_select: is required" in message
