"""Pipeline domains: the unit a team adds. One file per domain, `domains/<name>.yaml`, read here only.

A domain file is the domain's data contract and its pipeline declaration:

- the contract: `event` (the Pub/Sub message and the raw table it lands in), `staging` and `rejects`
  (the tables its Spark job writes, partitioned by day) and `marts` (the dbt models it owns, their
  contract columns). Types are BigQuery standard SQL types; `pii` names a policy tag of the
  environment's taxonomy by display name; `tests` are dbt data tests the generated model YAML carries.
  `version` is `MAJOR.MINOR`: a breaking change bumps the major.
- the pipeline: its `owner`, its Spark jobs (`spark_jobs`: name -> jars and connectors), its dbt
  models (`dbt.select`, by default its folder `models/<name>`), its GX suites (`gx_suites`: suite ->
  the declared table it validates), its DAGs (`dags`: `daily` and `freshness`, with schedule, retries
  and freshness target) and the Secret Manager secret its job hashes PII with (`pii_secret`).
- a domain that combines others (a cross-domain mart) names them in `inputs` and declares no event:
  its daily DAG is scheduled by the Airflow assets the inputs' daily DAGs emit.

Everything else follows from the name, so a domain adds files and edits none: its dbt models under
`dbt/models/<name>/`, its GX suites under `gx/expectations/<name>/`, its Spark package
`dataproc_jobs/<name>/` with entry points `dataproc_jobs/entrypoints/<job>.py`, its thin DAG file
`composer/dags/<name>.py`. Environment files may switch a domain off or override its DAG values
(`resolve`); a domain they do not name runs everywhere with what it declares.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from platform_model import REPO_ROOT
from platform_model.environment import DomainOverride, Environment
from platform_model.errors import ConfigError
from platform_model.yamlfile import load_yaml_mapping, parse_yaml, validation_message

DOMAINS_DIR = REPO_ROOT / "domains"

BigQueryType = Literal["STRING", "INT64", "NUMERIC", "FLOAT64", "BOOL", "DATE", "TIMESTAMP", "BYTES", "JSON"]
PARTITION_TYPES = ("DATE", "TIMESTAMP")  # what BigQuery partitions by day
DagKind = Literal["daily", "freshness"]
Layer = Literal["raw", "staging", "marts"]

DomainName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,28}[a-z0-9]$", description="snake_case")]
Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,127}$", description="snake_case identifier")]
TopicName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,200}[a-z0-9]$", description="Pub/Sub topic")]
JobName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$", description="Spark job name")]
JarName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,62}$", description="jar source folder")]
_CRON = re.compile(r"^(@(hourly|daily|weekly|monthly|yearly)|(\S+\s+){4}\S+)$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Column(_Strict):
    """One column of a contract section."""

    name: Identifier = Field(description="Column name (snake_case): BigQuery, Avro and Spark identifier.")
    type: BigQueryType = Field(description="BigQuery standard SQL type.")
    mode: Literal["REQUIRED", "NULLABLE", "REPEATED"] = Field(
        default="NULLABLE", description="REQUIRED columns are never null."
    )
    description: str = Field(min_length=1, description="What the column holds.")
    pii: str | None = Field(
        default=None, min_length=1, description="Display name of the policy tag, when the column is PII."
    )
    tests: list[Any] = Field(default_factory=list, description="Extra dbt data tests, in dbt YAML syntax.")


def _unique_columns(columns: list[Column]) -> list[Column]:
    names = [c.name for c in columns]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"duplicate column names {dupes}")
    return columns


class Event(_Strict):
    """The Pub/Sub event and the raw table (raw dataset) it lands in."""

    topic: TopicName = Field(description="Pub/Sub topic name; its subscription and dead-letter topic follow.")
    raw_table: Identifier = Field(description="Table in the raw dataset.")
    columns: list[Column] = Field(min_length=1)

    @field_validator("columns")
    @classmethod
    def _unique(cls, value: list[Column]) -> list[Column]:
        return _unique_columns(value)


class Table(_Strict):
    """A table the domain's Spark job writes into the staging dataset, partitioned by day."""

    table: Identifier = Field(description="Table name in the staging dataset (unique across domains).")
    partition_by: Identifier = Field(description="DATE or TIMESTAMP column the table is partitioned by.")
    columns: list[Column] = Field(min_length=1)

    @field_validator("columns")
    @classmethod
    def _unique(cls, value: list[Column]) -> list[Column]:
        return _unique_columns(value)

    @model_validator(mode="after")
    def _partition(self) -> Table:
        types = {c.name: c.type for c in self.columns}
        if types.get(self.partition_by) not in PARTITION_TYPES:
            raise ValueError(f"partition_by: {self.partition_by!r} is not a DATE or TIMESTAMP column")
        return self


