"""Read `runtime_config.json`, the per-environment file the deployer renders beside the DAGs.

Standard library only: Composer does not install `platform_model`, so this mirrors the
`platform_model.runtime.RuntimeConfig` contract (schema_version 2: an entry per domain under
`domains`); a test renders one with `platform_model.runtime.build` and reads it here, field for field.
Unknown keys are ignored (a newer deployer may add optional fields); missing or mistyped ones raise
`RuntimeConfigError` naming the file and the field.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

RUNTIME_CONFIG_NAME = "runtime_config.json"
SCHEMA_VERSION = 2
CONFIG_ENV = "PLATFORM_RUNTIME_CONFIG"
WAREHOUSE_ENV = "PLATFORM_LOCAL_WAREHOUSE"
LAYERS = ("raw", "staging", "marts")

log = logging.getLogger(__name__)


class RuntimeConfigError(ValueError):
    """The runtime config cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class SparkJob:
    """One Spark job of the release: its artifacts at their immutable per-release URIs."""

    main_python_file_uri: str
    python_file_uris: list[str]
    jar_file_uris: list[str]


@dataclass(frozen=True)
class SparkRuntime:
    """Where the release's Spark jobs run."""

    cluster_name: str
    region: str
    temp_bucket: str
    jobs: dict[str, SparkJob]


@dataclass(frozen=True)
class DbtRuntime:
    """The release's dbt project (path relative to the Composer bucket root), target and vars."""

    project_path: str
    target: str
    vars: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GxRuntime:
    """The release's GX suites (path relative to the Composer bucket root)."""

    suites_path: str


@dataclass(frozen=True)
class GxSuiteRuntime:
    """A suite of a domain: its file (relative to `gx.suites_path`) and the table it validates."""

    file: str
    layer: str
    table: str
    window_column: str | None = None


@dataclass(frozen=True)
class DagRuntime:
    """One DAG of a domain as this environment runs it."""

    kind: str
    schedule: str | None
    """Cron (UTC); None: the daily DAG of a domain with inputs, scheduled by their assets."""
    retries: int
    paused: bool
    freshness_target_seconds: int | None


@dataclass(frozen=True)
class DomainRuntime:
    """A domain's names and DAG values, resolved for the environment."""

    owner: str
    version: str
    description: str
    inputs: list[str]
    asset: str
    input_assets: list[str]
    lateness_days: int
    raw_table: str | None
    pubsub_topic: str | None
    pubsub_subscription: str | None
    staging_table: str | None
    rejects_table: str | None
    staging_partition: str | None
    marts: list[str]
    pii_secret: str | None
    spark_jobs: list[str]
    dbt_select: str
    gx_suites: dict[str, GxSuiteRuntime]
    dags: dict[str, DagRuntime]

    def dag(self, kind: str) -> tuple[str, DagRuntime] | None:
        """The DAG id and values of this domain's DAG of `kind` (daily, freshness), if it has one."""
        return next(((dag_id, d) for dag_id, d in self.dags.items() if d.kind == kind), None)


@dataclass(frozen=True)
class RuntimeConfig:
    """Everything a DAG needs to know about its environment and release."""

    schema_version: int
    env: str
    platform: str
    project: str
    region: str
    components: dict[str, str]
    labels: dict[str, str]
    datasets: dict[str, str]
    bigquery_location: str
    spark: SparkRuntime
    dbt: DbtRuntime
    gx: GxRuntime
    domains: dict[str, DomainRuntime]
    alert_emails: list[str] = field(default_factory=list)


_MISSING: Any = object()


