"""Every DAG file loads through Airflow's DagBag: no import errors, no cycles, owner/retries/tags set,
nothing heavy imported at parse time; with a GCP runtime config the Dataproc task runs exactly the
release's artifacts. Each file's parse time is printed (the 200 ms budget is enforced in bench/)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.composer.conftest import DAG_FILES, probe, runtime_config, stage_dags

EXPECTED_DAGS = {"orders_daily.py": "orders_daily", "orders_freshness.py": "orders_freshness"}


def _check_common(report: dict[str, Any], dag_file: str, platform: str) -> dict[str, Any]:
    assert report["import_errors"] == {}
    assert report["heavy_modules"] == [], f"parsing imported {report['heavy_modules']}"
    (stat,) = report["stats"]
    print(
        f"\n{dag_file} ({platform} config): parsed in {stat['duration'] * 1000:.0f} ms as the DAG processor"
        f" parses it (its airflow.* imports pre-imported in {report['pre_import_seconds']:.1f} s)"
    )
    dag_id = EXPECTED_DAGS[dag_file]
    assert list(report["dags"]) == [dag_id]
    dag = report["dags"][dag_id]
    assert dag["cycle"] is None
    assert {"orders", f"platform:{platform}", "jobs-0f1e2d3c"} <= set(dag["tags"])
    for task_id, task in dag["tasks"].items():
        assert task["owner"] == "data-platform", task_id
        assert task["retries"] >= (0 if task_id == "gx_validate" else 1), task_id
        assert task["has_failure_callback"], task_id
    return dag


@pytest.mark.parametrize("dag_file", DAG_FILES)
def test_dag_file_with_gcp_config(dag_file: str, tmp_path: Path) -> None:
    config = runtime_config("gcp")
    folder = stage_dags(tmp_path, config)
    dag = _check_common(probe(folder / dag_file, tmp_path), dag_file, "gcp")
    if dag_file != "orders_daily.py":
        return
    assert dag["catchup"] is True
    assert dag["tasks"]["spark_clean"]["downstream"] == ["dbt_build"]
    assert dag["tasks"]["dbt_build"]["downstream"] == ["gx_validate"]
    spark = dag["tasks"]["spark_clean"]
    assert "DataprocSubmitJobOperator" in spark["mro"]
    expected = config.spark.jobs["orders_clean"]
    pyspark = spark["rendered_job"]["pyspark_job"]
    assert pyspark["main_python_file_uri"] == expected.main_python_file_uri
    assert pyspark["python_file_uris"] == expected.python_file_uris
    assert pyspark["jar_file_uris"] == expected.jar_file_uris
    assert spark["rendered_job"]["placement"] == {"cluster_name": config.spark.cluster_name}
    args = pyspark["args"]
    assert "--date=2026-01-15" in args
    assert "--input=acme-data-staging.orders_raw_staging.orders_events" in args
    assert "--output=acme-data-staging.orders_staging_staging.orders" in args
    assert spark["metrics_uri"] == "gs://acme-stg-dataproc-temp/orders_clean/metrics/2026-01-15.json"


@pytest.mark.parametrize("dag_file", DAG_FILES)
def test_dag_file_with_local_config(dag_file: str, tmp_path: Path) -> None:
    folder = stage_dags(tmp_path, runtime_config("local"))
    dag = _check_common(probe(folder / dag_file, tmp_path), dag_file, "local")
    if dag_file == "orders_daily.py":
        assert set(dag["tasks"]) == {"spark_clean", "dbt_build", "gx_validate"}
        assert "DataprocSubmitJobOperator" not in dag["tasks"]["spark_clean"]["mro"]


def test_without_runtime_config_a_dag_file_imports_and_declares_nothing(tmp_path: Path) -> None:
    folder = stage_dags(tmp_path, None)
    report = probe(folder / "orders_daily.py", tmp_path)
    assert report["import_errors"] == {}
    assert report["dags"] == {}


def test_a_broken_runtime_config_is_an_import_error_naming_the_field(tmp_path: Path) -> None:
    broken = runtime_config("gcp").model_dump(mode="json")
    del broken["spark"]["cluster_name"]
    import json

    folder = stage_dags(tmp_path, json.dumps(broken))
    report = probe(folder / "orders_daily.py", tmp_path)
    (message,) = report["import_errors"].values()
    assert "spark.cluster_name: is required" in message


def test_the_whole_folder_loads_and_helpers_are_ignored(tmp_path: Path) -> None:
    folder = stage_dags(tmp_path, runtime_config("local"))
    report = probe(folder, tmp_path)
    assert report["import_errors"] == {}
    assert sorted(report["dags"]) == ["orders_daily", "orders_freshness"]
    parsed = sorted(Path(s["file"]).name for s in report["stats"])
    assert parsed == ["orders_daily.py", "orders_freshness.py"]  # .airflowignore keeps orders_platform/ out
