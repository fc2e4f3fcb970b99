"""Render the runtime config (`dags/runtime_config.json`) of a release for one environment.

Everything in it comes from the environment model, the release (jobs/jobs.json, contracts/orders.yaml)
and the component paths the promotion writes; nothing is typed twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import yaml

from deployer.config import Environment
from deployer.errors import ConfigError
from deployer.release import CONTRACT_FILE, JOBS_FILE, Manifest, parse_jobs
from deployer.runtime import DbtRuntime, GxRuntime, RuntimeConfig, SparkJob, SparkRuntime


def jobs_prefix(manifest: Manifest) -> str:
    """Where the release's Spark artifacts live in the artifacts bucket: keyed by the jobs' content digest,
    so they are immutable and a release that does not change them does not re-upload them."""
    return f"jobs/{manifest.components['jobs']}/"


def dbt_prefix(manifest: Manifest) -> str:
    """Where the dbt project lives in the Composer bucket (content-addressed)."""
    return f"data/dbt/{manifest.components['dbt']}/"


def gx_prefix(manifest: Manifest) -> str:
    """Where the GX suites live in the Composer bucket (content-addressed)."""
    return f"data/gx/{manifest.components['gx']}/"


def _contract(data: bytes) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(data)
    except yaml.YAMLError:
        raise ConfigError(f"{CONTRACT_FILE} of the release is not valid YAML") from None
    event = raw.get("event") if isinstance(raw, dict) else None
    if (
        not isinstance(event, dict)
        or not isinstance(event.get("topic"), str)
        or not isinstance(event.get("raw_table"), str)
    ):
        raise ConfigError(f"{CONTRACT_FILE} of the release: event.topic and event.raw_table are required")
    return event


def render(
    env: Environment,
    manifest: Manifest,
    read: Callable[[str], bytes],
    *,
    artifacts_bucket: str,
    policy_tags: dict[str, str],
) -> RuntimeConfig:
    """The runtime config of `manifest` in `env`; `read(path)` returns a (verified) release file."""
    paths = manifest.by_path()
    if CONTRACT_FILE not in paths:
        raise ConfigError(
            f"release {manifest.release} has no {CONTRACT_FILE} "
            "(the runtime config needs event.topic and event.raw_table)"
        )
    event = _contract(read(CONTRACT_FILE))
    topic = event["topic"]
    subs = [name for name, sub in env.pubsub.subscriptions.items() if sub.topic == topic]
    if topic not in env.pubsub.topics or not subs:
        raise ConfigError(
            f"environment {env.name}: pubsub has no topic {topic!r} with a subscription "
            f"(from {CONTRACT_FILE})"
        )
    jobs: dict[str, SparkJob] = {}
    if JOBS_FILE in paths:
        base = f"gs://{artifacts_bucket}/{jobs_prefix(manifest)}"
        try:
            spec = parse_jobs(read(JOBS_FILE))
        except ConfigError as exc:
            raise ConfigError(f"{JOBS_FILE} of {manifest.release}: {exc}") from None
        for name, job in sorted(spec.items()):
            connector_uris: list[str] = []
            for connector in job["connectors"]:
                if connector not in env.dataproc.connectors:
                    known = ", ".join(sorted(env.dataproc.connectors)) or "none"
                    raise ConfigError(
                        f"{JOBS_FILE}: job {name!r} needs connector {connector!r}, which "
                        f"dataproc.connectors of {env.name} does not define (known: {known})"
                    )
                connector_uris.append(env.dataproc.connectors[connector].uri)
            jobs[name] = SparkJob(
                main_python_file_uri=base + job["main"],
                python_file_uris=[base + p for p in job["py_files"]],
                jar_file_uris=[base + j for j in job["jars"]] + connector_uris,
            )
    return RuntimeConfig(
        env=env.name,
        platform=env.platform,
        project=env.project,
        region=env.region,
        components={name: manifest.components[name] for name in ("jobs", "dbt", "gx")},
        labels=env.labels.as_dict(),
        datasets={layer: ds.id for layer, ds in sorted(env.bigquery.datasets.items())},
        bigquery_location=env.bigquery.location,
        raw_table=event["raw_table"],
        pubsub_topic=topic,
        pubsub_subscription=sorted(subs)[0],
        spark=SparkRuntime(
            cluster_name=env.dataproc_cluster_name(),
            region=env.region,
            temp_bucket=env.buckets.dataproc_temp.name,
            jobs=jobs,
        ),
        dbt=DbtRuntime(
            project_path=dbt_prefix(manifest).rstrip("/"),
            target=env.name if env.platform == "gcp" else "local",
            vars={"policy_tags": dict(sorted(policy_tags.items()))},
        ),
        gx=GxRuntime(suites_path=gx_prefix(manifest).rstrip("/")),
        alert_emails=list(env.monitoring.notification_emails),
    )


def to_bytes(config: RuntimeConfig) -> bytes:
    """The file's bytes: stable key order, so the same inputs give the same bytes (and MD5)."""
    return (json.dumps(config.model_dump(mode="json"), indent=2, sort_keys=True) + "\n").encode()
