"""DAG folders to test: copies of composer/dags with a runtime config rendered by the deployer's model."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from composer.dag_check import dag_report
from deployer.runtime import DbtRuntime, GxRuntime, RuntimeConfig, SparkJob, SparkRuntime

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "composer" / "dags"
DAG_FILES = sorted(p.name for p in DAGS.glob("*.py"))

# Airflow imported in this process (alert e-mail, operators) keeps its files out of the home folder.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="airflow-home-tests-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

# The dags folder on sys.path, as Airflow puts it: `orders_platform` imports like on Composer.
if str(DAGS) not in sys.path:
    sys.path.insert(0, str(DAGS))


def runtime_config(platform: str = "gcp", **over: Any) -> RuntimeConfig:
    """A runtime config as the deployer renders it (the pydantic contract model)."""
    base = "gs://acme-stg-artifacts/jobs/0f1e2d3c/" if platform == "gcp" else "file:///tmp/jobs/"
    fields: dict[str, Any] = {
        "env": "staging" if platform == "gcp" else "local",
        "platform": platform,
        "project": "acme-data-staging",
        "region": "europe-west1",
        "components": {"jobs": "0f1e2d3c", "dbt": "dbt-digest", "gx": "gx-digest"},
        "labels": {"env": "staging", "owner": "data-platform", "cost-center": "cc-4120"},
        "datasets": {
            "raw": "orders_raw_staging",
            "staging": "orders_staging_staging",
            "marts": "orders_marts_staging",
        },
        "bigquery_location": "EU",
        "raw_table": "orders_events",
        "pubsub_topic": "orders-events",
        "pubsub_subscription": "orders-events-raw",
        "spark": SparkRuntime(
            cluster_name="acme-stg-etl",
            region="europe-west1",
            temp_bucket="acme-stg-dataproc-temp",
            jobs={
                "orders_clean": SparkJob(
                    main_python_file_uri=base + "orders_clean.py",
                    python_file_uris=[base + "dataproc_jobs.zip"],
                    jar_file_uris=[
                        base + "orders-udfs.jar",
                        "gs://spark-lib/bigquery/spark-3.5-bigquery-0.42.1.jar",
                    ],
                )
            },
        ),
        "dbt": DbtRuntime(
            project_path="data/dbt/0a1b2c",
            target="staging" if platform == "gcp" else "local",
            vars={"policy_tags": {"PII Email": "projects/p/locations/eu/taxonomies/1/policyTags/2"}},
        ),
        "gx": GxRuntime(suites_path="data/gx/0a1b2c"),
        "alert_emails": ["data-platform-alerts@acme.example"],
    }
    fields.update(over)
    return RuntimeConfig(**fields)


def stage_dags(root: Path, config: RuntimeConfig | str | None) -> Path:
    """Copy composer/dags to `root/dags` with `config` as runtime_config.json (None: no file)."""
    folder = root / "dags"
    shutil.copytree(DAGS, folder, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
    if isinstance(config, RuntimeConfig):
        (folder / "runtime_config.json").write_text(config.model_dump_json(indent=2), encoding="utf-8")
    elif isinstance(config, str):
        (folder / "runtime_config.json").write_text(config, encoding="utf-8")
    return folder


def probe(dag_file: Path, tmp: Path) -> dict[str, Any]:
    """Load `dag_file` through DagBag in a fresh interpreter (composer.dag_check)."""
    return dag_report(dag_file, airflow_home=tmp / "airflow-home")


@pytest.fixture
def gcp_config() -> RuntimeConfig:
    """A staging (gcp) runtime config."""
    return runtime_config("gcp")