class Mart(_Strict):
    """A dbt model the domain owns in the marts dataset: its contract columns."""

    description: str = ""
    columns: list[Column] = Field(min_length=1)

    @field_validator("columns")
    @classmethod
    def _unique(cls, value: list[Column]) -> list[Column]:
        return _unique_columns(value)


class SparkJob(_Strict):
    """One Spark job of the domain: entry point `dataproc_jobs/entrypoints/<job>.py`, package
    `dataproc_jobs/<package>/` (the domain's name unless given), the jars it registers UDFs from
    (`dataproc_jobs/java/<jar>/src`) and the connectors it needs on GCP (keys of dataproc.connectors)."""

    package: Identifier | None = Field(default=None, description="Python package; default: the domain name.")
    jars: list[JarName] = Field(default_factory=list)
    connectors: list[str] = Field(default_factory=list)


class Dbt(_Strict):
    """Which dbt nodes the domain's daily DAG builds (a dbt selector)."""

    select: str | None = Field(
        default=None, min_length=1, description="dbt --select; default: path:models/<domain>."
    )


class GxSuite(_Strict):
    """A GX suite (`gx/expectations/<domain>/<suite>.json`) and the declared table it validates."""

    layer: Layer
    table: Identifier = Field(description="A table of this domain in that layer (raw, staging or a mart).")
    window_column: Identifier | None = Field(
        default=None, description="DATE column restricting validation to the run's window; none: all rows."
    )


class Dag(_Strict):
    """One of the domain's DAGs (`<domain>_<kind>`)."""

    schedule: str | None = Field(
        default=None,
        description="Cron (UTC). Omitted on the daily DAG of a domain with inputs: it runs on their assets.",
    )
    retries: int = Field(default=2, ge=0, le=10, description="Task retries.")
    freshness_target_seconds: int = Field(
        default=900, ge=60, description="Freshness DAG: the largest acceptable lag of the newest raw event."
    )
    paused: bool = Field(default=False, description="Whether the DAG starts paused.")

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None and not _CRON.match(value.strip()):
            raise ValueError(f"{value!r} is not a cron expression (5 fields) or @daily-style preset")
        return value


class Migration(_Strict):
    """What moves existing data to a new major version of the contract: a dbt model, a backfill DAG or a
    SQL file, shipped in the release (a release path under dbt/ or dags/)."""

    to_version: str = Field(pattern=r"^\d+\.\d+$", description="The contract version it migrates to.")
    path: str = Field(
        pattern=r"^(dbt|dags)/[A-Za-z0-9_./-]+\.(sql|py)$",
        description="Release path of the migration, e.g. dbt/models/<domain>/migrations/v2.sql.",
    )


