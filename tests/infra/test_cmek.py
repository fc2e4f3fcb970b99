"""CMEK: keys with rotation exactly where the environment file enables CMEK, and nowhere else."""

from __future__ import annotations

import json

from platform_model.environment import Environment
from tests.infra.conftest import Stack, resources

# resource type -> the attribute that carries its key
ENCRYPTED = {
    "google_storage_bucket": ("encryption", "default_kms_key_name"),
    "google_composer_environment": ("config", "encryption_config", "kms_key_name"),
    "google_dataproc_cluster": ("cluster_config", "encryption_config", "kms_key_name"),
    "google_bigquery_dataset": ("default_encryption_configuration", "kms_key_name"),
    "google_bigquery_table": ("encryption_configuration", "kms_key_name"),
    "google_pubsub_topic": ("kms_key_name",),
}


def dig(body: dict, path: tuple[str, ...]) -> object:  # type: ignore[type-arg]
    for key in path:
        if not isinstance(body, dict) or key not in body:
            return None
        body = body[key]
    return body


def test_cmek_follows_the_file(stacks: dict[str, Stack], envs: dict[str, Environment]) -> None:
    assert {n for n, e in envs.items() if e.cmek.enabled} == {"staging", "prod"}
    assert {n for n, e in envs.items() if not e.cmek.enabled} == {"dev"}
    for name, stack in stacks.items():
        enabled = envs[name].cmek.enabled
        keys = resources(stack, "google_kms_crypto_key")
        if not enabled:
            assert keys == {}
            assert "kms" not in json.dumps(stack.get("resource", {})).lower().replace("cloudkms", "")
            continue
        assert {k.removeprefix("cmek/key-") for k in keys} == {
            "storage",
            "pubsub",
            "composer",
            "dataproc",
            "bigquery",
        }
        for key in keys.values():
            assert key["rotation_period"] == envs[name].cmek.rotation_period
            assert key["lifecycle"]["prevent_destroy"] is True
            assert key["labels"] == envs[name].labels.as_dict()
        for type_, path in ENCRYPTED.items():
            bodies = resources(stack, type_)
            assert bodies, type_
            for where, body in bodies.items():
                value = dig(body, path)
                assert isinstance(value, str) and "google_kms_crypto_key.cmek_key-" in value, (name, where)


def test_bigquery_key_lives_in_the_bigquery_location(
    stacks: dict[str, Stack], envs: dict[str, Environment]
) -> None:
    for name, stack in stacks.items():
        env = envs[name]
        if not env.cmek.enabled:
            continue
        rings = resources(stack, "google_kms_key_ring")
        assert {r["location"] for r in rings.values()} == {env.region, env.bigquery.location.lower()}
        bq_key = resources(stack, "google_kms_crypto_key")["cmek/key-bigquery"]
        assert "cmek_ring-bigquery" in bq_key["key_ring"]


def test_service_agents_can_use_their_keys(stacks: dict[str, Stack], envs: dict[str, Environment]) -> None:
    for name, stack in stacks.items():
        if not envs[name].cmek.enabled:
            continue
        grants = resources(stack, "google_kms_crypto_key_iam_member")
        by_key: dict[str, set[str]] = {}
        for path, grant in grants.items():
            assert grant["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
            by_key.setdefault(path.split("-agent-")[0].removeprefix("cmek/key-"), set()).add(grant["member"])
        assert any("gcp-sa-pubsub" in m for m in by_key["pubsub"])
        assert any("cloudcomposer-accounts" in m for m in by_key["composer"])
        assert any("compute-system" in m for m in by_key["dataproc"])
        assert any("google_storage_project_service_account" in m for m in by_key["storage"])
        assert any("google_bigquery_default_service_account" in m for m in by_key["bigquery"])
        bucket = resources(stack, "google_storage_bucket")["storage/artifacts"]
        assert any("cmek_key-storage-agent" in dep for dep in bucket["depends_on"])
