"""The one runtime-config builder: an entry per deployed domain, with the environment's overrides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from platform_model.domain import load_domains, resolve
from platform_model.environment import ENVIRONMENTS_DIR, load_environment, load_environment_file
from platform_model.errors import ConfigError
from platform_model.runtime import SCHEMA_VERSION, build, to_bytes

COMPONENTS = {"jobs": "a" * 16, "dbt": "b" * 16, "gx": "c" * 16}


def _jobs(domains: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        job: {
            "main": f"{job}.py",
            "py_files": [f"{d.job_package(job)}.zip"],
            "jars": [f"{j}.jar" for j in spec.jars],
            "connectors": spec.connectors,
        }
        for d in domains.values()
        for job, spec in d.spark_jobs.items()
    }


def _build(env: Any, domains: dict[str, Any], jobs: dict[str, Any] | None = None) -> Any:
    return build(
        env,
        domains,
        components=COMPONENTS,
        jobs=_jobs(domains) if jobs is None else jobs,
        jobs_base="gs://acme-dev-artifacts/jobs/" + COMPONENTS["jobs"] + "/",
        policy_tags=env.local_policy_tag_ids(),
    )


def test_an_entry_per_domain_with_what_its_dags_need() -> None:
    env = load_environment("dev")
    declared = load_domains()
    cfg = _build(env, resolve(env, declared))
    assert cfg.schema_version == SCHEMA_VERSION
    assert list(cfg.domains) == ["customers", "orders", "revenue"]  # inputs first
    orders = cfg.domains["orders"]
    assert orders.raw_table == "orders_events" and orders.staging_table == "orders"
    assert orders.pubsub_subscription == "orders-events-raw"
    assert orders.spark_jobs == ["orders_clean"]
    assert orders.pii_secret == "orders-pii-hash-key"  # pragma: allowlist secret (a secret's name)
    assert set(orders.dags) == {"orders_daily", "orders_freshness"}
    assert orders.gx_suites["orders_staging"].file == "expectations/orders/orders_staging.json"
    revenue = cfg.domains["revenue"]
    assert revenue.dags["revenue_daily"].schedule is None
    assert revenue.input_assets == [declared["orders"].asset_uri, declared["customers"].asset_uri]
    job = cfg.spark.jobs["orders_clean"]
    assert job.main_python_file_uri == f"gs://acme-dev-artifacts/jobs/{COMPONENTS['jobs']}/orders_clean.py"
    assert job.jar_file_uris[-1] == env.dataproc.connectors["spark-bigquery"].uri
    assert cfg.dbt.project_path == f"data/dbt/{COMPONENTS['dbt']}" and cfg.dbt.target == "dev"
    assert cfg.datasets == {layer: ds.id for layer, ds in env.bigquery.datasets.items()}


def test_freshness_target_and_switch_off_come_from_the_environment(tmp_path: Path) -> None:
    data = yaml.safe_load((ENVIRONMENTS_DIR / "staging.yaml").read_text())
    data["domains"] = {
        "orders": {"dags": {"freshness": {"freshness_target_seconds": 600}}},
        "revenue": {"enabled": False},
    }
    path = tmp_path / "staging.yaml"
    path.write_text(yaml.safe_dump(data))
    env = load_environment_file(path)
    cfg = _build(env, resolve(env, load_domains()))
    assert cfg.domains["orders"].dags["orders_freshness"].freshness_target_seconds == 600
    assert cfg.domains["customers"].dags["customers_freshness"].freshness_target_seconds == 7200
    assert "revenue" not in cfg.domains


def test_a_declared_job_the_release_lacks_is_refused() -> None:
    env = load_environment("dev")
    domains = resolve(env, load_domains())
    jobs = _jobs(domains)
    del jobs["customers_clean"]
    with pytest.raises(
        ConfigError,
        match=r"domain 'customers' declares Spark job 'customers_clean', which the release does not build",
    ):
        _build(env, domains, jobs)


def test_a_connector_the_environment_lacks_is_refused() -> None:
    env = load_environment("dev")
    domains = resolve(env, load_domains())
    jobs = _jobs(domains)
    jobs["orders_clean"]["connectors"] = ["spark-spanner"]
    with pytest.raises(
        ConfigError,
        match=r"job 'orders_clean' needs connector 'spark-spanner', which dataproc\.connectors of "
        r"environments/dev\.yaml",
    ):
        _build(env, domains, jobs)


def test_same_inputs_same_bytes() -> None:
    env = load_environment("local")
    domains = resolve(env, load_domains())
    one, two = to_bytes(_build(env, domains)), to_bytes(_build(env, domains))
    assert one == two
    assert json.loads(one)["platform"] == "local"
