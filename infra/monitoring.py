"""Monitoring and logging: notification channels, the platform's alert policies, audit logs, log retention.

Alerts (thresholds from `monitoring.thresholds` of the environment file; each notifies every channel
and auto-closes after `alert_auto_close_seconds`). Those of a domain carry its labels (`owner`,
`domain`) and have ids derived from the DAG, subscription or domain name, so adding a domain renames
nothing:

- DAG run failed, one policy per DAG of every deployed domain (`dag-failed-<dag id>`):
  `composer.googleapis.com/workflow/run_count` with state=failed and workflow_name=<dag id>, on the
  platform's Composer environment.
- Dataproc job failed: `dataproc.googleapis.com/cluster/job/failed_count` on the platform cluster.
- Pub/Sub backlog too old: `pubsub.googleapis.com/subscription/oldest_unacked_message_age` above
  `pubsub_oldest_unacked_seconds`, one policy per domain's raw subscription.
- Dead letters waiting: `pubsub.googleapis.com/subscription/num_undelivered_messages` above
  `dead_letter_messages`, one policy per dead-letter inspection subscription.
- GX validation failed, one policy per domain with GX suites (`gx-validation-failed-<domain>`), on a
  log-based metric counting the pipeline's structured log line
  `{"event": "gx_validation", "suite": ..., "success": false, ...}`, labelled by `suite` and `domain`.
  The pipeline writes it with `json.dumps` (default separators `", "` and `": "`) through Python
  logging inside an Airflow task, and Composer ships task logs to Cloud Logging as text: the line
  arrives in `textPayload` (after Airflow's log prefix), never as `jsonPayload`. The filter therefore
  matches the exact JSON fragments as substrings and the `suite` label is a `REGEXP_EXTRACT` on
  `textPayload`. The `domain` label is taken from the DAG id Composer puts on every task log entry
  (`labels.workflow`, `<domain>_<kind>`): whatever the line holds, the task's DAG says whose it is.
  No resource-type restriction: the fragments are specific enough, and a wrong type would silence it.
- Composer environment unhealthy: `composer.googleapis.com/environment/healthy` false for 10 minutes.

Channels: one e-mail channel per `notification_emails`; when `webhook_secret` names a Secret Manager
secret, a `webhook_tokenauth` channel whose URL is read from that secret at apply time (the URL never
appears in this repository; the `infra` account gets `secretAccessor` on that one secret).

Logs: data-access audit logs (ADMIN_READ, DATA_READ, DATA_WRITE) for BigQuery and Cloud Storage; a
regional log bucket `<prefix>-platform-logs` kept `log_retention_days`, fed by a sink with the
platform's logs (Composer, Dataproc, Pub/Sub, BigQuery, GCS, and the audit logs).

Attributes: `channels`, `alerts` (key -> policy), `gx_metric`, `log_bucket`, `sink`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import get_args

from cdktn_provider_google.data_google_secret_manager_secret_version import (
    DataGoogleSecretManagerSecretVersion,
)
from cdktn_provider_google.logging_metric import (
    LoggingMetric,
    LoggingMetricMetricDescriptor,
    LoggingMetricMetricDescriptorLabels,
)
from cdktn_provider_google.logging_project_bucket_config import LoggingProjectBucketConfig
from cdktn_provider_google.logging_project_sink import LoggingProjectSink
from cdktn_provider_google.monitoring_alert_policy import (
    MonitoringAlertPolicy,
    MonitoringAlertPolicyAlertStrategy,
    MonitoringAlertPolicyConditions,
    MonitoringAlertPolicyConditionsConditionThreshold,
    MonitoringAlertPolicyConditionsConditionThresholdAggregations,
    MonitoringAlertPolicyDocumentation,
)
from cdktn_provider_google.monitoring_notification_channel import MonitoringNotificationChannel
from cdktn_provider_google.project_iam_audit_config import (
    ProjectIamAuditConfig,
    ProjectIamAuditConfigAuditLogConfig,
)
from cdktn_provider_google.secret_manager_secret_iam_member import SecretManagerSecretIamMember
from constructs import Construct

from infra.composer import Composer
from infra.dataproc import Dataproc
from infra.domains import domain_labels
from infra.iam import Identities
from infra.pubsub import INSPECT_SUFFIX, PubSub
from infra.refs import ref
from platform_model.domain import DagKind, Domain
from platform_model.environment import Environment

GX_EVENT = "gx_validation"
AUDITED_SERVICES = ("bigquery.googleapis.com", "storage.googleapis.com")
AUDIT_LOG_TYPES = ("ADMIN_READ", "DATA_READ", "DATA_WRITE")
SINK_FILTER = " OR ".join(
    [
        'resource.type="cloud_composer_environment"',
        'resource.type="cloud_dataproc_cluster"',
        'resource.type="cloud_dataproc_job"',
        'resource.type="pubsub_topic"',
        'resource.type="pubsub_subscription"',
        'resource.type="bigquery_dataset"',
        'resource.type="bigquery_resource"',
        'resource.type="gcs_bucket"',
        'logName:"cloudaudit.googleapis.com"',
    ]
)


# The fragments of a failed validation's line, exactly as `json.dumps` writes them.
GX_FAILURE_FRAGMENTS = (f'"event": "{GX_EVENT}"', '"success": false')
GX_SUITE_REGEX = r'"suite": "([^"]+)"'
DAG_ID_FIELD = "labels.workflow"
"""Where Composer's task log entries carry the task's DAG id."""


def logging_string(text: str) -> str:
    """`text` as a Cloud Logging query string literal (double-quoted, `\\` and `"` escaped)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def gx_log_filter() -> str:
    """The Cloud Logging filter of failed GX validations: the JSON fragments in the task log's text."""
    return " AND ".join(f"textPayload:{logging_string(fragment)}" for fragment in GX_FAILURE_FRAGMENTS)


