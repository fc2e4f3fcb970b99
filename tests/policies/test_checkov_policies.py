"""Each custom policy against its passing and failing fixtures: exactly which resources pass and fail."""

from __future__ import annotations

import pytest

from policies.checkov_run import Result, custom_check_ids, unevaluated
from tests.policies.conftest import fixture_stacks

# policy id -> fixture folder -> (resources that pass, resources that fail)
EXPECTED: dict[str, dict[str, tuple[set[str], set[str]]]] = {
    "CKV2_ACME_1": {
        "composer_private_ip/pass": ({"google_composer_environment.private"}, set()),
        "composer_private_ip/fail": (
            set(),
            {"google_composer_environment.public", "google_composer_environment.unset"},
        ),
    },
    "CKV_ACME_1": {
        "composer_web_access/pass": (
            {"google_composer_environment.subnet_and_office", "google_composer_environment.closed"},
            set(),
        ),
        "composer_web_access/fail": (
            set(),
            {
                "google_composer_environment.no_access_control",
                "google_composer_environment.open_ipv4",
                "google_composer_environment.open_ipv6",
                "google_composer_environment.half_the_internet",
                "google_composer_environment.not_a_range",
            },
        ),
    },
    "CKV2_ACME_2": {
        "dataproc_private_autoscaled/pass": ({"google_dataproc_cluster.private_autoscaled"}, set()),
        "dataproc_private_autoscaled/fail": (
            set(),
            {
                "google_dataproc_cluster.public_ip",
                "google_dataproc_cluster.internal_ip_unset",
                "google_dataproc_cluster.no_autoscaling",
                "google_dataproc_cluster.hand_typed_policy",
                "google_dataproc_cluster.missing_policy",
            },
        ),
    },
    "CKV2_ACME_3": {
        "bucket_uniform_private/pass": ({"google_storage_bucket.locked"}, set()),
        "bucket_uniform_private/fail": (
            set(),
            {
                "google_storage_bucket.acls_allowed",
                "google_storage_bucket.pap_inherited",
                "google_storage_bucket.bare",
            },
        ),
    },
    "CKV_ACME_2": {
        # Names shared by a bucket, a topic and a service account: the type is resolved from the line.
        # A notification channel's labels are its settings: its labels are `user_labels`.
        "required_labels/pass": (
            {
                "google_storage_bucket.orders",
                "google_pubsub_topic.orders",
                "google_monitoring_notification_channel.email",
            },
            set(),
        ),
        # The provider's default_labels (env only here) count for `labels`, never for `user_labels`.
        "required_labels/fail": (
            {"google_bigquery_dataset.labelled"},
            {
                "google_storage_bucket.orders",
                "google_pubsub_topic.orders",
                "google_bigquery_dataset.unlabelled",
                "google_monitoring_notification_channel.settings_only",
                "google_monitoring_alert_policy.unlabelled_alert",
            },
        ),
    },
    "CKV_ACME_3": {
        "bigquery_pii_taxonomy/pass": (
            {
                "google_bigquery_dataset.raw",
                "google_bigquery_dataset.marts",
                "google_bigquery_dataset.scratch",
            },
            set(),
        ),
        "bigquery_pii_taxonomy/fail": (
            {"google_bigquery_dataset.enforced_tagged"},
            {
                "google_bigquery_dataset.us_pii",
                "google_bigquery_dataset.plain_tagged",
                "google_bigquery_dataset.dangling_tag",
            },
        ),
        "bigquery_pii_taxonomy/fail_no_taxonomy": (set(), {"google_bigquery_dataset.marts"}),
    },
    "CKV_ACME_4": {
        "pubsub_dead_letter/pass": (
            {
                "google_pubsub_subscription.events_raw",
                "google_pubsub_subscription.events_by_path",
                "google_pubsub_subscription.events_dlq_inspect",
            },
            set(),
        ),
        "pubsub_dead_letter/fail": (
            {"google_pubsub_subscription.events_raw"},
            {
                "google_pubsub_subscription.no_dead_letter",
                "google_pubsub_subscription.own_topic",
                "google_pubsub_subscription.label_only",
                "google_pubsub_subscription.unlabelled_drain",
            },
        ),
    },
    "CKV_ACME_5": {
        "no_service_account_keys/pass": (set(), set()),
        "no_service_account_keys/fail": (
            set(),
            {"google_service_account_key.ci_key", "google_storage_hmac_key.legacy"},
        ),
    },
    "CKV_ACME_6": {
        "no_primitive_roles/pass": (
            {
                "google_project_iam_member.jobuser",
                "google_storage_bucket_iam_binding.viewers",
                "google_service_account_iam_policy.from_data",
                "google_pubsub_topic_iam_policy.literal",
                "google_bigquery_dataset.with_access",
            },
            set(),
        ),
        "no_primitive_roles/fail": (
            {"google_bigquery_dataset_iam_member.fine"},
            {
                "google_project_iam_member.owner",
                "google_storage_bucket_iam_binding.viewer",
                "google_project_iam_policy.from_data",
                "google_pubsub_topic_iam_policy.literal",
                "google_service_account_iam_policy.dangling",
                "google_bigquery_dataset_access.editor",
            },
        ),
    },
    "CKV_ACME_7": {
        "wif_condition/pass": (
            {
                "google_iam_workload_identity_pool_provider.pinned",
                "google_iam_workload_identity_pool_provider.pinned_by_attribute",
            },
            set(),
        ),
        "wif_condition/fail": (
            set(),
            {
                "google_iam_workload_identity_pool_provider.no_condition",
                "google_iam_workload_identity_pool_provider.repository_name_only",
                "google_iam_workload_identity_pool_provider.either_or",
                "google_iam_workload_identity_pool_provider.unmapped_attribute",
                "google_iam_workload_identity_pool_provider.any_ref",
                "google_iam_workload_identity_pool_provider.ref_list_with_expression",
            },
        ),
    },
}


