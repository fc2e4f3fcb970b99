"""Pub/Sub per domain: topic with the event's Avro schema, raw subscription dead-lettering with the file's
settings, the IAM dead-lettering needs, and one inspection subscription per dead-letter topic."""

from __future__ import annotations

import json

from infra.domains import domain_labels
from infra.schemas import avro_schema
from platform_model.domain import Domain
from platform_model.environment import Environment
from tests.infra.conftest import Stack, resources


def with_event(domains: dict[str, Domain]) -> list[Domain]:
    return [d for d in domains.values() if d.event is not None]


def test_topics_and_schema(
    stacks: dict[str, Stack], envs: dict[str, Environment], domains: dict[str, dict[str, Domain]]
) -> None:
    for name, stack in stacks.items():
        env = envs[name]
        topics = resources(stack, "google_pubsub_topic")
        schemas = resources(stack, "google_pubsub_schema")
        publishing = with_event(domains[name])
        assert len(publishing) >= 2
        names = {d.event.topic for d in publishing if d.event} | {d.dead_letter_topic for d in publishing}
        assert {t["name"] for t in topics.values()} == names
        assert len(schemas) == len(publishing)
        for domain in publishing:
            assert domain.event is not None
            topic = domain.event.topic
            schema = schemas[f"pubsub/schema-{topic}"]
            assert schema["type"] == "AVRO"
            assert schema["name"] == f"{topic}-schema"
            assert json.loads(schema["definition"]) == avro_schema(domain)
            body = topics[f"pubsub/topic-{topic}"]
            assert body["schema_settings"]["encoding"] == "JSON"
            assert f"pubsub_schema-{topic}" in body["schema_settings"]["schema"]
            dlq = topics[f"pubsub/topic-{domain.dead_letter_topic}"]
            assert "schema_settings" not in dlq  # dead letters are whatever failed, kept as they came
            for body in (body, dlq):
                assert body["labels"] == domain_labels(env, domain)
                assert body["message_retention_duration"] == env.pubsub.message_retention
                assert body["message_storage_policy"]["allowed_persistence_regions"] == [env.region]


def test_avro_schema_follows_the_event_columns(domains: dict[str, dict[str, Domain]]) -> None:
    for domain in with_event(domains["dev"]):
        assert domain.event is not None
        schema = avro_schema(domain)
        assert schema["name"] == f"{domain.domain}_event"
        assert schema["namespace"] == f"platform.{domain.domain}.v{domain.version.split('.')[0]}"
        assert [f["name"] for f in schema["fields"]] == [c.name for c in domain.event.columns]
        for field, column in zip(schema["fields"], domain.event.columns, strict=True):
            assert field["doc"] == column.description
            nullable = isinstance(field["type"], list)
            assert nullable == (column.mode == "NULLABLE")
            if nullable:
                assert field["type"][0] == "null" and field["default"] is None


def test_every_raw_subscription_dead_letters(
    stacks: dict[str, Stack], envs: dict[str, Environment], domains: dict[str, dict[str, Domain]]
) -> None:
    for name, stack in stacks.items():
        env = envs[name]
        subs = resources(stack, "google_pubsub_subscription")
        for domain in with_event(domains[name]):
            assert domain.event is not None
            body = subs[f"pubsub/subscription-{domain.subscription}"]
            assert body["name"] == domain.subscription == f"{domain.event.topic}-raw"
            policy = body["dead_letter_policy"]
            assert f"pubsub_topic-{domain.dead_letter_topic}_" in policy["dead_letter_topic"]
            assert policy["max_delivery_attempts"] == env.pubsub.max_delivery_attempts
            assert body["ack_deadline_seconds"] == env.pubsub.ack_deadline_seconds
            assert f"pubsub_topic-{domain.event.topic}_" in body["topic"]
            assert body["expiration_policy"] == {"ttl": ""}
            assert body["retry_policy"] == {"minimum_backoff": "10s", "maximum_backoff": "600s"}
            assert body["labels"] == domain_labels(env, domain)


def test_dead_letter_service_agent_and_pipeline_iam(
    stacks: dict[str, Stack], envs: dict[str, Environment], domains: dict[str, dict[str, Domain]]
) -> None:
    for name, stack in stacks.items():
        env = envs[name]
        agent = "service-${data.google_project.project-info_project_"
        publishers = resources(stack, "google_pubsub_topic_iam_member")
        subscribers = resources(stack, "google_pubsub_subscription_iam_member")
        publishing = with_event(domains[name])
        assert len(publishers) == len(publishing)
        assert len(subscribers) == 3 * len(publishing)
        for domain in publishing:
            dlq = domain.dead_letter_topic
            grant = publishers[f"pubsub/topic-{dlq}-agent-publisher"]
            assert grant["role"] == "roles/pubsub.publisher"
            assert grant["member"].startswith(f"serviceAccount:{agent}")
            assert grant["member"].endswith(".number}@gcp-sa-pubsub.iam.gserviceaccount.com")
            assert f"pubsub_topic-{dlq}_" in grant["topic"]
            sub = domain.subscription
            grant = subscribers[f"pubsub/subscription-{sub}-agent-subscriber"]
            assert grant["role"] == "roles/pubsub.subscriber"
            assert grant["member"].endswith("@gcp-sa-pubsub.iam.gserviceaccount.com")
            assert f"pubsub_subscription-{sub}_" in grant["subscription"]
            for who in ("composer", "dataproc"):
                grant = subscribers[f"pubsub/subscription-{sub}-{who}-subscriber"]
                assert grant["role"] == "roles/pubsub.subscriber"
                assert grant["member"].startswith(f"serviceAccount:${{google_service_account.iam_{who}_")
        projects = stack["data"]["google_project"]
        assert [p["project_id"] for p in projects.values()] == [env.project]


def test_dead_letter_topics_have_an_inspection_subscription(
    stacks: dict[str, Stack], envs: dict[str, Environment], domains: dict[str, dict[str, Domain]]
) -> None:
    for name, stack in stacks.items():
        env = envs[name]
        subs = resources(stack, "google_pubsub_subscription")
        publishing = with_event(domains[name])
        inspect = {p: b for p, b in subs.items() if b["labels"].get("role") == "dead-letter"}
        assert {b["name"] for b in inspect.values()} == {f"{d.dead_letter_topic}-inspect" for d in publishing}
        for domain in publishing:
            body = subs[f"pubsub/subscription-{domain.dead_letter_topic}-inspect"]
            assert "dead_letter_policy" not in body
            assert body["retain_acked_messages"] is True
            assert f"pubsub_topic-{domain.dead_letter_topic}_" in body["topic"]
            assert body["labels"] == {**domain_labels(env, domain), "role": "dead-letter"}
        assert len(subs) == 2 * len(publishing)