def gx_suite_extractor() -> str:
    """The `suite` label extractor: the suite name out of the logged JSON text."""
    return f"REGEXP_EXTRACT(textPayload, {logging_string(GX_SUITE_REGEX)})"


def domain_regex() -> str:
    """The domain out of a DAG id `<domain>_<kind>` (`Domain.dag_id`), for every DAG kind there is."""
    kinds = "|".join(get_args(DagKind))
    return f"^(.+)_(?:{kinds})$"


def domain_extractor() -> str:
    """The `domain` label extractor: the domain of the DAG whose task wrote the log line."""
    return f"REGEXP_EXTRACT({DAG_ID_FIELD}, {logging_string(domain_regex())})"


class Monitoring(Construct):
    """Notification channels, six kinds of alert policies (per DAG, subscription, dead-letter topic and
    domain where they concern one), the GX log metric, audit configs, the log bucket and its sink."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        env: Environment,
        identities: Identities,
        composer: Composer,
        dataproc: Dataproc,
        pubsub: PubSub,
        domains: Sequence[Domain],
    ) -> None:
        """`domains`: the domains deployed to `env`."""
        super().__init__(scope, id_)
        spec = env.monitoring
        thresholds = spec.thresholds
        labels = env.labels.as_dict()
        self._env = env

        self.channels: list[MonitoringNotificationChannel] = [
            MonitoringNotificationChannel(
                self,
                f"email-{i}",
                project=env.project,
                type="email",
                display_name=f"{env.name} platform alerts: {email}",
                labels={"email_address": email},
                user_labels=labels,
            )
            for i, email in enumerate(spec.notification_emails)
        ]
        if spec.webhook_secret:
            secret, _, version = spec.webhook_secret.partition("/versions/")
            SecretManagerSecretIamMember(
                self,
                "webhook-secret-infra-accessor",
                project=secret.split("/")[1],
                secret_id=secret,
                role="roles/secretmanager.secretAccessor",
                member=identities.members["infra"],
            )
            url = DataGoogleSecretManagerSecretVersion(
                self, "webhook-url", secret=secret, version=version or "latest"
            )
            self.channels.append(
                MonitoringNotificationChannel(
                    self,
                    "webhook",
                    project=env.project,
                    type="webhook_tokenauth",
                    display_name=f"{env.name} platform alerts: webhook",
                    labels={"url": url.secret_data},
                    user_labels=labels,
                )
            )

        self.gx_metric = LoggingMetric(
            self,
            "gx-failures",
            project=env.project,
            name=env.resource_name("gx-validation-failures"),
            description="Failed Great Expectations validations logged by the pipeline.",
            filter=gx_log_filter(),
            label_extractors={"suite": gx_suite_extractor(), "domain": domain_extractor()},
            metric_descriptor=LoggingMetricMetricDescriptor(
                metric_kind="DELTA",
                value_type="INT64",
                unit="1",
                display_name="GX validation failures",
                labels=[
                    LoggingMetricMetricDescriptorLabels(key="suite", value_type="STRING"),
                    LoggingMetricMetricDescriptorLabels(key="domain", value_type="STRING"),
                ],
            ),
        )

        # Literal names (not references): alerts need not wait half an hour for Composer to exist.
        composer_name = env.composer_environment_name()
        self.alerts: dict[str, MonitoringAlertPolicy] = {}
        by_name = {d.domain: d for d in domains}
        for domain in domains:
            for dag_id in domain.dag_ids():
                self._alert(
                    f"dag-failed-{dag_id}",
                    f"{env.name}: {dag_id} DAG run failed",
                    'resource.type="cloud_composer_workflow" '
                    f'AND resource.labels.environment_name="{composer_name}" '
                    f'AND resource.labels.workflow_name="{dag_id}" '
                    'AND metric.type="composer.googleapis.com/workflow/run_count" '
                    'AND metric.labels.state="failed"',
                    threshold=0,
                    aligner="ALIGN_SUM",
                    doc=f"A run of {dag_id} (domain {domain.domain}, owner {domain.owner}) failed: read the "
                    f"failed task's log in the Airflow UI of {composer_name}.",
                    labels=domain_labels(env, domain),
                )
        self._alert(
            "dataproc-job-failed",
            f"{env.name}: Dataproc job failed",
            'resource.type="cloud_dataproc_cluster" '
            f'AND resource.labels.cluster_name="{dataproc.cluster_name}" '
            'AND metric.type="dataproc.googleapis.com/cluster/job/failed_count"',
            threshold=0,
            aligner="ALIGN_SUM",
            doc=f"A job failed on {dataproc.cluster_name}; list it: `gcloud dataproc jobs list`.",
        )
        for name in pubsub.subscriptions:
            owner = by_name[pubsub.domain_of[name]]
            self._alert(
                f"pubsub-backlog-{name}",
                f"{env.name}: {name} oldest unacked message too old",
                'resource.type="pubsub_subscription" '
                f'AND resource.labels.subscription_id="{name}" '
                'AND metric.type="pubsub.googleapis.com/subscription/oldest_unacked_message_age"',
                threshold=thresholds.pubsub_oldest_unacked_seconds,
                aligner="ALIGN_MAX",
                duration="300s",
                doc=f"Messages on {name} wait longer than {thresholds.pubsub_oldest_unacked_seconds}s: "
                f"the consumer is down or too slow (domain {owner.domain}, owner {owner.owner}).",
                labels=domain_labels(env, owner),
            )
        for dlq in pubsub.dead_letter_subscriptions:
            owner = by_name[pubsub.domain_of[dlq]]
            inspect_name = f"{dlq}{INSPECT_SUFFIX}"
            self._alert(
                f"dead-letters-{dlq}",
                f"{env.name}: dead letters on {dlq}",
                'resource.type="pubsub_subscription" '
                f'AND resource.labels.subscription_id="{inspect_name}" '
                'AND metric.type="pubsub.googleapis.com/subscription/num_undelivered_messages"',
                threshold=thresholds.dead_letter_messages,
                aligner="ALIGN_MAX",
                doc=f"Messages were dead-lettered to {dlq} (domain {owner.domain}, owner {owner.owner}). "
                f"Inspect them on {inspect_name}, fix, replay.",
                labels=domain_labels(env, owner),
            )
        for domain in domains:
            if not domain.gx_suites:
                continue
            self._alert(
                f"gx-validation-failed-{domain.domain}",
                f"{env.name}: GX validation failed in {domain.domain}",
                f'metric.type="logging.googleapis.com/user/{ref(self.gx_metric, "name")}" '
                f'AND metric.labels.domain="{domain.domain}"',
                threshold=0,
                aligner="ALIGN_SUM",
                doc=f"A Great Expectations suite of {domain.domain} (owner {domain.owner}) failed; the "
                "`suite` label names it. Bad data is quarantined.",
                labels=domain_labels(env, domain),
            )
        self._alert(
            "composer-unhealthy",
            f"{env.name}: Composer environment unhealthy",
            'resource.type="cloud_composer_environment" '
            f'AND resource.labels.environment_name="{composer_name}" '
            'AND metric.type="composer.googleapis.com/environment/healthy"',
            threshold=1,
            aligner="ALIGN_FRACTION_TRUE",
            comparison="COMPARISON_LT",
            duration="600s",
            doc=f"{composer_name} has reported unhealthy for 10 minutes. Check its Monitoring page.",
        )

        for service in AUDITED_SERVICES:
            ProjectIamAuditConfig(
                self,
                f"audit-{service.split('.')[0]}",
                project=env.project,
                service=service,
                audit_log_config=[ProjectIamAuditConfigAuditLogConfig(log_type=t) for t in AUDIT_LOG_TYPES],
            )

        self.log_bucket = LoggingProjectBucketConfig(
            self,
            "log-bucket",
            project=env.project,
            location=env.region,
            bucket_id=env.resource_name("platform-logs"),
            retention_days=spec.log_retention_days,
            description=f"Logs of the {env.name} data platform (retention: monitoring.log_retention_days).",
        )
        self.sink = LoggingProjectSink(
            self,
            "log-sink",
            project=env.project,
            name=env.resource_name("platform-logs"),
            destination=f"logging.googleapis.com/{self.log_bucket.id}",
            filter=SINK_FILTER,
            unique_writer_identity=True,
            description="Routes the platform's logs to its retention bucket.",
        )

    def _alert(
        self,
        key: str,
        title: str,
        metric_filter: str,
        *,
        threshold: float,
        aligner: str,
        doc: str,
        comparison: str = "COMPARISON_GT",
        duration: str = "0s",
        labels: dict[str, str] | None = None,
    ) -> MonitoringAlertPolicy:
        env = self._env
        policy = MonitoringAlertPolicy(
            self,
            f"alert-{key}",
            project=env.project,
            display_name=title,
            combiner="OR",
            severity="ERROR",
            conditions=[
                MonitoringAlertPolicyConditions(
                    display_name=title,
                    condition_threshold=MonitoringAlertPolicyConditionsConditionThreshold(
                        filter=metric_filter,
                        comparison=comparison,
                        threshold_value=threshold,
                        duration=duration,
                        aggregations=[
                            MonitoringAlertPolicyConditionsConditionThresholdAggregations(
                                alignment_period="300s" if aligner != "ALIGN_MAX" else "60s",
                                per_series_aligner=aligner,
                            )
                        ],
                    ),
                )
            ],
            notification_channels=[ref(c, "name") for c in self.channels],
            alert_strategy=MonitoringAlertPolicyAlertStrategy(
                auto_close=f"{env.monitoring.thresholds.alert_auto_close_seconds}s"
            ),
            documentation=MonitoringAlertPolicyDocumentation(content=doc, mime_type="text/markdown"),
            user_labels=labels or env.labels.as_dict(),
        )
        self.alerts[key] = policy
        return policy
