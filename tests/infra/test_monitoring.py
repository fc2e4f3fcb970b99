"""Monitoring: channels, one alert policy per signal with the file's thresholds, audit logs, retention."""

from __future__ import annotations

import importlib.util
import logging
import re
from typing import Any

import pytest

from infra import REPO_ROOT
from infra.domains import domain_labels
from platform_model.domain import Domain
from platform_model.environment import Environment
from tests.infra.conftest import Stack, resources

METRICS = REPO_ROOT / "composer" / "dags" / "pipelines" / "metrics.py"


def alerts(stack: Stack) -> dict[str, dict[str, Any]]:
    """Alert policies by key (`dag-failed-<dag id>`, ...)."""
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
    stacks: dict[str, Stack], envs: dict[str, Environment], domains: dict[str, dict[str, Domain]]
) -> None:
    for name, stack in stacks.items():
        env = envs[name]
        thresholds = env.monitoring.thresholds
        policies = alerts(stack)
        deployed = domains[name].values()
        subs = [d.subscription for d in deployed if d.subscription]
        dlqs = [d.dead_letter_topic for d in deployed if d.dead_letter_topic]
        dag_ids = [dag_id for d in deployed for dag_id in d.dag_ids()]
        assert len(dag_ids) >= 5
        assert set(policies) == {
            "dataproc-job-failed",
            "composer-unhealthy",
            *(f"dag-failed-{dag_id}" for dag_id in dag_ids),
            *(f"gx-validation-failed-{d.domain}" for d in deployed if d.gx_suites),
            *(f"pubsub-backlog-{s}" for s in subs),
            *(f"dead-letters-{d}" for d in dlqs),
        }
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
        health = condition(policies["composer-unhealthy"])
        assert 'metric.type="composer.googleapis.com/environment/healthy"' in health["filter"]
        assert health["comparison"] == "COMPARISON_LT"
        channels = resources(stack, "google_monitoring_notification_channel")
        for policy in policies.values():
            assert len(policy["notification_channels"]) == len(channels) >= 1
            assert policy["alert_strategy"]["auto_close"] == f"{thresholds.alert_auto_close_seconds}s"
            assert policy["documentation"]["content"]
        for key in ("dataproc-job-failed", "composer-unhealthy"):
            assert policies[key]["user_labels"] == env.labels.as_dict()


def test_one_failed_run_alert_per_dag(
    stacks: dict[str, Stack], envs: dict[str, Environment], domains: dict[str, dict[str, Domain]]
) -> None:
    for name, stack in stacks.items():
        env = envs[name]
        policies = alerts(stack)
        for domain in domains[name].values():
            for dag_id in domain.dag_ids():
                policy = policies[f"dag-failed-{dag_id}"]
                dag = condition(policy)
                assert 'metric.type="composer.googleapis.com/workflow/run_count"' in dag["filter"]
                assert 'metric.labels.state="failed"' in dag["filter"]
                assert f'resource.labels.workflow_name="{dag_id}"' in dag["filter"]
                assert f'environment_name="{env.composer_environment_name()}"' in dag["filter"]
                assert dag["threshold_value"] == 0
                assert policy["user_labels"] == domain_labels(env, domain)
                assert domain.owner in policy["documentation"]["content"]


def test_pubsub_alerts_carry_their_domains_labels(
    stacks: dict[str, Stack], envs: dict[str, Environment], domains: dict[str, dict[str, Domain]]
) -> None:
    for name, stack in stacks.items():
        policies = alerts(stack)
        for domain in domains[name].values():
            if domain.event is None:
                continue
            labels = domain_labels(envs[name], domain)
            assert policies[f"pubsub-backlog-{domain.subscription}"]["user_labels"] == labels
            assert policies[f"dead-letters-{domain.dead_letter_topic}"]["user_labels"] == labels