class Domain(_Strict):
    """One pipeline domain: its contract and its pipeline declaration."""

    domain: DomainName = Field(description="The domain's name; equals the file name.")
    version: str = Field(pattern=r"^\d+\.\d+$", description="Contract version MAJOR.MINOR.")
    owner: Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,63}$")] = Field(description="Owning team (a label).")
    description: str = Field(min_length=1)
    inputs: list[DomainName] = Field(
        default_factory=list, description="Domains whose marts this one reads (a cross-domain mart)."
    )
    lateness_days: int = Field(
        default=2, ge=0, le=30, description="Days back a run re-reads for late events (its window)."
    )
    event: Event | None = None
    staging: Table | None = None
    rejects: Table | None = None
    marts: dict[Identifier, Mart] = Field(default_factory=dict)
    pii_secret: Annotated[str, Field(pattern=r"^[a-zA-Z0-9_-]{1,255}$")] | None = Field(
        default=None, description="Secret Manager secret (its name) holding the key the job hashes PII with."
    )
    spark_jobs: dict[JobName, SparkJob] = Field(default_factory=dict)
    dbt: Dbt = Field(default_factory=Dbt)
    gx_suites: dict[Identifier, GxSuite] = Field(default_factory=dict)
    dags: dict[DagKind, Dag] = Field(default_factory=dict)
    migration: Migration | None = Field(
        default=None, description="The migration a breaking change (major version bump) ships with."
    )

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> Any:
        return f"{value}.0" if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _consistent(self) -> Domain:
        if self.event is not None and self.inputs:
            raise ValueError("inputs: a domain either ingests an event or combines other domains, not both")
        if self.event is not None and self.staging is None:
            raise ValueError("staging: a domain with an event declares the staging table its job writes")
        if self.event is not None and not self.spark_jobs:
            raise ValueError("spark_jobs: a domain with an event declares the job that cleans it")
        if self.event is None and (self.staging or self.rejects or self.spark_jobs):
            raise ValueError("event: staging, rejects and spark_jobs need the event they read")
        if self.domain in self.inputs:
            raise ValueError(f"inputs: {self.domain!r} cannot be its own input")
        daily = self.dags.get("daily")
        if daily is not None and daily.schedule is None and not self.inputs:
            raise ValueError("dags.daily.schedule: required (only a domain with inputs runs on assets)")
        if daily is not None and daily.schedule is not None and self.inputs:
            raise ValueError("dags.daily.schedule: a domain with inputs runs on their assets, not a cron")
        if "freshness" in self.dags:
            if self.event is None:
                raise ValueError("dags.freshness: measures raw events, so it needs an event")
            if self.dags["freshness"].schedule is None:
                raise ValueError("dags.freshness.schedule: required")
        for name, suite in self.gx_suites.items():
            columns = self.table_columns(suite.layer, suite.table)
            if columns is None:
                raise ValueError(
                    f"gx_suites.{name}.table: {suite.layer}.{suite.table} is not a table of this domain "
                    f"(its tables: {', '.join(self.tables()) or 'none'})"
                )
            if suite.window_column is not None and suite.window_column not in {c.name for c in columns}:
                raise ValueError(
                    f"gx_suites.{name}.window_column: {suite.window_column!r} "
                    f"is not a column of {suite.table}"
                )
        return self

    # -- what follows from the declaration ---------------------------------------------------------

    def dag_id(self, kind: str) -> str:
        """`<domain>_<kind>`: the Airflow DAG id."""
        return f"{self.domain}_{kind}"

    def dag_ids(self) -> list[str]:
        """Every DAG id of the domain, in declaration order."""
        return [self.dag_id(kind) for kind in self.dags]

    @property
    def dbt_select(self) -> str:
        """The dbt selector of the domain's nodes."""
        return self.dbt.select or f"path:models/{self.domain}"

    @property
    def asset_uri(self) -> str:
        """The Airflow asset the domain's daily DAG emits when its marts are built for the day.

        An `x-` scheme: Airflow leaves it as it is, while any other scheme makes each parse load every
        installed provider's asset URI handlers to normalise it (about 200 ms a DAG file, measured)."""
        return f"x-platform://domains/{self.domain}"

    @property
    def subscription(self) -> str | None:
        """The subscription the raw table is fed from: `<topic>-raw`."""
        return f"{self.event.topic}-raw" if self.event else None

    @property
    def dead_letter_topic(self) -> str | None:
        """Where messages go after too many failed deliveries: `<topic>-dlq`."""
        return f"{self.event.topic}-dlq" if self.event else None

    def job_package(self, job: str) -> str:
        """The Python package (under dataproc_jobs/) of one of the domain's jobs."""
        return self.spark_jobs[job].package or self.domain

    def tables(self) -> dict[str, list[Column]]:
        """`layer.table` -> columns, for every table the domain declares."""
        out: dict[str, list[Column]] = {}
        if self.event is not None:
            out[f"raw.{self.event.raw_table}"] = self.event.columns
        for table in (self.staging, self.rejects):
            if table is not None:
                out[f"staging.{table.table}"] = table.columns
        for name, mart in self.marts.items():
            out[f"marts.{name}"] = mart.columns
        return out

    def table_columns(self, layer: str, table: str) -> list[Column] | None:
        """Columns of a declared table, or None when the domain does not declare it."""
        return self.tables().get(f"{layer}.{table}")

    def sections(self) -> dict[str, list[Column]]:
        """Contract section (`event`, `staging`, `rejects`, `marts.<name>`) -> columns."""
        out: dict[str, list[Column]] = {}
        if self.event is not None:
            out["event"] = self.event.columns
        if self.staging is not None:
            out["staging"] = self.staging.columns
        if self.rejects is not None:
            out["rejects"] = self.rejects.columns
        out.update({f"marts.{name}": mart.columns for name, mart in self.marts.items()})
        return out

    def pii_tags(self) -> set[str]:
        """Every policy tag display name a column of the domain names."""
        return {c.pii for cols in self.sections().values() for c in cols if c.pii}


