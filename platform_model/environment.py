"""The one typed model of `environments/*.yaml`.

Every layer reads an environment through this module: the infra stacks, the deployer and the
runtime config rendered beside the DAGs. Nothing here knows about a particular environment or domain:
what differs between dev, staging and prod is data in the YAML files, never a branch in code. The
domains come from `domains/`; an environment file only overrides them (`domains:`), so a new domain
appears in every environment without an edit here or there.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from platform_model import REPO_ROOT
from platform_model.composer_builds import require_build
from platform_model.errors import ConfigError
from platform_model.yamlfile import MAX_YAML_BYTES, load_yaml_mapping, validation_message

ENVIRONMENTS_DIR = REPO_ROOT / "environments"
MAX_ENV_FILE_BYTES = MAX_YAML_BYTES

Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,28}[a-z0-9]$", description="lower-case name")]
LabelValue = Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,63}$")]
BucketName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")]
DatasetId = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,1023}$")]
Member = Annotated[
    str,
    Field(
        pattern=r"^(user|group|serviceAccount|domain|principalSet|principal):\S+$", description="IAM member"
    ),
]

# Dataproc image line -> (Spark line, Java release) the image runs. The pipeline's pyspark pin and
# the jar's `javac --release` are checked against this table.
DATAPROC_IMAGES: dict[str, tuple[str, int]] = {
    "2.2": ("3.5", 11),
    "2.3": ("3.5", 11),
}


def slug(display_name: str) -> str:
    """`PII Email` -> `pii-email`."""
    return re.sub(r"[^a-z0-9]+", "-", display_name.lower()).strip("-")


class Strict(BaseModel):
    """Base for every section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Labels(Strict):
    """Labels put on every resource that takes labels."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    env: LabelValue = Field(description="Environment label, e.g. `prod`.")
    owner: LabelValue = Field(description="Team that owns the resources.")
    cost_center: LabelValue = Field(alias="cost-center", description="Cost center billed for the resources.")

    def as_dict(self) -> dict[str, str]:
        """All labels as GCP expects them (`cost-center` spelled with a dash)."""
        out = {"env": self.env, "owner": self.owner, "cost-center": self.cost_center}
        out.update({k: str(v) for k, v in (self.model_extra or {}).items()})
        return out

    @model_validator(mode="after")
    def _extra_labels_valid(self) -> Labels:
        for key, value in (self.model_extra or {}).items():
            if not re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", key):
                raise ValueError(f"label key {key!r} is not a valid GCP label key")
            if not isinstance(value, str) or not re.fullmatch(r"[a-z0-9_-]{0,63}", value):
                raise ValueError(f"label {key}={value!r} is not a valid GCP label value")
        return self


def _cidr(value: str) -> str:
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid CIDR range ({exc})") from None
    if net.version != 4:
        raise ValueError(f"{value!r} must be an IPv4 range")
    return value


Cidr = Annotated[str, Field(description="IPv4 CIDR range, e.g. 10.10.0.0/20")]


class Network(Strict):
    """The VPC and its ranges."""

    subnet_cidr: Cidr = Field(description="Primary range of the platform subnet (Private Google Access on).")
    composer_cidr: Cidr = Field(description="Range Composer 3 uses for its internal components.")
    dataproc_cidr: Cidr | None = Field(
        default=None, description="Optional secondary range reserved for Dataproc; defaults to the subnet."
    )

    _check_subnet = field_validator("subnet_cidr", "composer_cidr", "dataproc_cidr")(
        lambda v: v if v is None else _cidr(v)
    )

    @model_validator(mode="after")
    def _no_overlap(self) -> Network:
        ranges = [r for r in (self.subnet_cidr, self.composer_cidr, self.dataproc_cidr) if r]
        nets = [ipaddress.ip_network(r) for r in ranges]
        for i, a in enumerate(nets):
            for b in nets[i + 1 :]:
                if a.overlaps(b):
                    raise ValueError(f"ranges {a} and {b} overlap")
        return self


class Workload(Strict):
    """CPU, memory and storage of one Composer workload."""

    cpu: float = Field(gt=0, le=32, description="vCPUs.")
    memory_gb: float = Field(gt=0, le=256, description="Memory in GB.")
    storage_gb: float = Field(gt=0, le=1024, description="Storage in GB.")
    count: int | None = Field(default=None, ge=1, le=10, description="Replicas (scheduler, triggerer).")
    min_count: int | None = Field(default=None, ge=1, le=100, description="Autoscaling minimum (workers).")
    max_count: int | None = Field(default=None, ge=1, le=100, description="Autoscaling maximum (workers).")

    @model_validator(mode="after")
    def _bounds(self) -> Workload:
        if self.min_count and self.max_count and self.min_count > self.max_count:
            raise ValueError("min_count is larger than max_count")
        return self


class ComposerWorkloads(Strict):
    """Sizes of the Composer 3 workloads."""

    scheduler: Workload
    web_server: Workload
    worker: Workload
    triggerer: Workload
    dag_processor: Workload


class Composer(Strict):
    """The Cloud Composer 3 environment."""

    image_version: str = Field(
        pattern=r"^composer-3-airflow-\d+\.\d+\.\d+(-build\.\d+)?$",
        description="Composer 3 image, e.g. composer-3-airflow-3.1.0.",
    )
    environment_size: Literal["ENVIRONMENT_SIZE_SMALL", "ENVIRONMENT_SIZE_MEDIUM", "ENVIRONMENT_SIZE_LARGE"]
    workloads: ComposerWorkloads
    pypi_packages: dict[str, str] = Field(
        default_factory=dict, description="Extra PyPI packages: name -> spec."
    )
    dag_bucket: BucketName | None = Field(
        default=None,
        description="The DAG bucket, when known; else the deployer resolves it through the Composer API.",
    )
    airflow_config_overrides: dict[str, str] = Field(default_factory=dict)

    @field_validator("image_version")
    @classmethod
    def _known_build(cls, value: str) -> str:
        # The committed table of Composer builds (platform_model/composer_builds.json), not the pattern
        # alone: a build that does not exist is otherwise found only by a failed environment update.
        require_build(value)
        return value


class Autoscaling(Strict):
    """Bounds of the Dataproc autoscaling policy."""

    primary_min: int = Field(ge=2, le=1000, description="Primary workers, minimum (at least 2).")
    primary_max: int = Field(ge=2, le=1000)
    secondary_min: int = Field(default=0, ge=0, le=1000, description="Secondary (preemptible) workers.")
    secondary_max: int = Field(default=0, ge=0, le=1000)
    cooldown: str = Field(default="120s", pattern=r"^\d+s$")
    scale_up_factor: float = Field(default=0.5, ge=0, le=1)
    scale_down_factor: float = Field(default=1.0, ge=0, le=1)
    graceful_decommission_timeout: str = Field(default="3600s", pattern=r"^\d+s$")

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.primary_min > self.primary_max:
            raise ValueError("primary_min is larger than primary_max")
        if self.secondary_min > self.secondary_max:
            raise ValueError("secondary_min is larger than secondary_max")
        return self


class Connector(Strict):
    """A connector jar referenced by URI and version (never vendored)."""

    uri: str = Field(pattern=r"^gs://\S+\.jar$")
    version: str


class Dataproc(Strict):
    """The Dataproc cluster, its image and its autoscaling policy."""

    image_version: str = Field(description="Dataproc image, e.g. 2.3-debian12.")
    master_machine_type: str
    worker_machine_type: str
    boot_disk_gb: int = Field(default=100, ge=30, le=4000)
    autoscaling: Autoscaling
    connectors: dict[str, Connector] = Field(default_factory=dict, description="Connector jars by name.")
    idle_delete_ttl: str | None = Field(default=None, pattern=r"^\d+s$")

    @field_validator("image_version")
    @classmethod
    def _known_image(cls, value: str) -> str:
        line = value.split("-")[0]
        if line not in DATAPROC_IMAGES:
            known = ", ".join(sorted(DATAPROC_IMAGES))
            raise ValueError(f"unknown Dataproc image line {line!r} (known: {known})")
        return value

    @property
    def spark_line(self) -> str:
        """The Spark line (e.g. `3.5`) of this image."""
        return DATAPROC_IMAGES[self.image_version.split("-")[0]][0]

    @property
    def java_release(self) -> int:
        """The Java release (for `javac --release`) of this image."""
        return DATAPROC_IMAGES[self.image_version.split("-")[0]][1]


class Dataset(Strict):
    """One BigQuery dataset."""

    id: DatasetId = Field(description="Dataset id (unique in the project).")
    description: str = ""
    readers: list[Member] = Field(default_factory=list, description="Granted roles/bigquery.dataViewer.")
    default_table_expiration_days: int | None = Field(default=None, ge=1)
    holds_pii: bool = Field(default=False, description="Whether columns in it carry PII policy tags.")


class PolicyTag(Strict):
    """One PII class in the taxonomy."""

    display_name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9 _-]{0,199}$")
    description: str = ""
    masking: Literal[
        "SHA256", "ALWAYS_NULL", "DEFAULT_MASKING_VALUE", "LAST_FOUR_CHARACTERS", "EMAIL_MASK"
    ] = Field(default="SHA256", description="How masked readers see the column.")


class Taxonomy(Strict):
    """The Data Catalog taxonomy holding the PII policy tags."""

    display_name: str
    policy_tags: list[PolicyTag] = Field(min_length=1)
    fine_grained_readers: list[Member] = Field(
        default_factory=list,
        description="Who reads PII in clear (roles/datacatalog.categoryFineGrainedReader).",
    )
    masked_readers: list[Member] = Field(
        default_factory=list, description="Who reads PII masked (roles/bigquerydatapolicy.maskedReader)."
    )

    @model_validator(mode="after")
    def _unique(self) -> Taxonomy:
        names = [t.display_name for t in self.policy_tags]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"duplicate policy tag display names: {sorted(dupes)}")
        return self


class BigQuery(Strict):
    """BigQuery datasets (one per layer, shared by every domain) and the PII taxonomy."""

    location: str = Field(description="Multi-region or region, e.g. EU.")
    datasets: dict[Literal["raw", "staging", "marts"], Dataset]
    taxonomy: Taxonomy

    @field_validator("datasets")
    @classmethod
    def _all_layers(cls, value: dict[str, Dataset]) -> dict[str, Dataset]:
        missing = {"raw", "staging", "marts"} - set(value)
        if missing:
            raise ValueError(f"missing datasets: {sorted(missing)}")
        return value


class PubSub(Strict):
    """How this environment runs every domain's topic and subscription (the names come from the domains)."""

    message_retention: str = Field(
        default="604800s", pattern=r"^\d+s$", description="How long a topic keeps messages."
    )
    max_delivery_attempts: int = Field(
        default=5, ge=5, le=100, description="Deliveries before a message goes to the dead-letter topic."
    )
    ack_deadline_seconds: int = Field(default=60, ge=10, le=600)