class _Reader:
    """Typed access to a JSON object that reports the dotted path of what is wrong."""

    def __init__(self, source: str, data: Any, where: str = "") -> None:
        self.source, self.where = source, where
        if not isinstance(data, dict):
            self.fail(f"expected an object, got {type(data).__name__}")
        self.data: dict[str, Any] = data

    def fail(self, problem: str, key: str | None = None) -> NoReturn:
        at = ".".join(p for p in (self.where, key or "") if p) or "(top level)"
        raise RuntimeConfigError(f"{self.source}: {at}: {problem}")

    def _get(self, key: str, default: Any) -> Any:
        if key not in self.data:
            if default is _MISSING:
                self.fail("is required", key)
            return default
        return self.data[key]

    def text(self, key: str) -> str:
        value = self._get(key, _MISSING)
        if not isinstance(value, str) or not value:
            self.fail("expected a non-empty string", key)
        return value

    def optional_text(self, key: str) -> str | None:
        value = self._get(key, None)
        if value is not None and (not isinstance(value, str) or not value):
            self.fail("expected a non-empty string or null", key)
        return value

    def integer(self, key: str, default: Any = _MISSING) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail("expected an integer", key)
        return value

    def optional_integer(self, key: str) -> int | None:
        value = self._get(key, None)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            self.fail("expected an integer or null", key)
        return value

    def boolean(self, key: str) -> bool:
        value = self._get(key, _MISSING)
        if not isinstance(value, bool):
            self.fail("expected true or false", key)
        return value

    def texts(self, key: str, default: Any = _MISSING) -> list[str]:
        value = self._get(key, default)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail("expected a list of strings", key)
        return list(value)

    def mapping(self, key: str) -> dict[str, str]:
        value = self._get(key, _MISSING)
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            self.fail("expected an object of strings", key)
        return dict(value)

    def obj(self, key: str, default: Any = _MISSING) -> _Reader:
        return _Reader(self.source, self._get(key, default), f"{self.where}.{key}" if self.where else key)

    def each(self, key: str) -> dict[str, _Reader]:
        """The members of the object at `key`, each as a reader, in file order."""
        parent = self.obj(key)
        return {name: parent.obj(name) for name in parent.data}


