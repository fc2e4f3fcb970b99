"""Monitoring: channels, one alert policy per signal with the file's thresholds, audit logs, retention."""

from __future__ import annotations

import importlib.util
import logging
import re
from typing import Any

import pytest

from deployer.config import Environment
from infra import REPO_ROOT
from tests.infra.conftest import Stack, resources

METRICS = REPO_ROOT / "composer" / "dags" / "orders_platform" / "metrics.py"


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
        others = [c for c in channels.values() if c["type"] != "email"]
        if env.monitoring.webhook_secret is None:
            assert not others
            continue
        # the webhook URL is read from Secret Manager at apply time, never written in the stack
        (hook,) = others
        assert hook["type"] == "webhook_tokenauth"
        url = hook["labels"]["url"]
        assert url.startswith("${data.google_secret_manager_secret_version.")
        assert url.endswith(".secret_data}")
        versions = stack["data"]["google_secret_manager_secret_version"]
        (version,) = versions.values()
        assert version["secret"] == env.monitoring.webhook_secret.partition("/versions/")[0]
        hook_ref = "${google_monitoring_notification_channel." + next(
            k for k, c in stack["resource"]["google_monitoring_notification_channel"].items() if c is hook
        )
        for policy in stack["resource"]["google_monitoring_alert_policy"].values():
            assert any(ch.startswith(hook_ref) for ch in policy["notification_channels"])


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


def logged_line(caplog: pytest.LogCaptureFixture, **fields: Any) -> str:
    """The `gx_validation` line as the pipeline writes it (its own `metrics.emit`), with Airflow's prefix."""
    spec = importlib.util.spec_from_file_location("pipeline_metrics_under_test", METRICS)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="orders_platform.metrics"):
        module.emit("gx_validation", **fields)
    (record,) = caplog.records
    return f"[2026-01-02T03:04:05.678+0000] {{gx_validate.py:161}} INFO - {record.getMessage()}"


def literals(expression: str, prefix: str) -> list[str]:
    """The string literals following `prefix` in a Cloud Logging expression, unescaped."""
    return [
        re.sub(r"\\(.)", r"\1", m) for m in re.findall(re.escape(prefix) + r'"((?:[^"\\]|\\.)*)"', expression)
    ]


def matches(log_filter: str, text: str) -> bool:
    """Evaluate a filter made only of `textPayload:"..."` terms joined by AND (substring match)."""
    terms = log_filter.split(" AND ")
    assert all(t.startswith('textPayload:"') for t in terms), log_filter
    fragments = literals(log_filter, "textPayload:")
    assert len(fragments) == len(terms)
    return all(fragment in text for fragment in fragments)


def test_gx_log_metric_matches_the_pipeline_log_line(
    stacks: dict[str, Stack], caplog: pytest.LogCaptureFixture
) -> None:
    failed = logged_line(
        caplog, suite="orders_raw", success=False, evaluated=5, unsuccessful=1, rows=9, failed=["x"]
    )
    passed = logged_line(
        caplog, suite="orders_raw", success=True, evaluated=5, unsuccessful=0, rows=9, failed=[]
    )
    other = logged_line(caplog, suite="orders_raw", success=False)
    other = other.replace("gx_validation", "task_metrics")
    for stack in stacks.values():
        metric = resources(stack, "google_logging_metric")["monitoring/gx-failures"]
        assert metric["filter"] == (
            'textPayload:"\\"event\\": \\"gx_validation\\"" AND textPayload:"\\"success\\": false"'
        )
        assert matches(metric["filter"], failed)
        assert not matches(metric["filter"], passed)
        assert not matches(metric["filter"], other)
        extractor = metric["label_extractors"]["suite"]
        assert extractor == 'REGEXP_EXTRACT(textPayload, "\\"suite\\": \\"([^\\"]+)\\"")'
        (regex,) = literals(extractor, "REGEXP_EXTRACT(textPayload, ")
        found = re.search(regex, failed)
        assert found and found.group(1) == "orders_raw"
        assert metric["metric_descriptor"]["metric_kind"] == "DELTA"
        assert metric["metric_descriptor"]["labels"] == [{"key": "suite", "value_type": "STRING"}]
        assert "jsonPayload" not in metric["filter"]


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