class Lifecycle(Strict):
    """Object lifecycle of a bucket."""

    nearline_after_days: int | None = Field(default=None, ge=1)
    delete_noncurrent_after_days: int | None = Field(default=None, ge=1)
    delete_after_days: int | None = Field(default=None, ge=1)


class Bucket(Strict):
    """A GCS bucket."""

    name: BucketName
    versioning: bool = True
    lifecycle: Lifecycle = Field(default_factory=Lifecycle)


class Buckets(Strict):
    """The platform's buckets."""

    artifacts: Bucket = Field(
        description="Release artifacts promoted into the environment and deployer state."
    )
    dataproc_staging: Bucket
    dataproc_temp: Bucket
    releases: Bucket | None = Field(
        default=None,
        description="Set in the one environment whose stack creates the shared release store bucket.",
    )


class Cmek(Strict):
    """Customer-managed encryption keys."""

    enabled: bool
    rotation_period: str = Field(default="7776000s", pattern=r"^\d+s$")


class State(Strict):
    """Where terraform keeps this environment's state (GCS backend)."""

    bucket: BucketName
    prefix: str = Field(default="terraform/state", pattern=r"^[A-Za-z0-9._/-]+$")


class Promotion(Strict):
    """How releases reach this environment."""

    release_store: BucketName = Field(
        description="Bucket holding published releases, shared by every environment."
    )
    requires_approval: bool
    approval_ttl_hours: int = Field(default=24, ge=1, le=720)
    lock_ttl_seconds: int = Field(default=1800, ge=30, le=86400)
    approvers_group: Member | None = Field(
        default=None, description="IAM group granted write access to the approvals prefix (infra)."
    )
    approvers: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9._@+:-]{1,128}$")]] = Field(
        default_factory=list,
        description=(
            "Who may grant approvals, as the deployer identifies them: a Google account or service account "
            "e-mail, `github:<login>` for a reviewer of the GitHub deployment, or a local `--as` name. "
            "The deployer refuses (and audits) a grant by anyone else."
        ),
    )
    deployers: list[Member] = Field(default_factory=list, description="Who may promote (besides CI).")

    @model_validator(mode="after")
    def _approvers(self) -> Promotion:
        if self.requires_approval and not self.approvers_group:
            raise ValueError("requires_approval is true but approvers_group is not set")
        if self.requires_approval and not self.approvers:
            raise ValueError("requires_approval is true but approvers (who may grant) is empty")
        return self


