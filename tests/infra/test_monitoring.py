"""Monitoring: channels, one alert policy per signal with the file's thresholds, audit logs, retention."""

from __future__ import annotations

from typing import Any

from deployer.config import Environment
from tests.infra.conftest import Stack, resources


def alerts(stack: Stack) -> dict[str, dict[str, Any]]:
    """Alert policies by key (`dag-failed`, ...)."""
    return {
        p.removeprefix("monitoring/alert-"): b
        for p, b in resources(stack, "google_monitoring_alert_policy").items()
    }


def condition(policy: dict[str, Any]) -> dict[str, Any]:
    (only,) = policy["conditions"]
    return only["condition_threshold"]  # type: ignore[no-any-return]


def test_email_channels(stacks: dict[str, Stack], envs: dict[str, Environment]) -> None:
    for name, stack in stacks.items():
        env = envs[name]
        channels = resources(stack, "google_monitoring_notification_channel")
        assert sorted(
            c["labels"]["email_address"] for c in channels.values() if c["type"] == "email"
        ) == sorted(env.monitoring.notification_emails)
        assert all(c["user_labels"] == env.labels.as_dict() for c in channels.values())
        assert env.monitoring.webhook_secret is None
        assert not [c for c in channels.values() if c["type"] != "email"]


def test_every_alert_exists_with_the_files_thresholds(
    stacks: dict[str, Stack], envs: dict[str, Environment]
) -> None:
    for name, stack in stacks.items():
        env = envs[name]
        thresholds = env.monitoring.thresholds
        policies = alerts(stack)
        subs = list(env.pubsub.subscriptions)
        dlqs = sorted({s.dead_letter_topic for s in env.pubsub.subscriptions.values()})
        assert set(policies) == {
            "dag-failed",
            "dataproc-job-failed",
            "gx-validation-failed",
            "composer-unhealthy",
            *(f"pubsub-backlog-{s}" for s in subs),
            *(f"dead-letters-{d}" for d in dlqs),
        }
        dag = condition(policies["dag-failed"])
        assert 'metric.type="composer.googleapis.com/workflow/run_count"' in dag["filter"]
        assert 'metric.labels.state="failed"' in dag["filter"]
        assert 'resource.labels.workflow_name="orders_daily"' in dag["filter"]
        assert f'environment_name="{env.composer_environment_name()}"' in dag["filter"]
        dataproc = condition(policies["dataproc-job-failed"])
        assert "dataproc.googleapis.com/cluster/job/failed_count" in dataproc["filter"]
        assert f'cluster_name="{env.dataproc_cluster_name()}"' in dataproc["filter"]
        for sub in subs:
            backlog = condition(policies[f"pubsub-backlog-{sub}"])
            assert "subscription/oldest_unacked_message_age" in backlog["filter"]
            assert f'subscription_id="{sub}"' in backlog["filter"]
            assert backlog["threshold_value"] == thresholds.pubsub_oldest_unacked_seconds
            assert backlog["comparison"] == "COMPARISON_GT"
        for dlq in dlqs:
            dead = condition(policies[f"dead-letters-{dlq}"])
            assert "subscription/num_undelivered_messages" in dead["filter"]
            assert f'subscription_id="{dlq}-inspect"' in dead["filter"]
            assert dead["threshold_value"] == thresholds.dead_letter_messages
        gx = condition(policies["gx-validation-failed"])
        assert (
            'metric.type="logging.googleapis.com/user/${google_logging_metric.monitoring_gx-failures_'
            in gx["filter"]
        )
        health = condition(policies["composer-unhealthy"])
        assert 'metric.type="composer.googleapis.com/environment/healthy"' in health["filter"]
        assert health["comparison"] == "COMPARISON_LT"
        channels = resources(stack, "google_monitoring_notification_channel")
        for policy in policies.values():
            assert len(policy["notification_channels"]) == len(channels) >= 1
            assert policy["alert_strategy"]["auto_close"] == f"{thresholds.alert_auto_close_seconds}s"
            assert policy["user_labels"] == env.labels.as_dict()
            assert policy["documentation"]["content"]


def test_gx_log_metric_matches_the_pipeline_log_line(stacks: dict[str, Stack]) -> None:
    for stack in stacks.values():
        metrics = resources(stack, "google_logging_metric")
        metric = metrics["monitoring/gx-failures"]
        assert metric["filter"] == 'jsonPayload.event="gx_validation" AND jsonPayload.success=false'
        assert metric["label_extractors"] == {"suite": "EXTRACT(jsonPayload.suite)"}
        assert metric["metric_descriptor"]["metric_kind"] == "DELTA"


def test_data_access_audit_logs(stacks: dict[str, Stack]) -> None:
    for stack in stacks.values():
        configs = resources(stack, "google_project_iam_audit_config")
        assert {c["service"] for c in configs.values()} == {
            "bigquery.googleapis.com",
            "storage.googleapis.com",
        }
        for config in configs.values():
            assert sorted(c["log_type"] for c in config["audit_log_config"]) == [
                "ADMIN_READ",
                "DATA_READ",
                "DATA_WRITE",
            ]


def test_log_retention_from_the_file(stacks: dict[str, Stack], envs: dict[str, Environment]) -> None:
    for name, stack in stacks.items():
        env = envs[name]
        (bucket,) = resources(stack, "google_logging_project_bucket_config").values()
        assert bucket["retention_days"] == env.monitoring.log_retention_days
        assert bucket["location"] == env.region
        (sink,) = resources(stack, "google_logging_project_sink").values()
        assert sink["destination"].startswith(
            "logging.googleapis.com/${google_logging_project_bucket_config."
        )
        assert 'resource.type="cloud_composer_environment"' in sink["filter"]
    assert (
        resources(stacks["prod"], "google_logging_project_bucket_config")["monitoring/log-bucket"][
            "retention_days"
        ]
        == 400
    )