def parse(text: str, source: str = RUNTIME_CONFIG_NAME) -> RuntimeConfig:
    """Parse the JSON text of a runtime config; RuntimeConfigError on anything unusable."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RuntimeConfigError(f"{source}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    top = _Reader(source, data)
    version = top.integer("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        top.fail(f"is {version}, but this DAG code reads version {SCHEMA_VERSION}", "schema_version")
    platform = top.text("platform")
    if platform not in ("gcp", "local"):
        top.fail(f"expected gcp or local, got {platform!r}", "platform")
    spark, dbt, gx = top.obj("spark"), top.obj("dbt"), top.obj("gx")
    jobs = {
        name: SparkJob(
            main_python_file_uri=job.text("main_python_file_uri"),
            python_file_uris=job.texts("python_file_uris"),
            jar_file_uris=job.texts("jar_file_uris"),
        )
        for name, job in spark.each("jobs").items()
    }
    datasets = _complete(top, "datasets", LAYERS)
    domains = {name: _domain(entry) for name, entry in top.each("domains").items()}
    for name, domain in domains.items():
        for job in domain.spark_jobs:
            if job not in jobs:
                top.fail(f"names Spark job {job!r}, which spark.jobs lacks", f"domains.{name}.spark_jobs")
    return RuntimeConfig(
        schema_version=version,
        env=top.text("env"),
        platform=platform,
        project=top.text("project"),
        region=top.text("region"),
        components=_complete(top, "components", ("jobs", "dbt", "gx")),
        labels=top.mapping("labels"),
        datasets=datasets,
        bigquery_location=top.text("bigquery_location"),
        spark=SparkRuntime(
            cluster_name=spark.text("cluster_name"),
            region=spark.text("region"),
            temp_bucket=spark.text("temp_bucket"),
            jobs=jobs,
        ),
        dbt=DbtRuntime(
            project_path=dbt.text("project_path"),
            target=dbt.text("target"),
            vars=dict(dbt.obj("vars", {}).data),
        ),
        gx=GxRuntime(suites_path=gx.text("suites_path")),
        domains=domains,
        alert_emails=top.texts("alert_emails", []),
    )


def _complete(top: _Reader, key: str, required: tuple[str, ...]) -> dict[str, str]:
    values = top.mapping(key)
    missing = sorted(set(required) - set(values))
    if missing:
        top.fail(f"lacks {missing}", key)
    return values


def _domain(entry: _Reader) -> DomainRuntime:
    suites = {
        name: GxSuiteRuntime(
            file=suite.text("file"),
            layer=suite.text("layer"),
            table=suite.text("table"),
            window_column=suite.optional_text("window_column"),
        )
        for name, suite in entry.each("gx_suites").items()
    }
    for name, suite in suites.items():
        if suite.layer not in LAYERS:
            entry.fail(f"expected one of {', '.join(LAYERS)}, got {suite.layer!r}", f"gx_suites.{name}.layer")
    dags = {}
    for dag_id, dag in entry.each("dags").items():
        kind = dag.text("kind")
        if kind not in ("daily", "freshness"):
            dag.fail(f"expected daily or freshness, got {kind!r}", "kind")
        dags[dag_id] = DagRuntime(
            kind=kind,
            schedule=dag.optional_text("schedule"),
            retries=dag.integer("retries"),
            paused=dag.boolean("paused"),
            freshness_target_seconds=dag.optional_integer("freshness_target_seconds"),
        )
    return DomainRuntime(
        owner=entry.text("owner"),
        version=entry.text("version"),
        description=entry.text("description"),
        inputs=entry.texts("inputs"),
        asset=entry.text("asset"),
        input_assets=entry.texts("input_assets"),
        lateness_days=entry.integer("lateness_days"),
        raw_table=entry.optional_text("raw_table"),
        pubsub_topic=entry.optional_text("pubsub_topic"),
        pubsub_subscription=entry.optional_text("pubsub_subscription"),
        staging_table=entry.optional_text("staging_table"),
        rejects_table=entry.optional_text("rejects_table"),
        staging_partition=entry.optional_text("staging_partition"),
        marts=entry.texts("marts"),
        pii_secret=entry.optional_text("pii_secret"),
        spark_jobs=entry.texts("spark_jobs"),
        dbt_select=entry.text("dbt_select"),
        gx_suites=suites,
        dags=dags,
    )


def component_tag(cfg: RuntimeConfig, name: str) -> str:
    """`<name>-<first 12 of its digest>`: names a component's content in tags, labels and cache folders."""
    return f"{name}-{cfg.components[name][:12].lower()}"


def load(path: Path) -> RuntimeConfig:
    """Read and parse a runtime config file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuntimeConfigError(f"{path}: cannot be read ({exc.strerror})") from None
    return parse(text, str(path))


def load_for_dag(dag_file: str) -> RuntimeConfig | None:
    """The runtime config beside a DAG file, or None (logged) when the folder has none yet.

    A DAG folder without a runtime config (a checkout, not a promoted release) declares no DAGs
    instead of failing to import; a config that exists but is broken raises, so the import error
    shows in the Airflow UI. `PLATFORM_RUNTIME_CONFIG` may point at another file.
    """
    path = Path(os.environ.get(CONFIG_ENV) or Path(dag_file).resolve().parent / RUNTIME_CONFIG_NAME)
    if not path.is_file():
        log.warning(
            "%s: no %s at %s, so this file declares no DAG (promote a release)", dag_file, path.name, path
        )
        return None
    return load(path)


def bucket_root(dag_folder: Path) -> Path:
    """The Composer bucket's mount: the DAG folder's parent (`/home/airflow/gcs` on Composer)."""
    return dag_folder.resolve().parent


def bucket_path(dag_folder: Path, relative: str) -> Path:
    """A path the runtime config gives relative to the bucket root (e.g. `data/dbt/<digest>`)."""
    return bucket_root(dag_folder) / relative


def local_warehouse(dag_folder: Path) -> Path:
    """The local platform's warehouse: `PLATFORM_LOCAL_WAREHOUSE`, else `<bucket root>/data/warehouse`."""
    override = os.environ.get(WAREHOUSE_ENV)
    return Path(override).resolve() if override else bucket_root(dag_folder) / "data" / "warehouse"
