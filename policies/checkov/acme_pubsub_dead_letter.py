"""CKV_ACME_4: every Pub/Sub subscription has a dead-letter policy, except those draining a dead-letter topic.

A subscription passes when `dead_letter_policy.dead_letter_topic` names a topic other than its own.
A subscription ON a dead-letter topic is how dead letters are kept, inspected and replayed (infra/pubsub
creates `<dead-letter topic>-inspect`); a dead-letter topic of its own would only move the problem one
hop and hide messages. It passes without one when BOTH hold:
- it is labelled `role=dead-letter` (it says what it is), and
- its topic is the `dead_letter_topic` of some subscription of the stack (so the label alone cannot
  exempt an ordinary subscription).
"""

from __future__ import annotations

from typing import Any

from acme_stack import REFERENCE, StackCheck, first, mapping, resources
from checkov.common.models.enums import CheckCategories, CheckResult

DEAD_LETTER_LABEL = ("role", "dead-letter")


def topic_keys(value: Any, topics: dict[str, dict[str, Any]]) -> set[str]:
    """Canonical keys of the topic `value` denotes: a reference, a short name or a full path."""
    if not isinstance(value, str) or not value:
        return set()
    keys: set[str] = set()
    for is_data, rtype, name in REFERENCE.findall(value):
        if rtype == "google_pubsub_topic" and not is_data:
            keys.add(f"ref:{name}")
            literal = topics.get(name, {}).get("name")
            if isinstance(literal, str) and "${" not in literal:
                keys.add(f"name:{literal}")
    if "${" not in value:
        short = value.rsplit("/", 1)[-1]
        keys.add(f"name:{short}")
        keys |= {f"ref:{n}" for n, t in topics.items() if t.get("name") == short}
    return keys


class SubscriptionHasDeadLetter(StackCheck):
    """Subscriptions dead-letter into another topic, unless they drain a dead-letter topic."""

    def __init__(self) -> None:
        super().__init__(
            name="Pub/Sub subscriptions have a dead-letter policy (except those draining dead letters)",
            id="CKV_ACME_4",
            categories=[CheckCategories.GENERAL_SECURITY],
            supported_resources=["google_pubsub_subscription"],
        )

    def evaluate(
        self, stack: dict[str, Any], resource_type: str, name: str, resource: dict[str, Any]
    ) -> tuple[CheckResult, list[str]]:
        """Pass with a dead-letter topic other than its own, or when it drains a dead-letter topic."""
        self.evaluated_keys = ["dead_letter_policy/dead_letter_topic", "topic"]
        topics = dict(resources(stack, "google_pubsub_topic"))
        own_topic = topic_keys(resource.get("topic"), topics)
        dead_letter = topic_keys(first(resource.get("dead_letter_policy")).get("dead_letter_topic"), topics)
        if dead_letter and dead_letter & own_topic:
            return CheckResult.FAILED, [
                "dead_letter_policy.dead_letter_topic is the subscription's own topic"
            ]
        if dead_letter:
            return CheckResult.PASSED, []
        dead_letter_topics: set[str] = set()
        for _, other in resources(stack, "google_pubsub_subscription"):
            target = topic_keys(first(other.get("dead_letter_policy")).get("dead_letter_topic"), topics)
            if not target & topic_keys(other.get("topic"), topics):  # a self-loop makes no dead-letter topic
                dead_letter_topics |= target
        labels = mapping(resource.get("labels"))
        labelled = labels.get(DEAD_LETTER_LABEL[0]) == DEAD_LETTER_LABEL[1]
        on_dead_letter_topic = bool(own_topic & dead_letter_topics)
        if labelled and on_dead_letter_topic:
            return CheckResult.PASSED, []
        if labelled:
            return CheckResult.FAILED, [
                "labelled role=dead-letter, but its topic is no subscription's dead_letter_topic; "
                "it needs a dead_letter_policy"
            ]
        if on_dead_letter_topic:
            return CheckResult.FAILED, [
                "drains a dead-letter topic without a dead_letter_policy: label it role=dead-letter to say so"
            ]
        return CheckResult.FAILED, [
            "no dead_letter_policy.dead_letter_topic: poison messages are redelivered forever"
        ]


check = SubscriptionHasDeadLetter()
