"""The runtime config (`dags/runtime_config.json`): the per-environment file rendered beside the DAGs,
and the one function that builds it (`build`; `render` for a release).

DAG code never edits itself per environment: it reads this file, rendered from the environment model,
the release's domain files and the component paths the promotion writes. The DAG library
(`composer/dags/pipelines/runtime.py`) reads it with the standard library only, since Composer does not
have this package; a test renders one here and reads it there, so both sides stay in step.

Paths inside the Composer bucket are given relative to the bucket root (`data/dbt/<digest>`); a DAG
resolves them against its DAG folder's parent, which is `/home/airflow/gcs` on Composer and the
mount folder on the local platform.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from platform_model.domain import Domain, check_together, parse_domain, resolve
from platform_model.environment import Environment
from platform_model.errors import ConfigError
from platform_model.manifest import JOBS_FILE, Manifest, domain_paths, jobs_prefix, parse_jobs

RUNTIME_CONFIG_NAME = "runtime_config.json"
SCHEMA_VERSION = 2
RUNTIME_COMPONENTS = ("jobs", "dbt", "gx")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SparkJob(_Model):
    """One Spark job of the release, with its artifacts at their immutable per-release paths."""

    main_python_file_uri: str = Field(description="gs:// (or file://) URI of the job's entry point.")
    python_file_uris: list[str] = Field(description="Zip/wheel of the job package.")
    jar_file_uris: list[str] = Field(description="Jars built from this repo, then connector jars by URI.")


class SparkRuntime(_Model):
    """Where the release's Spark jobs run in this environment."""

    cluster_name: str
    region: str
    temp_bucket: str
    jobs: dict[str, SparkJob] = Field(description="Job name (from the release's jobs.json) -> artifacts.")


class DbtRuntime(_Model):
    """Where the release's dbt project is and how it runs."""

    project_path: str = Field(description="Path relative to the Composer bucket root: data/dbt/<digest>.")
    target: str = Field(description="dbt target: the environment name on GCP, `local` (DuckDB) locally.")
    vars: dict[str, object] = Field(
        default_factory=dict,
        description="dbt vars; `policy_tags` maps a tag display name to its id in this environment.",
    )


class GxRuntime(_Model):
    """Where the release's Great Expectations suites are."""

    suites_path: str = Field(description="Path relative to the Composer bucket root, e.g. data/gx/<digest>.")


class GxSuiteRuntime(_Model):
    """A suite of a domain and the table it validates."""

    file: str = Field(description="Suite file relative to suites_path: expectations/<domain>/<suite>.json.")
    layer: Literal["raw", "staging", "marts"]
    table: str
    window_column: str | None = None


class DagRuntime(_Model):
    """One DAG of a domain as this environment runs it."""

    kind: Literal["daily", "freshness"]
    schedule: str | None = Field(description="Cron (UTC); null: scheduled by the input domains' assets.")
    retries: int
    paused: bool
    freshness_target_seconds: int | None = Field(description="Freshness DAGs: the largest lag accepted.")


class DomainRuntime(_Model):
    """Everything a domain's DAGs need: the names its declaration gives, resolved for the environment."""

    owner: str
    version: str
    description: str
    inputs: list[str] = Field(description="Domains whose marts this one reads.")
    asset: str = Field(description="The asset the domain's daily DAG emits.")
    input_assets: list[str] = Field(description="The assets of the inputs (the daily DAG's schedule).")
    lateness_days: int
    raw_table: str | None
    pubsub_topic: str | None
    pubsub_subscription: str | None
    staging_table: str | None
    rejects_table: str | None
    staging_partition: str | None
    marts: list[str]
    pii_secret: str | None
    spark_jobs: list[str] = Field(description="Keys of spark.jobs this domain runs, in order.")
    dbt_select: str
    gx_suites: dict[str, GxSuiteRuntime]
    dags: dict[str, DagRuntime] = Field(description="DAG id -> schedule and retries.")


class RuntimeConfig(_Model):
    """Everything a DAG needs to know about its environment and release."""

    schema_version: int = SCHEMA_VERSION
    env: str
    platform: Literal["gcp", "local"]
    project: str
    region: str
    components: dict[str, str] = Field(
        description=(
            "Content digest of each component of the release (jobs, dbt, gx), as the paths use them; "
            "no release id, so a release that changes only DAGs leaves this file unchanged."
        )
    )
    labels: dict[str, str]
    datasets: dict[str, str] = Field(description="Logical layer (raw, staging, marts) -> dataset id.")
    bigquery_location: str
    spark: SparkRuntime
    dbt: DbtRuntime
    gx: GxRuntime
    alert_emails: list[str] = Field(default_factory=list)
    domains: dict[str, DomainRuntime] = Field(description="Domain name -> its runtime, in input order.")


def domain_runtime(domain: Domain, domains: Mapping[str, Domain]) -> DomainRuntime:
    """The runtime entry of one (resolved) domain."""
    event, staging, rejects = domain.event, domain.staging, domain.rejects
    return DomainRuntime(
        owner=domain.owner,
        version=domain.version,
        description=domain.description,
        inputs=list(domain.inputs),
        asset=domain.asset_uri,
        input_assets=[domains[name].asset_uri for name in domain.inputs],
        lateness_days=domain.lateness_days,
        raw_table=event.raw_table if event else None,
        pubsub_topic=event.topic if event else None,
        pubsub_subscription=domain.subscription,
        staging_table=staging.table if staging else None,
        rejects_table=rejects.table if rejects else None,
        staging_partition=staging.partition_by if staging else None,
        marts=list(domain.marts),
        pii_secret=domain.pii_secret,
        spark_jobs=list(domain.spark_jobs),
        dbt_select=domain.dbt_select,
        gx_suites={
            name: GxSuiteRuntime(
                file=f"expectations/{domain.domain}/{name}.json",
                layer=suite.layer,
                table=suite.table,
                window_column=suite.window_column,
            )
            for name, suite in domain.gx_suites.items()
        },
        dags={
            domain.dag_id(kind): DagRuntime(
                kind=kind,
                schedule=dag.schedule,
                retries=dag.retries,
                paused=dag.paused,
                freshness_target_seconds=dag.freshness_target_seconds if kind == "freshness" else None,
            )
            for kind, dag in domain.dags.items()
        },
    )


