"""Every domain deployed to an environment gets its resources, under ids derived from its names only;
a third domain added from files only appears; a domain switched off in an environment gets nothing there."""

from __future__ import annotations

import json

from infra.domains import domain_labels
from platform_model.domain import Domain
from platform_model.environment import Environment
from tests.infra.conftest import NEW_DOMAIN, OFF_ENV, ON_ENV, Extra, Stack, resources
from tests.infra.test_stack import assert_labelled

# resource type -> construct paths (below the stack) a domain owns there
Inventory = dict[str, set[str]]

DOMAIN_TYPES = (
    "google_pubsub_schema",
    "google_pubsub_topic",
    "google_pubsub_topic_iam_member",
    "google_pubsub_subscription",
    "google_pubsub_subscription_iam_member",
    "google_bigquery_table",
    "google_secret_manager_secret",
    "google_secret_manager_secret_iam_member",
)
"""Resource types whose every resource belongs to one domain."""


def inventory(domain: Domain) -> Inventory:
    """The construct paths of everything the stack creates for `domain`, from its names alone."""
    out: Inventory = {t: set() for t in (*DOMAIN_TYPES, "google_monitoring_alert_policy")}
    alerts = out["google_monitoring_alert_policy"]
    alerts.update(f"monitoring/alert-dag-failed-{dag_id}" for dag_id in domain.dag_ids())
    if domain.gx_suites:
        alerts.add(f"monitoring/alert-gx-validation-failed-{domain.domain}")
    if domain.event is not None:
        topic, sub, dlq = domain.event.topic, domain.subscription, domain.dead_letter_topic
        out["google_pubsub_schema"].add(f"pubsub/schema-{topic}")
        out["google_pubsub_topic"].update({f"pubsub/topic-{topic}", f"pubsub/topic-{dlq}"})
        out["google_pubsub_topic_iam_member"].add(f"pubsub/topic-{dlq}-agent-publisher")
        out["google_pubsub_subscription"].update(
            {f"pubsub/subscription-{sub}", f"pubsub/subscription-{dlq}-inspect"}
        )
        out["google_pubsub_subscription_iam_member"].update(
            f"pubsub/subscription-{sub}-{who}-subscriber" for who in ("agent", "composer", "dataproc")
        )
        out["google_bigquery_table"].add(f"bigquery/raw-{domain.event.raw_table}")
        alerts.update({f"monitoring/alert-pubsub-backlog-{sub}", f"monitoring/alert-dead-letters-{dlq}"})
    for table in (domain.staging, domain.rejects):
        if table is not None:
            out["google_bigquery_table"].add(f"bigquery/staging-{table.table}")
    if domain.pii_secret:
        out["google_secret_manager_secret"].add(f"secrets/{domain.pii_secret}")
        out["google_secret_manager_secret_iam_member"].add(f"secrets/{domain.pii_secret}-dataproc")
    return out


def assert_domain_resources(stack: Stack, env: Environment, domain: Domain) -> None:
    """`domain`'s resources are all in `stack`, each carrying the domain's labels where it takes labels."""
    labels = domain_labels(env, domain)
    for type_, paths in inventory(domain).items():
        present = resources(stack, type_)
        assert paths <= set(present), f"{env.name}/{domain.domain}: missing {sorted(paths - set(present))}"
        for path in paths:
            got = present[path].get("labels") or present[path].get("user_labels")
            if got is not None:
                assert {k: got.get(k) for k in labels} == labels, f"{env.name}: {path}"


def assert_exactly(stack: Stack, env: Environment, domains: dict[str, Domain]) -> None:
    """The stack holds the resources of `domains` and no other domain's."""
    wanted: Inventory = {}
    for domain in domains.values():
        assert_domain_resources(stack, env, domain)
        for type_, paths in inventory(domain).items():
            wanted.setdefault(type_, set()).update(paths)
    for type_ in DOMAIN_TYPES:
        assert set(resources(stack, type_)) == wanted[type_], f"{env.name}: {type_}"
    alerts = {
        p
        for p, b in resources(stack, "google_monitoring_alert_policy").items()
        if "domain" in b["user_labels"]
    }
    assert alerts == wanted["google_monitoring_alert_policy"]


def test_every_deployed_domain_has_its_resources(
    stacks: dict[str, Stack], envs: dict[str, Environment], domains: dict[str, dict[str, Domain]]
) -> None:
    for name, stack in stacks.items():
        assert len(domains[name]) >= 3
        assert_exactly(stack, envs[name], domains[name])


def test_a_third_domain_from_files_only_appears(extra: Extra, stacks: dict[str, Stack]) -> None:
    env, stack = extra.envs[ON_ENV], extra.stacks[ON_ENV]
    new = extra.domains[ON_ENV][NEW_DOMAIN]
    assert new.event is not None and new.pii_secret and new.dag_ids() and new.gx_suites
    assert_exactly(stack, env, extra.domains[ON_ENV])
    topics = {t["name"] for t in resources(stack, "google_pubsub_topic").values()}
    assert {new.event.topic, new.dead_letter_topic} <= topics
    tables = {t["table_id"] for t in resources(stack, "google_bigquery_table").values()}
    assert {new.event.raw_table, *(t.table for t in (new.staging, new.rejects) if t)} <= tables
    alerts = resources(stack, "google_monitoring_alert_policy")
    for dag_id in new.dag_ids():
        (condition,) = alerts[f"monitoring/alert-dag-failed-{dag_id}"]["conditions"]
        assert f'workflow_name="{dag_id}"' in condition["condition_threshold"]["filter"]
    out = {k: v["value"] for k, v in stack["output"].items()}
    assert out["domains"][NEW_DOMAIN]["topic"] == new.event.topic
    assert new.event.raw_table in out["raw_tables"]
    assert_labelled(stack, env, extra.domains[ON_ENV])


def test_adding_a_domain_renames_and_changes_nothing_else(extra: Extra, stacks: dict[str, Stack]) -> None:
    before, after = stacks[ON_ENV]["resource"], extra.stacks[ON_ENV]["resource"]
    kept = 0
    for type_, items in before.items():
        for logical_id, body in items.items():
            assert after.get(type_, {}).get(logical_id) == body, f"{type_}.{logical_id} changed"
            kept += 1
    added = sum(len(items) for items in after.values()) - kept
    assert added == sum(len(paths) for paths in inventory(extra.domains[ON_ENV][NEW_DOMAIN]).values())


def test_a_domain_switched_off_gets_nothing_in_that_environment(
    extra: Extra, stacks: dict[str, Stack]
) -> None:
    env, stack = extra.envs[OFF_ENV], extra.stacks[OFF_ENV]
    assert env.domains[NEW_DOMAIN].enabled is False
    assert NEW_DOMAIN not in extra.domains[OFF_ENV]
    assert_exactly(stack, env, extra.domains[OFF_ENV])
    text = json.dumps(stack)
    assert NEW_DOMAIN not in text
    # the environment's stack is the one it had before the domain existed
    assert stack["resource"] == stacks[OFF_ENV]["resource"]
    assert stack["output"] == stacks[OFF_ENV]["output"]
