"""Identities: service accounts, least-privilege roles, no keys, GitHub Workload Identity Federation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from infra.iam import PRIMITIVE_ROLES, project_roles
from platform_model.environment import Environment
from tests.infra.conftest import Stack, all_resources, resources


def roles_in(value: Any) -> Iterator[str]:
    """Every `role` (and every `roles/...` string) anywhere in a resource body."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("labels", "user_labels"):
                continue  # `role=dead-letter` is a label, not a grant
            if key == "role" and isinstance(item, str):
                yield item
            yield from roles_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from roles_in(item)
    elif isinstance(value, str) and value.startswith("roles/"):
        yield value


def test_four_service_accounts(stacks: dict[str, Stack], envs: dict[str, Environment]) -> None:
    for name, stack in stacks.items():
        accounts = resources(stack, "google_service_account")
        assert {body["account_id"] for body in accounts.values()} == {
            envs[name].resource_name(role) for role in ("composer", "dataproc", "deployer", "infra")
        }


def test_no_service_account_keys_anywhere(stacks: dict[str, Stack]) -> None:
    for stack in stacks.values():
        text = json.dumps(stack)
        assert "google_service_account_key" not in text


def test_no_primitive_roles(stacks: dict[str, Stack]) -> None:
    for stack in stacks.values():
        granted = {role for _, _, body in all_resources(stack) for role in roles_in(body)}
        assert granted, "no IAM grants found at all"
        assert not granted & PRIMITIVE_ROLES
        assert all(role.startswith("roles/") for role in granted)


def test_project_roles_per_account(stacks: dict[str, Stack], envs: dict[str, Environment]) -> None:
    for name, stack in stacks.items():
        members = resources(stack, "google_project_iam_member")
        granted: dict[str, set[str]] = {}
        for path, body in members.items():
            account = path.split("/")[1].split("-")[0]
            granted.setdefault(account, set()).add(body["role"])
        assert granted == {account: set(roles) for account, roles in project_roles(envs[name]).items()}
        assert "roles/composer.worker" in granted["composer"]
        assert "roles/dataproc.worker" in granted["dataproc"]
        assert not any("admin" in role.lower() for role in granted["deployer"])


def test_workload_identity_provider_is_pinned_to_repository_ref_and_environment(
    stacks: dict[str, Stack], envs: dict[str, Environment]
) -> None:
    for name, stack in stacks.items():
        env = envs[name]
        pools = resources(stack, "google_iam_workload_identity_pool")
        assert [p["workload_identity_pool_id"] for p in pools.values()] == [env.resource_name("github")]
        providers = resources(stack, "google_iam_workload_identity_pool_provider")
        assert len(providers) == 1
        provider = next(iter(providers.values()))
        assert provider["oidc"]["issuer_uri"] == "https://token.actions.githubusercontent.com"
        condition = provider["attribute_condition"]
        assert f'assertion.repository_id == "{env.github.repository_id}"' in condition
        assert f'assertion.ref == "{env.github.ref}"' in condition
        assert env.github.environment
        assert f'assertion.environment == "{env.github.environment}"' in condition
        assert provider["attribute_mapping"]["attribute.repository_id"] == "assertion.repository_id"


def test_deployer_and_infra_bound_to_the_repository_principal_set(
    stacks: dict[str, Stack], envs: dict[str, Environment]
) -> None:
    for name, stack in stacks.items():
        env = envs[name]
        bindings = resources(stack, "google_service_account_iam_member")
        wif = {path: b for path, b in bindings.items() if b["role"] == "roles/iam.workloadIdentityUser"}
        assert set(wif) == {"iam/deployer-wif", "iam/infra-wif"}
        for body in wif.values():
            assert body["member"].startswith("principalSet://iam.googleapis.com/")
            assert body["member"].endswith(f"/attribute.repository_id/{env.github.repository_id}")
            assert "google_iam_workload_identity_pool.iam_github-pool" in body["member"]


def test_people_promote_by_impersonating_the_deployer(
    stacks: dict[str, Stack], envs: dict[str, Environment]
) -> None:
    for name, stack in stacks.items():
        bindings = resources(stack, "google_service_account_iam_member")
        impersonation = [b for b in bindings.values() if b["role"] == "roles/iam.serviceAccountTokenCreator"]
        assert sorted(b["member"] for b in impersonation) == sorted(envs[name].promotion.deployers)
        assert all("iam_deployer" in b["service_account_id"] for b in impersonation)


def test_composer_agent_extension_role(stacks: dict[str, Stack]) -> None:
    for stack in stacks.values():
        bindings = resources(stack, "google_service_account_iam_member")
        agent = bindings["composer/agent-v2ext"]
        assert agent["role"] == "roles/composer.ServiceAgentV2Ext"
        assert "@cloudcomposer-accounts.iam.gserviceaccount.com" in agent["member"]
        assert "iam_composer" in agent["service_account_id"]


def test_act_as_is_granted_per_account_never_project_wide(stacks: dict[str, Stack]) -> None:
    for stack in stacks.values():
        project_roles = {b["role"] for b in resources(stack, "google_project_iam_member").values()}
        assert not project_roles & {"roles/iam.serviceAccountUser", "roles/iam.serviceAccountTokenCreator"}
        bindings = resources(stack, "google_service_account_iam_member")
        act_as = {p: b for p, b in bindings.items() if b["role"] == "roles/iam.serviceAccountUser"}
        assert set(act_as) == {"iam/infra-acts-as-composer", "iam/infra-acts-as-dataproc"}
        for path, body in act_as.items():
            assert "google_service_account.iam_infra_" in body["member"]
            assert f"iam_{path.rsplit('-', 1)[1]}_" in body["service_account_id"]
