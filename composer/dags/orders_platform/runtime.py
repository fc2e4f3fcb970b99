"""Read `runtime_config.json`, the per-environment file the deployer renders beside the DAGs.

Standard library only: Composer does not install the `deployer` package, so this mirrors the
`deployer.runtime.RuntimeConfig` contract (a test renders one with the deployer and reads it here).
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
SCHEMA_VERSION = 1

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
    raw_table: str
    pubsub_topic: str
    pubsub_subscription: str
    spark: SparkRuntime
    dbt: DbtRuntime
    gx: GxRuntime
    alert_emails: list[str] = field(default_factory=list)
    freshness_target_seconds: int = 900


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

    def integer(self, key: str, default: Any = _MISSING) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail("expected an integer", key)
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
    jobs_reader = spark.obj("jobs")
    jobs = {}
    for name in jobs_reader.data:
        job = jobs_reader.obj(name)
        jobs[name] = SparkJob(
            main_python_file_uri=job.text("main_python_file_uri"),
            python_file_uris=job.texts("python_file_uris"),
            jar_file_uris=job.texts("jar_file_uris"),
        )
    dbt_vars = dbt.obj("vars", {}).data
    datasets = top.mapping("datasets")
    missing = {"raw", "staging", "marts"} - set(datasets)
    if missing:
        top.fail(f"lacks {sorted(missing)}", "datasets")
    return RuntimeConfig(
        schema_version=version,
        env=top.text("env"),
        platform=platform,
        project=top.text("project"),
        region=top.text("region"),
        components=_components(top),
        labels=top.mapping("labels"),
        datasets=datasets,
        bigquery_location=top.text("bigquery_location"),
        raw_table=top.text("raw_table"),
        pubsub_topic=top.text("pubsub_topic"),
        pubsub_subscription=top.text("pubsub_subscription"),
        spark=SparkRuntime(
            cluster_name=spark.text("cluster_name"),
            region=spark.text("region"),
            temp_bucket=spark.text("temp_bucket"),
            jobs=jobs,
        ),
        dbt=DbtRuntime(project_path=dbt.text("project_path"), target=dbt.text("target"), vars=dict(dbt_vars)),
        gx=GxRuntime(suites_path=gx.text("suites_path")),
        alert_emails=top.texts("alert_emails", []),
        freshness_target_seconds=top.integer("freshness_target_seconds", 900),
    )


def _components(top: _Reader) -> dict[str, str]:
    components = top.mapping("components")
    missing = {"jobs", "dbt", "gx"} - set(components)
    if missing:
        top.fail(f"lacks {sorted(missing)}", "components")
    return components


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
    shows in the Airflow UI. `ORDERS_RUNTIME_CONFIG` may point at another file.
    """
    path = Path(
        os.environ.get("ORDERS_RUNTIME_CONFIG") or Path(dag_file).resolve().parent / RUNTIME_CONFIG_NAME
    )
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
    """A path the runtime config gives relative to the bucket root (e.g. `data/dbt/<release>`)."""
    return bucket_root(dag_folder) / relative


def local_warehouse(dag_folder: Path) -> Path:
    """The local platform's warehouse: `ORDERS_LOCAL_WAREHOUSE`, else `<bucket root>/data/warehouse`."""
    override = os.environ.get("ORDERS_LOCAL_WAREHOUSE")
    return Path(override).resolve() if override else bucket_root(dag_folder) / "data" / "warehouse"