class GitHub(Strict):
    """The repository CI authenticates from (Workload Identity Federation)."""

    repository: str = Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    repository_id: str = Field(pattern=r"^\d+$")
    ref: str = Field(default="refs/heads/main", pattern=r"^refs/\S+$")
    environment: str | None = Field(default=None, description="GitHub environment allowed to deploy here.")


class Thresholds(Strict):
    """Alert thresholds."""

    pubsub_oldest_unacked_seconds: int = Field(default=900, ge=60)
    dead_letter_messages: int = Field(default=0, ge=0)
    alert_auto_close_seconds: int = Field(default=86400, ge=1800)


class Monitoring(Strict):
    """Alerting and logging."""

    notification_emails: list[str] = Field(default_factory=list)
    webhook_secret: str | None = Field(
        default=None,
        pattern=r"^projects/[^/]+/secrets/[^/]+(/versions/\S+)?$",
        description="Secret Manager secret holding the Slack/PagerDuty webhook URL (never the URL itself).",
    )
    log_retention_days: int = Field(default=30, ge=1, le=3650)
    thresholds: Thresholds = Field(default_factory=Thresholds)


class Lineage(Strict):
    """Data lineage (Dataplex): what the stack turns on so the BigQuery console's Lineage tab fills."""

    enabled: bool = Field(
        default=True,
        description=(
            "Enable the Data Lineage API, Composer's cloud_data_lineage_integration and Dataproc's Spark "
            "lineage (with the IAM they need)."
        ),
    )