# -- reading ---------------------------------------------------------------------------------------


def parse_domain(
    data: Mapping[str, Any] | bytes | str, where: str, expected_name: str | None = None
) -> Domain:
    """Validate one domain declaration (a mapping, or YAML text); ConfigError naming `where` and the field."""
    raw = data
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    if isinstance(raw, str):
        raw = parse_yaml(raw, where)
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        domain = Domain.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(validation_message(where, exc)) from None
    if expected_name is not None and domain.domain != expected_name:
        raise ConfigError(f"{where}: domain: is {domain.domain!r} but the file is named {expected_name!r}")
    return domain


def load_domain_file(path: Path) -> Domain:
    """Read one `domains/<name>.yaml`."""
    return parse_domain(load_yaml_mapping(path), str(path), path.stem)


def domain_files(directory: Path = DOMAINS_DIR) -> list[Path]:
    """The domain files of `directory`, sorted by name."""
    return sorted(p for p in directory.glob("*.yaml") if not p.name.startswith((".", "_")))


def load_domains(directory: Path = DOMAINS_DIR) -> dict[str, Domain]:
    """Every domain of `directory` by name, checked against each other (see `check_together`)."""
    domains = {d.domain: d for d in (load_domain_file(p) for p in domain_files(directory))}
    check_together(domains, str(directory))
    return domains


def check_together(domains: Mapping[str, Domain], where: str) -> None:
    """What only the whole set can show: inputs exist and form no cycle; topics, tables, marts, jobs,
    DAG ids and secrets are not declared twice (datasets are shared by every domain)."""
    for domain in domains.values():
        for name in domain.inputs:
            if name not in domains:
                raise ConfigError(
                    f"{where}/{domain.domain}.yaml: inputs: no domain {name!r} (known: {', '.join(domains)})"
                )
    _no_cycle(domains, where)
    claims: dict[str, str] = {}

    def claim(kind: str, value: str | None, owner: str) -> None:
        if value is None:
            return
        key = f"{kind} {value!r}"
        if key in claims and claims[key] != owner:
            first, second = sorted((claims[key], owner))
            raise ConfigError(
                f"{where}: {key} is declared by both domains/{first}.yaml and domains/{second}.yaml"
            )
        claims[key] = owner

    for name, domain in sorted(domains.items()):
        claim("topic", domain.event.topic if domain.event else None, name)
        claim("dead-letter topic", domain.dead_letter_topic, name)
        for table in domain.tables():
            claim("table", table, name)
        for job in domain.spark_jobs:
            claim("Spark job", job, name)
        for dag_id in domain.dag_ids():
            claim("DAG", dag_id, name)
        claim("secret", domain.pii_secret, name)
        for suite in domain.gx_suites:
            claim("GX suite", suite, name)


