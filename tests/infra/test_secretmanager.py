"""Secret Manager: the PII hashing key's container (never a value), readable by the Dataproc account only."""

from __future__ import annotations

import re

from deployer.config import Environment
from infra import REPO_ROOT
from infra.secretmanager import PII_HASH_KEY_SECRET
from tests.infra.conftest import Stack, all_resources, resources

FACTORY = REPO_ROOT / "composer" / "dags" / "orders_platform" / "factory.py"


def test_secret_id_is_the_one_the_dag_passes_to_the_spark_job() -> None:
    match = re.search(r'^PII_KEY_SECRET = "([^"]+)"', FACTORY.read_text(), re.M)
    assert match, f"no PII_KEY_SECRET in {FACTORY}"
    assert match.group(1) == PII_HASH_KEY_SECRET == "orders-pii-hash-key"  # pragma: allowlist secret


def test_pii_hash_key_container_in_the_region(stacks: dict[str, Stack], envs: dict[str, Environment]) -> None:
    for name, stack in stacks.items():
        env = envs[name]
        secrets = resources(stack, "google_secret_manager_secret")
        assert list(secrets) == ["secrets/pii-hash-key"]
        secret = secrets["secrets/pii-hash-key"]
        assert secret["secret_id"] == "orders-pii-hash-key"
        assert secret["project"] == env.project
        assert secret["replication"] == {"user_managed": {"replicas": [{"location": env.region}]}}
        assert secret["labels"] == {**env.labels.as_dict(), "pii": "true"}
        assert secret["deletion_protection"] is True


def test_no_secret_value_anywhere(stacks: dict[str, Stack]) -> None:
    for stack in stacks.values():
        types = {type_ for type_, _, _ in all_resources(stack)}
        assert not {t for t in types if t.startswith("google_secret_manager") and "version" in t}
        assert "google_secret_manager_secret_version" not in stack.get("data", {})


def test_only_dataproc_reads_the_key(stacks: dict[str, Stack], envs: dict[str, Environment]) -> None:
    for name, stack in stacks.items():
        grants = resources(stack, "google_secret_manager_secret_iam_member")
        assert list(grants) == ["secrets/pii-hash-key-dataproc"]
        grant = grants["secrets/pii-hash-key-dataproc"]
        assert grant["role"] == "roles/secretmanager.secretAccessor"
        assert grant["member"].startswith("serviceAccount:${google_service_account.iam_dataproc_")
        assert grant["secret_id"].startswith("${google_secret_manager_secret.secrets_pii-hash-key_")
        assert grant["project"] == envs[name].project
        project_roles = {body["role"] for body in resources(stack, "google_project_iam_member").values()}
        assert not {r for r in project_roles if r.startswith("roles/secretmanager.secret")}
