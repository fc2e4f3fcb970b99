"""Pub/Sub: schema from the contract, dead-letter policies and the IAM they need, inspection subscriptions."""

from __future__ import annotations

import json

from deployer.config import Environment
from infra import REPO_ROOT
from infra.contracts import avro_schema, load_contract
from tests.infra.conftest import Stack, resources


def test_topics_and_schema(stacks: dict[str, Stack], envs: dict[str, Environment]) -> None:
    for name, stack in stacks.items():
        env = envs[name]
        topics = resources(stack, "google_pubsub_topic")
        assert {t["name"] for t in topics.values()} == set(env.pubsub.topics)
        schemas = resources(stack, "google_pubsub_schema")
        with_schema = {t: spec for t, spec in env.pubsub.topics.items() if spec.schema_file}
        assert len(schemas) == len(with_schema) >= 1
        for topic, spec in with_schema.items():
            schema = schemas[f"pubsub/schema-{topic}"]
            assert schema["type"] == "AVRO"
            assert json.loads(schema["definition"]) == avro_schema(
                load_contract(REPO_ROOT / spec.schema_file)
            )
            settings = topics[f"pubsub/topic-{topic}"]["schema_settings"]
            assert settings["encoding"] == "JSON"
            assert f"pubsub_schema-{topic}" in settings["schema"]
        for body in topics.values():
            assert body["labels"] == env.labels.as_dict()
            assert body["message_storage_policy"]["allowed_persistence_regions"] == [env.region]


def test_every_subscription_of_the_file_dead_letters(
    stacks: dict[str, Stack], envs: dict[str, Environment]
) -> None:
    for name, stack in stacks.items():
        env = envs[name]
        subs = resources(stack, "google_pubsub_subscription")
        for sub_name, spec in env.pubsub.subscriptions.items():
            body = subs[f"pubsub/subscription-{sub_name}"]
            policy = body["dead_letter_policy"]
            assert f"pubsub_topic-{spec.dead_letter_topic}_" in policy["dead_letter_topic"]
            assert policy["max_delivery_attempts"] == spec.max_delivery_attempts
            assert f"pubsub_topic-{spec.topic}_" in body["topic"]
            assert body["expiration_policy"] == {"ttl": ""}
            assert body["labels"] == env.labels.as_dict()


def test_dead_letter_service_agent_iam(stacks: dict[str, Stack], envs: dict[str, Environment]) -> None:
    for name, stack in stacks.items():
        env = envs[name]
        agent = "service-${data.google_project.project-info_project_"
        publishers = resources(stack, "google_pubsub_topic_iam_member")
        for dlq in {s.dead_letter_topic for s in env.pubsub.subscriptions.values()}:
            grant = publishers[f"pubsub/topic-{dlq}-agent-publisher"]
            assert grant["role"] == "roles/pubsub.publisher"
            assert grant["member"].startswith(f"serviceAccount:{agent}")
            assert grant["member"].endswith(".number}@gcp-sa-pubsub.iam.gserviceaccount.com")
            assert f"pubsub_topic-{dlq}_" in grant["topic"]
        subscribers = resources(stack, "google_pubsub_subscription_iam_member")
        for sub_name in env.pubsub.subscriptions:
            grant = subscribers[f"pubsub/subscription-{sub_name}-agent-subscriber"]
            assert grant["role"] == "roles/pubsub.subscriber"
            assert grant["member"].endswith("@gcp-sa-pubsub.iam.gserviceaccount.com")
            assert f"pubsub_subscription-{sub_name}_" in grant["subscription"]
        projects = stack["data"]["google_project"]
        assert [p["project_id"] for p in projects.values()] == [env.project]


def test_dead_letter_topics_have_an_inspection_subscription(
    stacks: dict[str, Stack], envs: dict[str, Environment]
) -> None:
    for name, stack in stacks.items():
        env = envs[name]
        subs = resources(stack, "google_pubsub_subscription")
        dlqs = {s.dead_letter_topic for s in env.pubsub.subscriptions.values()}
        inspect = {p: b for p, b in subs.items() if b["labels"].get("role") == "dead-letter"}
        assert {b["name"] for b in inspect.values()} == {f"{d}-inspect" for d in dlqs}
        for body in inspect.values():
            assert "dead_letter_policy" not in body
            assert body["retain_acked_messages"] is True
            assert any(f"pubsub_topic-{d}_" in body["topic"] for d in dlqs)
        assert len(subs) == len(env.pubsub.subscriptions) + len(dlqs)
