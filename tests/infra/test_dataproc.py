"""Dataproc: internal IP only, the autoscaling policy attached, sizes and image from the file."""

from __future__ import annotations

import tomllib

from infra import REPO_ROOT
from platform_model.environment import Environment
from tests.infra.conftest import Stack, resources


def test_autoscaling_policy_bounds(stacks: dict[str, Stack], envs: dict[str, Environment]) -> None:
    for name, stack in stacks.items():
        bounds = envs[name].dataproc.autoscaling
        policies = resources(stack, "google_dataproc_autoscaling_policy")
        assert list(policies) == ["dataproc/autoscaling"]
        policy = policies["dataproc/autoscaling"]
        assert policy["worker_config"] == {
            "min_instances": bounds.primary_min,
            "max_instances": bounds.primary_max,
        }
        assert policy["secondary_worker_config"] == {
            "min_instances": bounds.secondary_min,
            "max_instances": bounds.secondary_max,
        }
        assert policy["basic_algorithm"]["cooldown_period"] == bounds.cooldown
        assert policy["location"] == envs[name].region


def test_cluster_is_internal_and_uses_the_policy(
    stacks: dict[str, Stack], envs: dict[str, Environment]
) -> None:
    for name, stack in stacks.items():
        env = envs[name]
        clusters = resources(stack, "google_dataproc_cluster")
        assert list(clusters) == ["dataproc/cluster"]
        cluster = clusters["dataproc/cluster"]
        config = cluster["cluster_config"]
        assert cluster["name"] == env.dataproc_cluster_name()
        assert cluster["labels"] == env.labels.as_dict()
        gce = config["gce_cluster_config"]
        assert gce["internal_ip_only"] is True
        assert "iam_dataproc" in gce["service_account"]
        assert "network_subnet" in gce["subnetwork"]
        assert gce["shielded_instance_config"]["enable_secure_boot"] is True
        assert config["autoscaling_config"]["policy_uri"].startswith(
            "${google_dataproc_autoscaling_policy.dataproc_autoscaling_"
        )
        assert config["master_config"]["machine_type"] == env.dataproc.master_machine_type
        assert config["worker_config"]["machine_type"] == env.dataproc.worker_machine_type
        assert config["worker_config"]["num_instances"] == env.dataproc.autoscaling.primary_min
        assert config["worker_config"]["disk_config"]["boot_disk_size_gb"] == env.dataproc.boot_disk_gb
        assert config["software_config"]["image_version"] == env.dataproc.image_version
        assert "storage_dataproc-staging" in config["staging_bucket"]
        assert "storage_dataproc-temp" in config["temp_bucket"]
        assert config["endpoint_config"]["enable_http_port_access"] is False
        if env.dataproc.idle_delete_ttl:
            assert config["lifecycle_config"]["idle_delete_ttl"] == env.dataproc.idle_delete_ttl
        else:
            assert "lifecycle_config" not in config


def test_cluster_installs_the_secret_manager_client_pinned_to_the_lock(
    stacks: dict[str, Stack], envs: dict[str, Environment]
) -> None:
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
    (locked,) = [p["version"] for p in lock["package"] if p["name"] == "google-cloud-secret-manager"]
    for name, stack in stacks.items():
        software = resources(stack, "google_dataproc_cluster")["dataproc/cluster"]["cluster_config"][
            "software_config"
        ]
        # the only other property is Spark lineage (tests/infra/test_lineage.py)
        assert software["override_properties"] == {
            "dataproc:pip.packages": f"google-cloud-secret-manager=={locked}",
            "dataproc:dataproc.lineage.enabled": str(envs[name].lineage.enabled).lower(),
        }


def test_firewall_admits_only_the_cluster_itself(stacks: dict[str, Stack]) -> None:
    for stack in stacks.values():
        rules = resources(stack, "google_compute_firewall")
        assert list(rules) == ["dataproc/internal"]
        rule = rules["dataproc/internal"]
        assert rule["direction"] == "INGRESS"
        assert "source_ranges" not in rule
        assert rule["source_service_accounts"] == rule["target_service_accounts"]
        assert "iam_dataproc" in rule["source_service_accounts"][0]