def _no_cycle(domains: Mapping[str, Domain], where: str) -> None:
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise ConfigError(f"{where}/{name}.yaml: inputs form a cycle: {' -> '.join([*path, name])}")
        state[name] = 1
        for dep in domains[name].inputs:
            visit(dep, [*path, name])
        state[name] = 2

    for name in sorted(domains):
        visit(name, [])


def input_order(domains: Mapping[str, Domain]) -> list[str]:
    """Domain names with every domain after its inputs (ties by name)."""
    done: list[str] = []

    def visit(name: str) -> None:
        if name in done:
            return
        for dep in sorted(domains[name].inputs):
            if dep in domains:
                visit(dep)
        done.append(name)

    for name in sorted(domains):
        visit(name)
    return done


# -- one environment's view ------------------------------------------------------------------------


def resolve(env: Environment, domains: Mapping[str, Domain]) -> dict[str, Domain]:
    """The domains deployed to `env`, with its overrides applied, in input order.

    ConfigError (naming the environment file and field) when an override names an unknown domain or
    DAG, when a domain's input is switched off while the domain is on, or when a PII column names a
    policy tag the environment's taxonomy lacks.
    """
    for name, override in env.domains.items():
        if name not in domains:
            known = ", ".join(sorted(domains)) or "none"
            raise ConfigError(f"{env.file}: domains.{name}: no such domain in domains/ (known: {known})")
        for kind in override.dags:
            if kind not in domains[name].dags:
                raise ConfigError(
                    f"{env.file}: domains.{name}.dags.{kind}: domain {name!r} declares no {kind!r} DAG "
                    f"(it declares: {', '.join(domains[name].dags) or 'none'})"
                )
    enabled = {n: d for n, d in domains.items() if n not in env.domains or env.domains[n].enabled}
    out: dict[str, Domain] = {}
    for name in input_order(enabled):
        domain = enabled[name]
        for dep in domain.inputs:
            if dep not in enabled:
                raise ConfigError(
                    f"{env.file}: domains.{dep}.enabled: is false, but domain {name!r} reads it (inputs)"
                )
        known_tags = set(env.policy_tag_names())
        for section, columns in domain.sections().items():
            for column in columns:
                if column.pii is not None and column.pii not in known_tags:
                    raise ConfigError(
                        f"domains/{name}.yaml: {section}.columns.{column.name}.pii: policy tag "
                        f"{column.pii!r} is not in the taxonomy of {env.file} "
                        f"(known: {', '.join(sorted(known_tags))})"
                    )
        out[name] = _apply(env, domain, env.domains.get(name))
    return out


def _apply(env: Environment, domain: Domain, override: DomainOverride | None) -> Domain:
    if override is None:
        return domain
    dags = dict(domain.dags)
    for kind, change in override.dags.items():
        values = {k: v for k, v in change.model_dump().items() if v is not None}
        try:
            dags[kind] = Dag.model_validate({**dags[kind].model_dump(), **values})  # type: ignore[index]
        except ValidationError as exc:
            where = f"{env.file}: domains.{domain.domain}.dags.{kind}"
            raise ConfigError(validation_message(where, exc)) from None
    update: dict[str, Any] = {"dags": dags}
    if override.owner is not None:
        update["owner"] = override.owner
    return domain.model_copy(update=update)


def load_for(env: Environment, directory: Path = DOMAINS_DIR) -> dict[str, Domain]:
    """The domains of `directory` as deployed to `env` (`resolve` after `load_domains`)."""
    return resolve(env, load_domains(directory))


def names(domains: Iterable[Domain]) -> list[str]:
    """Domain names, in the given order."""
    return [d.domain for d in domains]