class DagOverride(Strict):
    """What one environment changes of one of a domain's DAGs."""

    schedule: str | None = Field(default=None, description="Cron schedule replacing the declared one.")
    retries: int | None = Field(default=None, ge=0, le=10, description="Task retries.")
    freshness_target_seconds: int | None = Field(
        default=None, ge=60, description="Freshness DAG: the largest acceptable lag of the newest raw event."
    )
    paused: bool | None = Field(default=None, description="Whether the DAG starts paused.")


class DomainOverride(Strict):
    """What one environment changes of one domain; a domain not named here runs as declared."""

    enabled: bool = Field(default=True, description="False: the domain is not deployed to this environment.")
    owner: LabelValue | None = Field(default=None, description="Owner replacing the declared one.")
    dags: dict[str, DagOverride] = Field(
        default_factory=dict, description="DAG kind (daily, freshness) -> what changes."
    )


class Environment(Strict):
    """One environment: everything that differs between dev, staging, prod and local."""

    name: Name = Field(description="Environment name; equals the file name and the cdktf stack name.")
    platform: Literal["gcp", "local"] = Field(
        description="`gcp` for a real project (has an infra stack); `local` runs against the GCS emulator."
    )
    project: str = Field(pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$", description="Google Cloud project id.")
    region: str = Field(pattern=r"^[a-z]+-[a-z]+\d$", description="Region of Composer, Dataproc, the subnet.")
    prefix: Name = Field(description="Prefix of every resource name.")
    labels: Labels
    network: Network
    composer: Composer
    dataproc: Dataproc
    bigquery: BigQuery
    pubsub: PubSub = Field(default_factory=PubSub)
    buckets: Buckets
    cmek: Cmek
    state: State
    promotion: Promotion
    github: GitHub
    monitoring: Monitoring = Field(default_factory=Monitoring)
    lineage: Lineage = Field(default_factory=Lineage)
    domains: dict[str, DomainOverride] = Field(
        default_factory=dict,
        description="Per-domain overrides; every domain of domains/ is deployed with its defaults otherwise.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Environment:
        if self.labels.env != self.name:
            raise ValueError(f"labels.env is {self.labels.env!r} but the environment is {self.name!r}")
        return self

    @property
    def file(self) -> str:
        """The file this environment is read from, as messages name it."""
        return f"environments/{self.name}.yaml"

    def resource_name(self, logical: str) -> str:
        """Deterministic resource name: `<prefix>-<logical>`."""
        return f"{self.prefix}-{logical}"

    def composer_environment_name(self) -> str:
        """Name of the Cloud Composer environment: infra creates it, the deployer looks it up by it."""
        return self.resource_name("composer")

    def dataproc_cluster_name(self) -> str:
        """Name of the Dataproc cluster: infra creates it, the runtime config points the DAGs at it."""
        return self.resource_name("etl")

    def policy_tag_names(self) -> list[str]:
        """Display names of the PII policy tags."""
        return [t.display_name for t in self.bigquery.taxonomy.policy_tags]

    def taxonomy_parent(self) -> str:
        """Where the taxonomy lives: the BigQuery location (policy tags share the datasets' location)."""
        return f"projects/{self.project}/locations/{self.bigquery.location.lower()}"

    def local_policy_tag_ids(self) -> dict[str, str]:
        """Deterministic policy-tag ids by display name, for the local platform (no Data Catalog):
        `projects/<project>/locations/<location>/taxonomies/local/policyTags/<slug>`."""
        base = f"{self.taxonomy_parent()}/taxonomies/local/policyTags"
        return {name: f"{base}/{slug(name)}" for name in self.policy_tag_names()}


def load_environment_file(path: Path) -> Environment:
    """Parse and validate one environment file; raise ConfigError with file, field and problem."""
    data = load_yaml_mapping(path)
    try:
        env = Environment.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_message(str(path), exc)) from None
    if env.name != path.stem:
        raise ConfigError(f"{path}: name: is {env.name!r} but the file is named {path.stem!r}")
    return env


def environment_names(directory: Path = ENVIRONMENTS_DIR) -> list[str]:
    """Names of the environments defined in `directory`."""
    return sorted(p.stem for p in directory.glob("*.yaml"))


def load_environment(name: str, directory: Path = ENVIRONMENTS_DIR) -> Environment:
    """Load the environment called `name` from `directory`."""
    path = directory / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(environment_names(directory)) or "none"
        raise ConfigError(f"unknown environment {name!r}: no {path} (known: {known})")
    return load_environment_file(path)


def load_all(directory: Path = ENVIRONMENTS_DIR) -> dict[str, Environment]:
    """Every environment in `directory`, by name."""
    return {name: load_environment(name, directory) for name in environment_names(directory)}


def json_schema() -> dict[str, Any]:
    """The JSON Schema of an environment file (for editors and the env file reference)."""
    schema = Environment.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "environment.schema.json"
    return schema
