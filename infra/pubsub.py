"""Pub/Sub: per domain with an event, its topic with the event's Avro schema, the raw subscription with
dead-lettering, the dead-letter topic and its inspection subscription.

- Names come from the domain (`platform_model.domain`): topic `event.topic`, subscription
  `<topic>-raw` (`Domain.subscription`), dead-letter topic `<topic>-dlq` (`Domain.dead_letter_topic`).
  Each environment has its own project, so no prefix is needed, and the DAGs' runtime config carries
  the same names. Construct ids follow from these names alone, so adding a domain renames nothing.
- The topic enforces a `google_pubsub_schema` of type AVRO generated from the event's columns (JSON
  encoding on the wire). Messages are stored in the environment's region only; topics keep them
  `pubsub.message_retention` of the environment file.
- The raw subscription has a `dead_letter_policy` to the dead-letter topic with the file's
  `max_delivery_attempts` and `ack_deadline_seconds`, a retry back-off, and never expires.
  Dead-lettering needs the Pub/Sub service agent (`service-<project number>@gcp-sa-pubsub...`) to
  publish on the dead-letter topic and to subscribe on the source subscription (to ack what it
  forwarded): both grants are made here.
- Each dead-letter topic gets one inspection subscription `<dead-letter topic>-inspect`, where dead
  letters wait to be looked at and replayed (acked messages retained 7 days). It has NO dead-letter
  policy of its own: a dead letter that fails again has nowhere better to go, and a loop of dead-letter
  topics would hide messages. It carries the label `role=dead-letter`; a policy requiring a
  dead-letter policy on every subscription should exempt exactly the subscriptions labelled
  `role=dead-letter` whose topic is some subscription's `dead_letter_topic` (so the label alone cannot
  exempt an ordinary subscription). The dead-letter alert watches these subscriptions.
- The pipeline accounts (composer, dataproc) may pull from the raw subscriptions.
- Every resource carries its domain's labels; CMEK: the `pubsub` key on every topic when the
  environment enables it.

Attributes: `schemas` (topic -> schema), `topics` (topic or dead-letter topic -> topic),
`subscriptions` (the raw subscriptions, by name), `dead_letter_subscriptions` (dead-letter topic name
-> inspection subscription), `domain_of` (every name above -> its domain).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from cdktn import TerraformResource
from cdktn_provider_google.pubsub_schema import PubsubSchema
from cdktn_provider_google.pubsub_subscription import (
    PubsubSubscription,
    PubsubSubscriptionDeadLetterPolicy,
    PubsubSubscriptionExpirationPolicy,
    PubsubSubscriptionRetryPolicy,
)
from cdktn_provider_google.pubsub_subscription_iam_member import PubsubSubscriptionIamMember
from cdktn_provider_google.pubsub_topic import (
    PubsubTopic,
    PubsubTopicMessageStoragePolicy,
    PubsubTopicSchemaSettings,
)
from cdktn_provider_google.pubsub_topic_iam_member import PubsubTopicIamMember
from constructs import Construct

from infra.cmek import Cmek
from infra.domains import domain_labels
from infra.iam import Identities
from infra.project import ProjectContext
from infra.refs import ref
from infra.schemas import avro_schema
from platform_model.domain import Domain
from platform_model.environment import Environment

DEAD_LETTER_LABEL = {"role": "dead-letter"}
INSPECT_SUFFIX = "-inspect"
INSPECT_RETENTION = "604800s"  # 7 days, the longest a subscription retains messages
RETRY_POLICY = {"minimum_backoff": "10s", "maximum_backoff": "600s"}


class PubSub(Construct):
    """Per domain with an event: schema, topic, raw subscription with its dead-letter topic and IAM,
    and the dead-letter inspection subscription."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        env: Environment,
        identities: Identities,
        project: ProjectContext,
        cmek: Cmek | None,
        domains: Sequence[Domain],
    ) -> None:
        """`domains`: the domains deployed to `env`; those without an event get nothing here."""
        super().__init__(scope, id_)
        self._env = env
        self._project = project
        self._kms_key = cmek.key_id("pubsub") if cmek else None
        self._kms_deps: list[TerraformResource] = list(cmek.grants["pubsub"]) if cmek else []
        self._readers = [
            ("composer", identities.members["composer"]),
            ("dataproc", identities.members["dataproc"]),
        ]
        self.schemas: dict[str, PubsubSchema] = {}
        self.topics: dict[str, PubsubTopic] = {}
        self.subscriptions: dict[str, PubsubSubscription] = {}
        self.dead_letter_subscriptions: dict[str, PubsubSubscription] = {}
        self.domain_of: dict[str, str] = {}
        for domain in domains:
            if domain.event is not None and domain.subscription and domain.dead_letter_topic:
                self._domain(domain, domain.event.topic, domain.subscription, domain.dead_letter_topic)

    def _domain(self, domain: Domain, name: str, sub_name: str, dlq_name: str) -> None:
        env = self._env
        labels = domain_labels(env, domain)
        schema = PubsubSchema(
            self,
            f"schema-{name}",
            project=env.project,
            name=f"{name}-schema",
            type="AVRO",
            definition=json.dumps(avro_schema(domain), indent=None),
        )
        self.schemas[name] = schema
        settings = PubsubTopicSchemaSettings(schema=schema.id, encoding="JSON")
        topic = self._topic(name, labels, settings, schema)
        dlq = self._topic(dlq_name, labels)
        subscription = PubsubSubscription(
            self,
            f"subscription-{sub_name}",
            project=env.project,
            name=sub_name,
            topic=topic.id,
            labels=labels,
            ack_deadline_seconds=env.pubsub.ack_deadline_seconds,
            dead_letter_policy=PubsubSubscriptionDeadLetterPolicy(
                dead_letter_topic=dlq.id,
                max_delivery_attempts=env.pubsub.max_delivery_attempts,
            ),
            retry_policy=PubsubSubscriptionRetryPolicy(**RETRY_POLICY),
            expiration_policy=PubsubSubscriptionExpirationPolicy(ttl=""),
        )
        self.subscriptions[sub_name] = subscription
        for who, member in [("agent", self._project.pubsub_agent), *self._readers]:
            PubsubSubscriptionIamMember(
                self,
                f"subscription-{sub_name}-{who}-subscriber",
                project=env.project,
                subscription=ref(subscription, "name"),
                role="roles/pubsub.subscriber",
                member=member,
            )

        PubsubTopicIamMember(
            self,
            f"topic-{dlq_name}-agent-publisher",
            project=env.project,
            topic=dlq.name,
            role="roles/pubsub.publisher",
            member=self._project.pubsub_agent,
        )
        inspect = f"{dlq_name}{INSPECT_SUFFIX}"
        self.dead_letter_subscriptions[dlq_name] = PubsubSubscription(
            self,
            f"subscription-{inspect}",
            project=env.project,
            name=inspect,
            topic=dlq.id,
            labels={**labels, **DEAD_LETTER_LABEL},
            ack_deadline_seconds=60,
            retain_acked_messages=True,
            message_retention_duration=INSPECT_RETENTION,
            expiration_policy=PubsubSubscriptionExpirationPolicy(ttl=""),
        )
        for owned in (name, dlq_name, sub_name, inspect):
            self.domain_of[owned] = domain.domain

    def _topic(
        self,
        name: str,
        labels: dict[str, str],
        schema_settings: PubsubTopicSchemaSettings | None = None,
        schema: PubsubSchema | None = None,
    ) -> PubsubTopic:
        env = self._env
        depends = [*self._kms_deps, *([schema] if schema else [])]
        topic = PubsubTopic(
            self,
            f"topic-{name}",
            project=env.project,
            name=name,
            labels=labels,
            message_retention_duration=env.pubsub.message_retention,
            message_storage_policy=PubsubTopicMessageStoragePolicy(allowed_persistence_regions=[env.region]),
            schema_settings=schema_settings,
            kms_key_name=self._kms_key,
            depends_on=depends or None,
        )
        self.topics[name] = topic
        return topic
