"""Pub/Sub: topics with the contract's Avro schema, subscriptions with dead-lettering, dead-letter inspection.

- Topics and subscriptions are named exactly as the environment file keys them (`orders-events`,
  `orders-events-raw`): each environment has its own project, so no prefix is needed, and the DAGs'
  runtime config carries the same names.
- A topic with `schema_file` enforces a `google_pubsub_schema` of type AVRO generated from that
  contract (JSON encoding on the wire). Messages are stored in the environment's region only.
- Every subscription of the file has a `dead_letter_policy` to its `dead_letter_topic` with the file's
  `max_delivery_attempts`, a retry back-off, and never expires. Dead-lettering needs the Pub/Sub service
  agent (`service-<project number>@gcp-sa-pubsub...`) to publish on the dead-letter topic and to
  subscribe on the source subscription (to ack what it forwarded): both grants are made here.
- Each dead-letter topic gets one inspection subscription `<dead-letter topic>-inspect`, where dead
  letters wait to be looked at and replayed (acked messages retained 7 days). It has NO dead-letter
  policy of its own: a dead letter that fails again has nowhere better to go, and a loop of dead-letter
  topics would hide messages. It carries the label `role=dead-letter`; a policy requiring a
  dead-letter policy on every subscription should exempt exactly the subscriptions labelled
  `role=dead-letter` whose topic is some subscription's `dead_letter_topic` (so the label alone cannot
  exempt an ordinary subscription). The dead-letter alert watches these subscriptions.
- The pipeline accounts (composer, dataproc) may pull from the file's subscriptions.
- CMEK: the `pubsub` key on every topic when the environment enables it.

Attributes: `schemas`, `topics`, `subscriptions` (the file's), `dead_letter_subscriptions`
(dead-letter topic name -> inspection subscription).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

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

from deployer.config import Environment
from infra.cmek import Cmek
from infra.contracts import Contract, avro_schema
from infra.iam import Identities
from infra.project import ProjectContext

DEAD_LETTER_LABEL = {"role": "dead-letter"}
INSPECT_SUFFIX = "-inspect"
INSPECT_RETENTION = "604800s"  # 7 days, the longest a subscription retains messages


class PubSub(Construct):
    """Schemas, topics, subscriptions with dead-letter policies and their IAM, inspection subscriptions."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        env: Environment,
        identities: Identities,
        project: ProjectContext,
        cmek: Cmek | None,
        contracts: Mapping[str, Contract],
    ) -> None:
        """`contracts` maps each topic's `schema_file` (as written in the file) to the loaded contract."""
        super().__init__(scope, id_)
        labels = env.labels.as_dict()
        kms_key = cmek.key_id("pubsub") if cmek else None
        self.schemas: dict[str, PubsubSchema] = {}
        self.topics: dict[str, PubsubTopic] = {}
        for name, spec in env.pubsub.topics.items():
            schema_settings = None
            depends: list[TerraformResource] = list(cmek.grants["pubsub"]) if cmek else []
            if spec.schema_file:
                schema = PubsubSchema(
                    self,
                    f"schema-{name}",
                    project=env.project,
                    name=f"{name}-schema",
                    type="AVRO",
                    definition=json.dumps(avro_schema(contracts[spec.schema_file]), indent=None),
                )
                self.schemas[name] = schema
                schema_settings = PubsubTopicSchemaSettings(schema=schema.id, encoding="JSON")
                depends.append(schema)
            self.topics[name] = PubsubTopic(
                self,
                f"topic-{name}",
                project=env.project,
                name=name,
                labels=labels,
                message_retention_duration=spec.message_retention,
                message_storage_policy=PubsubTopicMessageStoragePolicy(
                    allowed_persistence_regions=[env.region]
                ),
                schema_settings=schema_settings,
                kms_key_name=kms_key,
                depends_on=depends or None,
            )

        readers = [("composer", identities.members["composer"]), ("dataproc", identities.members["dataproc"])]
        self.subscriptions: dict[str, PubsubSubscription] = {}
        for name, sub in env.pubsub.subscriptions.items():
            subscription = PubsubSubscription(
                self,
                f"subscription-{name}",
                project=env.project,
                name=name,
                topic=self.topics[sub.topic].id,
                labels=labels,
                ack_deadline_seconds=sub.ack_deadline_seconds,
                dead_letter_policy=PubsubSubscriptionDeadLetterPolicy(
                    dead_letter_topic=self.topics[sub.dead_letter_topic].id,
                    max_delivery_attempts=sub.max_delivery_attempts,
                ),
                retry_policy=PubsubSubscriptionRetryPolicy(minimum_backoff="10s", maximum_backoff="600s"),
                expiration_policy=PubsubSubscriptionExpirationPolicy(ttl=""),
            )
            self.subscriptions[name] = subscription
            PubsubSubscriptionIamMember(
                self,
                f"subscription-{name}-agent-subscriber",
                project=env.project,
                subscription=subscription.name,
                role="roles/pubsub.subscriber",
                member=project.pubsub_agent,
            )
            for who, member in readers:
                PubsubSubscriptionIamMember(
                    self,
                    f"subscription-{name}-{who}-subscriber",
                    project=env.project,
                    subscription=subscription.name,
                    role="roles/pubsub.subscriber",
                    member=member,
                )

        self.dead_letter_subscriptions: dict[str, PubsubSubscription] = {}
        for dlq in sorted({sub.dead_letter_topic for sub in env.pubsub.subscriptions.values()}):
            PubsubTopicIamMember(
                self,
                f"topic-{dlq}-agent-publisher",
                project=env.project,
                topic=self.topics[dlq].name,
                role="roles/pubsub.publisher",
                member=project.pubsub_agent,
            )
            self.dead_letter_subscriptions[dlq] = PubsubSubscription(
                self,
                f"subscription-{dlq}{INSPECT_SUFFIX}",
                project=env.project,
                name=f"{dlq}{INSPECT_SUFFIX}",
                topic=self.topics[dlq].id,
                labels={**labels, **DEAD_LETTER_LABEL},
                ack_deadline_seconds=60,
                retain_acked_messages=True,
                message_retention_duration=INSPECT_RETENTION,
                expiration_policy=PubsubSubscriptionExpirationPolicy(ttl=""),
            )
