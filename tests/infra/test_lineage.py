"""Data lineage (Dataplex): with `lineage.enabled` (the default) a stack enables the Data Lineage API,
Composer's `cloud_data_lineage_integration`, Dataproc's Spark lineage property and the producer role of
the two accounts that report lineage; with it off, none of the API and IAM appears, both integrations
are written off, and nothing else of the stack changes."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from infra.dataproc import LINEAGE_PROPERTY
from platform_model.environment import Environment
from tests.infra.conftest import LINEAGE_OFF_ENV, Extra, Stack, all_resources, resources
from tests.infra.test_iam import roles_in

LINEAGE_API = "datalineage.googleapis.com"
PRODUCER = "roles/datalineage.producer"


def lineage_services(stack: Stack) -> dict[str, dict[str, Any]]:
    """The stack's `google_project_service` resources of the Data Lineage API, by logical id."""
    services = stack["resource"]["google_project_service"]
    return {logical_id: body for logical_id, body in services.items() if body["service"] == LINEAGE_API}


def lineage_grants(stack: Stack) -> dict[str, tuple[str, str]]:
    """Every grant of a Data Lineage role anywhere in the stack: construct path -> (role, member)."""
    return {
        path: (role, body.get("member", ""))
        for _, path, body in all_resources(stack)
        for role in roles_in(body)
        if role.startswith("roles/datalineage.")
    }


def composer_lineage(stack: Stack) -> Any:
    """The Composer environment's `software_config.cloud_data_lineage_integration` block."""
    environment = resources(stack, "google_composer_environment")["composer/environment"]
    return environment["config"]["software_config"].get("cloud_data_lineage_integration")


def dataproc_lineage(stack: Stack) -> Any:
    """The cluster's Spark lineage property (None when absent)."""
    cluster = resources(stack, "google_dataproc_cluster")["dataproc/cluster"]
    return cluster["cluster_config"]["software_config"]["override_properties"].get(LINEAGE_PROPERTY)


def assert_lineage_on(stack: Stack, env: Environment) -> None:
    """The API enabled, both integrations on, the producer role of the two reporting accounts."""
    (service,) = lineage_services(stack).values()
    assert service["project"] == env.project
    assert service["disable_on_destroy"] is False
    assert composer_lineage(stack) == {"enabled": True}
    assert dataproc_lineage(stack) == "true"
    # the two accounts that report lineage, the producer role only, project-level, nobody else
    grants = lineage_grants(stack)
    assert {path: role for path, (role, _) in grants.items()} == {
        f"iam/{account}-datalineage-producer": PRODUCER for account in ("composer", "dataproc")
    }
    members = resources(stack, "google_project_iam_member")
    for account in ("composer", "dataproc"):
        member = members[f"iam/{account}-datalineage-producer"]
        assert member["project"] == env.project
        assert member["member"].startswith(f"serviceAccount:${{google_service_account.iam_{account}_")


def assert_lineage_off(stack: Stack) -> None:
    """No lineage API or grant; both integrations written off."""
    assert lineage_services(stack) == {}
    assert lineage_grants(stack) == {}
    assert composer_lineage(stack) == {"enabled": False}
    assert dataproc_lineage(stack) == "false"


def test_every_stack_follows_its_lineage_switch(
    stacks: dict[str, Stack], envs: dict[str, Environment]
) -> None:
    assert any(env.lineage.enabled for env in envs.values()), "no committed environment enables lineage"
    for name, stack in stacks.items():
        if envs[name].lineage.enabled:
            assert_lineage_on(stack, envs[name])
        else:
            assert_lineage_off(stack)


def test_lineage_is_on_by_default(extra: Extra) -> None:
    unset = [
        name
        for name in extra.envs
        if "lineage" not in yaml.safe_load((extra.envs_dir / f"{name}.yaml").read_text())
    ]
    assert unset, "every environment file of the extra synth sets lineage"
    for name in unset:
        assert extra.envs[name].lineage.enabled is True
        assert_lineage_on(extra.stacks[name], extra.envs[name])


def test_lineage_off_writes_both_integrations_off_and_drops_the_api_and_iam(extra: Extra) -> None:
    env = extra.envs[LINEAGE_OFF_ENV]
    assert env.lineage.enabled is False
    assert_lineage_off(extra.stacks[LINEAGE_OFF_ENV])


def without_lineage(stack: Stack) -> Stack:
    """`stack` (lineage on) as it must read with lineage off: the API, the producer grants and every
    resource's wait on that API removed; both integrations switched off."""
    out = copy.deepcopy(stack)
    res = out["resource"]
    gone = {f"google_project_service.{logical_id}" for logical_id in lineage_services(stack)}
    for logical_id in lineage_services(stack):
        del res["google_project_service"][logical_id]
    members = res["google_project_iam_member"]
    for logical_id in [k for k, body in members.items() if body["role"].startswith("roles/datalineage.")]:
        del members[logical_id]
    for block in ("resource", "data"):
        for items in out.get(block, {}).values():
            for body in items.values():
                if "depends_on" in body:
                    body["depends_on"] = [d for d in body["depends_on"] if d not in gone]
    (composer,) = res["google_composer_environment"].values()
    composer["config"]["software_config"]["cloud_data_lineage_integration"] = {"enabled": False}
    (cluster,) = res["google_dataproc_cluster"].values()
    cluster["cluster_config"]["software_config"]["override_properties"][LINEAGE_PROPERTY] = "false"
    return out


def test_switching_lineage_off_changes_nothing_else(
    extra: Extra, stacks: dict[str, Stack], envs: dict[str, Environment]
) -> None:
    assert envs[LINEAGE_OFF_ENV].lineage.enabled, f"the committed {LINEAGE_OFF_ENV} must enable lineage"
    on, off = stacks[LINEAGE_OFF_ENV], extra.stacks[LINEAGE_OFF_ENV]
    assert_lineage_on(on, envs[LINEAGE_OFF_ENV])
    expected = without_lineage(on)
    assert expected["resource"] != on["resource"]
    assert off["resource"] == expected["resource"]
    assert off.get("data") == expected.get("data")
    assert off["output"] == on["output"]
