"""The runtime config: the per-environment file the deployer renders beside the DAGs.

DAG code never edits itself per environment: it reads `dags/runtime_config.json`, rendered from the
environment model and the release at promotion time. This model is the contract between the deployer
(which writes it) and `composer/dags/orders_platform/runtime.py` (which reads it without importing
the deployer, since Composer does not have this package). A test keeps both sides in step.

Paths inside the Composer bucket are given relative to the bucket root (`data/dbt/<release>`); a DAG
resolves them against its DAG folder's parent, which is `/home/airflow/gcs` on Composer and the
mount folder on the local platform.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RUNTIME_CONFIG_NAME = "runtime_config.json"
SCHEMA_VERSION = 1


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
    jobs: dict[str, SparkJob] = Field(
        description="Job name (from jobs/jobs.json of the release) -> artifacts."
    )


class DbtRuntime(_Model):
    """Where the release's dbt project is and how it runs."""

    project_path: str = Field(
        description="Path relative to the Composer bucket root, e.g. data/dbt/<release>."
    )
    target: str = Field(description="dbt target: the environment name on GCP, `local` (DuckDB) locally.")
    vars: dict[str, object] = Field(
        default_factory=dict,
        description="dbt vars; `policy_tags` maps a tag display name to its id in this environment.",
    )


class GxRuntime(_Model):
    """Where the release's Great Expectations suites are."""

    suites_path: str = Field(description="Path relative to the Composer bucket root, e.g. data/gx/<release>.")


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
    raw_table: str
    pubsub_topic: str
    pubsub_subscription: str
    spark: SparkRuntime
    dbt: DbtRuntime
    gx: GxRuntime
    alert_emails: list[str] = Field(default_factory=list)
    freshness_target_seconds: int = 900
