"""Composer 3: private IP, no public web server, its own account, sizes and image from the file."""

from __future__ import annotations

from infra.packages import composer_requirements, merge_packages
from platform_model.environment import Environment
from tests.infra.conftest import Stack, resources


def test_one_private_composer_3_environment(stacks: dict[str, Stack], envs: dict[str, Environment]) -> None:
    for name, stack in stacks.items():
        env = envs[name]
        composers = resources(stack, "google_composer_environment")
        assert list(composers) == ["composer/environment"]
        body = composers["composer/environment"]
        config = body["config"]
        assert body["name"] == env.composer_environment_name()
        assert body["region"] == env.region
        assert body["labels"] == env.labels.as_dict()
        assert config["enable_private_environment"] is True
        # PyPI packages are installed (composer/requirements.txt): builds need the internet (Cloud NAT)
        assert config["enable_private_builds_only"] is False
        assert config["software_config"]["image_version"] == env.composer.image_version
        assert config["software_config"]["image_version"].startswith("composer-3-")
        assert config["environment_size"] == env.composer.environment_size
        node = config["node_config"]
        assert "iam_composer" in node["service_account"]
        assert node["composer_internal_ipv4_cidr_block"] == env.network.composer_cidr
        assert "network_subnet" in node["subnetwork"]


def test_no_public_web_server_access(stacks: dict[str, Stack], envs: dict[str, Environment]) -> None:
    for name, stack in stacks.items():
        config = resources(stack, "google_composer_environment")["composer/environment"]["config"]
        ranges = config["web_server_network_access_control"]["allowed_ip_range"]
        values = [r["value"] for r in ranges]
        assert "0.0.0.0/0" not in values
        assert values == [envs[name].network.subnet_cidr]


def test_workloads_from_the_file(stacks: dict[str, Stack], envs: dict[str, Environment]) -> None:
    for name, stack in stacks.items():
        w = envs[name].composer.workloads
        got = resources(stack, "google_composer_environment")["composer/environment"]["config"][
            "workloads_config"
        ]
        assert got["scheduler"] == {
            "cpu": w.scheduler.cpu,
            "memory_gb": w.scheduler.memory_gb,
            "storage_gb": w.scheduler.storage_gb,
            "count": w.scheduler.count,
        }
        assert got["worker"]["min_count"] == w.worker.min_count
        assert got["worker"]["max_count"] == w.worker.max_count
        assert got["worker"]["cpu"] == w.worker.cpu
        assert got["triggerer"]["count"] == w.triggerer.count
        assert got["dag_processor"]["memory_gb"] == w.dag_processor.memory_gb
        assert got["web_server"]["memory_gb"] == w.web_server.memory_gb
    assert (
        resources(stacks["prod"], "google_composer_environment")["composer/environment"]["config"][
            "workloads_config"
        ]["worker"]["max_count"]
        == 10
    )


def test_pypi_packages_from_requirements_merged_with_the_file(
    stacks: dict[str, Stack], envs: dict[str, Environment]
) -> None:
    required = composer_requirements()
    assert set(required) >= {"dbt-core", "dbt-bigquery", "great-expectations"}
    for name, stack in stacks.items():
        software = resources(stack, "google_composer_environment")["composer/environment"]["config"][
            "software_config"
        ]
        assert software["pypi_packages"] == merge_packages(required, envs[name].composer.pypi_packages)
        assert software["pypi_packages"]["great-expectations"].startswith("==")
        # nothing the image already provides (named in the file's header, not listed) is installed again
        assert not {"apache-airflow-providers-google", "google-cloud-bigquery", "pandas"} & set(
            software["pypi_packages"]
        )