def test_every_custom_policy_has_expectations() -> None:
    assert set(EXPECTED) == custom_check_ids()
    for check_id, folders in EXPECTED.items():
        variants = {folder.split("/")[1] for folder in folders}
        assert "pass" in variants and any(v.startswith("fail") for v in variants), check_id
        assert all(folder in fixture_stacks() for folder in folders), check_id


@pytest.mark.parametrize(
    ("check_id", "folder"),
    [(check_id, folder) for check_id, folders in EXPECTED.items() for folder in folders],
)
def test_policy_verdicts(custom_results: list[Result], check_id: str, folder: str) -> None:
    passed, failed = EXPECTED[check_id][folder]
    mine = [r for r in custom_results if r.check_id == check_id and r.stack == folder]
    assert {r.resource for r in mine if r.status == "passed"} == passed
    assert {r.resource for r in mine if r.status == "failed"} == failed
    # Every failure says why, in words a reader can act on (YAML policies say it through their name).
    for r in mine:
        if r.status == "failed" and check_id.startswith("CKV_"):
            assert r.details, r


def test_failing_fixtures_fail_for_the_stated_reason(custom_results: list[Result]) -> None:
    def why(check_id: str, resource: str) -> str:
        (found,) = [
            r
            for r in custom_results
            if r.check_id == check_id and r.resource == resource and r.status == "failed"
        ]
        return " ".join(found.details)

    assert "0.0.0.0/0" in why("CKV_ACME_1", "google_composer_environment.open_ipv4")
    assert why("CKV_ACME_2", "google_pubsub_topic.orders") == "labels lack owner"  # empty owner
    assert why("CKV_ACME_2", "google_bigquery_dataset.unlabelled") == "labels lack owner, cost-center"
    assert why("CKV_ACME_2", "google_monitoring_alert_policy.unlabelled_alert") == (
        "user_labels lack env, owner, cost-center"
    )
    assert "region us" in why("CKV_ACME_3", "google_bigquery_dataset.us_pii")
    assert "own topic" in why("CKV_ACME_4", "google_pubsub_subscription.own_topic")
    assert "roles/editor" in why("CKV_ACME_6", "google_project_iam_policy.from_data")
    assert "||" in why("CKV_ACME_7", "google_iam_workload_identity_pool_provider.either_or")


def test_yaml_policies_give_a_verdict_on_every_resource_they_cover(custom_results: list[Result]) -> None:
    assert unevaluated(custom_results, fixture_stacks(), selected=custom_check_ids()) == []
