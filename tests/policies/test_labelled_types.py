"""The list of resource types that take labels is generated from the provider bindings in the lock."""

from __future__ import annotations

from policies import labelled_types


def test_generated_list_matches_installed_provider() -> None:
    assert labelled_types.main(["--check"]) == 0


def test_list_has_the_platform_resources_and_not_label_descriptor_types() -> None:
    text = labelled_types.OUTPUT.read_text(encoding="utf-8")
    for rtype in (
        "google_storage_bucket",
        "google_composer_environment",
        "google_dataproc_cluster",
        "google_bigquery_dataset",
        "google_pubsub_subscription",
        "google_kms_crypto_key",
    ):
        assert f'"{rtype}": "labels",' in text
    assert '"google_monitoring_notification_channel": "user_labels",' in text
    # `labels` is a list of label descriptors there, not a map of labels.
    assert '"google_monitoring_metric_descriptor"' not in text
    # No labels argument at all.
    assert '"google_service_account"' not in text