def test_gx_alert_per_domain_on_the_domain_label(
    stacks: dict[str, Stack], envs: dict[str, Environment], domains: dict[str, dict[str, Domain]]
) -> None:
    for name, stack in stacks.items():
        policies = alerts(stack)
        with_suites = [d for d in domains[name].values() if d.gx_suites]
        assert len(with_suites) >= 2
        for domain in with_suites:
            policy = policies[f"gx-validation-failed-{domain.domain}"]
            gx = condition(policy)
            assert gx["filter"].startswith(
                'metric.type="logging.googleapis.com/user/${google_logging_metric.monitoring_gx-failures_'
            )
            assert gx["filter"].endswith(f' AND metric.labels.domain="{domain.domain}"')
            assert gx["threshold_value"] == 0
            assert policy["user_labels"] == domain_labels(envs[name], domain)


def logged_line(caplog: pytest.LogCaptureFixture, **fields: Any) -> str:
    """The `gx_validation` line as the pipeline writes it (its own `metrics.emit`), with Airflow's prefix."""
    spec = importlib.util.spec_from_file_location("pipeline_metrics_under_test", METRICS)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=module.log.name):
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


def extract(extractor: str, entry: dict[str, Any]) -> str | None:
    """Evaluate a `REGEXP_EXTRACT(<field path>, "<regex>")` label extractor on a log entry."""
    match = re.fullmatch(r'REGEXP_EXTRACT\(([\w.]+), (".*")\)', extractor)
    assert match, extractor
    value: Any = entry
    for key in match.group(1).split("."):
        value = value.get(key) if isinstance(value, dict) else None
    (regex,) = literals(match.group(2), "")
    found = re.search(regex, value) if isinstance(value, str) else None
    return found.group(1) if found else None


def test_gx_log_metric_matches_the_pipeline_log_line(
    stacks: dict[str, Stack], domains: dict[str, dict[str, Domain]], caplog: pytest.LogCaptureFixture
) -> None:
    domain = next(d for d in domains["dev"].values() if d.gx_suites and "daily" in d.dags)
    suite = next(iter(domain.gx_suites))
    failed = logged_line(
        caplog, suite=suite, success=False, evaluated=5, unsuccessful=1, rows=9, failed=["x"]
    )
    passed = logged_line(caplog, suite=suite, success=True, evaluated=5, unsuccessful=0, rows=9, failed=[])
    other = logged_line(caplog, suite=suite, success=False)
    other = other.replace("gx_validation", "task_metrics")
    # how Composer ships the task's log line: as text, the task's DAG id among the entry's labels
    entry = {"textPayload": failed, "labels": {"workflow": domain.dag_id("daily"), "task-id": "validate"}}
    for stack in stacks.values():
        metric = resources(stack, "google_logging_metric")["monitoring/gx-failures"]
        assert metric["filter"] == (
            'textPayload:"\\"event\\": \\"gx_validation\\"" AND textPayload:"\\"success\\": false"'
        )
        assert matches(metric["filter"], failed)
        assert not matches(metric["filter"], passed)
        assert not matches(metric["filter"], other)
        extractors = metric["label_extractors"]
        assert extractors["suite"] == 'REGEXP_EXTRACT(textPayload, "\\"suite\\": \\"([^\\"]+)\\"")'
        assert extract(extractors["suite"], entry) == suite
        assert extract(extractors["domain"], entry) == domain.domain
        assert metric["metric_descriptor"]["metric_kind"] == "DELTA"
        assert metric["metric_descriptor"]["labels"] == [
            {"key": "suite", "value_type": "STRING"},
            {"key": "domain", "value_type": "STRING"},
        ]
        assert "jsonPayload" not in metric["filter"]


def test_the_domain_label_names_the_domain_of_every_dag(
    stacks: dict[str, Stack], domains: dict[str, dict[str, Domain]]
) -> None:
    for name, stack in stacks.items():
        extractor = resources(stack, "google_logging_metric")["monitoring/gx-failures"]["label_extractors"]
        for domain in domains[name].values():
            for dag_id in domain.dag_ids():
                assert extract(extractor["domain"], {"labels": {"workflow": dag_id}}) == domain.domain
        # Composer's own DAG, and an entry without a DAG, name no domain
        assert extract(extractor["domain"], {"labels": {"workflow": "airflow_monitoring"}}) is None
        assert extract(extractor["domain"], {"labels": {}}) is None


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
