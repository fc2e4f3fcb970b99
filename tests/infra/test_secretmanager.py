"""Secret Manager: each domain's PII hashing key container (never a value), readable by Dataproc only."""

from __future__ import annotations

from infra.domains import domain_labels
from platform_model.domain import Domain
from platform_model.environment import Environment
from platform_model.runtime import domain_runtime
from tests.infra.conftest import Stack, all_resources, resources


def test_secret_ids_are_the_ones_the_dags_pass_to_the_spark_jobs(
    stacks: dict[str, Stack], domains: dict[str, dict[str, Domain]]
) -> None:
    for name, stack in stacks.items():
        deployed = domains[name]
        # what a domain's DAG reads from the runtime config, and hands the job as --pii-key-source
        wanted = {
            d: secret
            for d, domain in deployed.items()
            if (secret := domain_runtime(domain, deployed).pii_secret) is not None
        }
        assert len(wanted) >= 2
        secrets = resources(stack, "google_secret_manager_secret")
        assert {s["secret_id"] for s in secrets.values()} == set(wanted.values())
        assert sorted(secrets) == sorted(f"secrets/{s}" for s in wanted.values())


def test_pii_hash_key_containers_in_the_region(
    stacks: dict[str, Stack], envs: dict[str, Environment], domains: dict[str, dict[str, Domain]]
) -> None:
    for name, stack in stacks.items():
        env = envs[name]
        secrets = resources(stack, "google_secret_manager_secret")
        for domain in domains[name].values():
            if domain.pii_secret is None:
                continue
            secret = secrets[f"secrets/{domain.pii_secret}"]
            assert secret["project"] == env.project
            assert secret["replication"] == {"user_managed": {"replicas": [{"location": env.region}]}}
            assert secret["labels"] == {**domain_labels(env, domain), "pii": "true"}
            assert secret["deletion_protection"] is True


def test_no_secret_value_anywhere(stacks: dict[str, Stack]) -> None:
    for stack in stacks.values():
        types = {type_ for type_, _, _ in all_resources(stack)}
        assert not {t for t in types if t.startswith("google_secret_manager") and "version" in t}
        assert "google_secret_manager_secret_version" not in stack.get("data", {})


def test_only_dataproc_reads_the_keys(
    stacks: dict[str, Stack], envs: dict[str, Environment], domains: dict[str, dict[str, Domain]]
) -> None:
    for name, stack in stacks.items():
        grants = resources(stack, "google_secret_manager_secret_iam_member")
        owned = [d.pii_secret for d in domains[name].values() if d.pii_secret]
        assert sorted(grants) == sorted(f"secrets/{s}-dataproc" for s in owned)
        for secret in owned:
            grant = grants[f"secrets/{secret}-dataproc"]
            assert grant["role"] == "roles/secretmanager.secretAccessor"
            assert grant["member"].startswith("serviceAccount:${google_service_account.iam_dataproc_")
            assert grant["secret_id"].startswith(f"${{google_secret_manager_secret.secrets_{secret}_")
            assert grant["project"] == envs[name].project
        project_roles = {body["role"] for body in resources(stack, "google_project_iam_member").values()}
        assert not {r for r in project_roles if r.startswith("roles/secretmanager.secret")}