def build(
    env: Environment,
    domains: Mapping[str, Domain],
    *,
    components: Mapping[str, str],
    jobs: Mapping[str, Mapping[str, Any]],
    jobs_base: str,
    policy_tags: Mapping[str, str],
) -> RuntimeConfig:
    """The runtime config of `env` for resolved `domains` (see `domain.resolve`).

    `components`: digest of jobs, dbt and gx (the dbt project and GX suites live at
    `data/dbt/<digest>` and `data/gx/<digest>` of the Composer bucket); `jobs`: the release's
    jobs.json index; `jobs_base`: the URI its paths are relative to (`gs://<artifacts>/jobs/<digest>/`
    on a platform, `file://...` for a local staging); `policy_tags`: display name -> id in `env`.
    """
    missing = [c for c in RUNTIME_COMPONENTS if c not in components]
    if missing:
        raise ConfigError(f"release has no component digest for {', '.join(missing)}")
    spark_jobs: dict[str, SparkJob] = {}
    for domain in domains.values():
        for name in domain.spark_jobs:
            if name not in jobs:
                raise ConfigError(
                    f"{JOBS_FILE}: domain {domain.domain!r} declares Spark job {name!r}, which the release "
                    f"does not build (it has: {', '.join(sorted(jobs)) or 'none'})"
                )
            spark_jobs[name] = _spark_job(env, name, jobs[name], jobs_base)
    return RuntimeConfig(
        env=env.name,
        platform=env.platform,
        project=env.project,
        region=env.region,
        components={name: components[name] for name in RUNTIME_COMPONENTS},
        labels=env.labels.as_dict(),
        datasets={layer: ds.id for layer, ds in sorted(env.bigquery.datasets.items())},
        bigquery_location=env.bigquery.location,
        spark=SparkRuntime(
            cluster_name=env.dataproc_cluster_name(),
            region=env.region,
            temp_bucket=env.buckets.dataproc_temp.name,
            jobs=dict(sorted(spark_jobs.items())),
        ),
        dbt=DbtRuntime(
            project_path=f"data/dbt/{components['dbt']}",
            target=env.name if env.platform == "gcp" else "local",
            vars={"policy_tags": dict(sorted(policy_tags.items()))},
        ),
        gx=GxRuntime(suites_path=f"data/gx/{components['gx']}"),
        alert_emails=list(env.monitoring.notification_emails),
        domains={name: domain_runtime(domain, domains) for name, domain in domains.items()},
    )


def _spark_job(env: Environment, name: str, job: Mapping[str, Any], base: str) -> SparkJob:
    connector_uris: list[str] = []
    for connector in job["connectors"]:
        if connector not in env.dataproc.connectors:
            known = ", ".join(sorted(env.dataproc.connectors)) or "none"
            raise ConfigError(
                f"{JOBS_FILE}: job {name!r} needs connector {connector!r}, which dataproc.connectors of "
                f"{env.file} does not define (known: {known})"
            )
        connector_uris.append(env.dataproc.connectors[connector].uri)
    return SparkJob(
        main_python_file_uri=base + str(job["main"]),
        python_file_uris=[base + p for p in job["py_files"]],
        jar_file_uris=[base + j for j in job["jars"]] + connector_uris,
    )


def release_domains(manifest: Manifest, read: Callable[[str], bytes]) -> dict[str, Domain]:
    """The domain declarations a release carries (`domains/*.yaml`), by name."""
    out: dict[str, Domain] = {}
    for path in domain_paths(manifest):
        name = path.removeprefix("domains/").removesuffix(".yaml")
        out[name] = parse_domain(read(path), f"{path} of {manifest.release}", name)
    if not out:
        raise ConfigError(f"release {manifest.release} has no domain files (domains/*.yaml)")
    return out


def render(
    env: Environment,
    manifest: Manifest,
    read: Callable[[str], bytes],
    *,
    artifacts_bucket: str,
    policy_tags: Mapping[str, str],
) -> RuntimeConfig:
    """The runtime config of `manifest` in `env`; `read(path)` returns a (verified) release file."""
    domains = release_domains(manifest, read)
    check_together(domains, f"domains of {manifest.release}")
    jobs: dict[str, dict[str, Any]] = {}
    if JOBS_FILE in manifest.by_path():
        try:
            jobs = parse_jobs(read(JOBS_FILE))
        except ConfigError as exc:
            raise ConfigError(f"{JOBS_FILE} of {manifest.release}: {exc}") from None
    return build(
        env,
        resolve(env, domains),
        components=manifest.components,
        jobs=jobs,
        jobs_base=f"gs://{artifacts_bucket}/{jobs_prefix(manifest)}",
        policy_tags=policy_tags,
    )


def to_bytes(config: RuntimeConfig) -> bytes:
    """The file's bytes: stable key order, so the same inputs give the same bytes (and MD5)."""
    return (json.dumps(config.model_dump(mode="json"), indent=2, sort_keys=True) + "\n").encode()
