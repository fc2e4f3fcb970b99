"""The Cloud Composer 3 environment: private IP, sized by the environment file, run by its own account.

- Private: `enable_private_environment` (Composer 3 networking: the Airflow components reach our VPC
  through the subnet and `composer_cidr`, no public IPs). Builds of PyPI packages stay private too,
  unless there are PyPI packages to install, which then need the internet (through Cloud NAT).
- PyPI packages: `composer/requirements.txt` (what the DAGs need beyond the image, pinned to uv.lock,
  read at synth time; requirements marked `composer-image` are left out, see `infra.packages`) merged
  with the file's `composer.pypi_packages`, the environment file winning on a name in both.
- No public web server: `web_server_network_access_control` admits the platform subnet only (the UI is
  reached from inside the VPC: VPN/Interconnect or an IAP tunnel), never 0.0.0.0/0.
- The `composer` service account runs the workloads; the Composer service agent gets
  `roles/composer.ServiceAgentV2Ext` on it, which Composer 2/3 require for a user-managed account.
- CMEK: the `composer` key when the environment enables CMEK (set at creation, cannot change later).
- The deployer account gets objectAdmin on the environment's own bucket (DAGs, `data/dbt`, `data/gx`).
- Data lineage: `software_config.cloud_data_lineage_integration` follows `lineage.enabled`: the
  environment's OpenLineage provider (preinstalled in the image) reports the supported operators' runs
  to the Data Lineage API as the `composer` account.

Attributes: `environment`, `dag_gcs_prefix` (`gs://<bucket>/dags`), `dag_bucket` (the bucket name),
`pypi_packages` (name -> spec, as installed).
"""

from __future__ import annotations

from cdktn import Fn
from cdktn_provider_google.composer_environment import (
    ComposerEnvironment,
    ComposerEnvironmentConfigA,
    ComposerEnvironmentConfigEncryptionConfig,
    ComposerEnvironmentConfigNodeConfig,
    ComposerEnvironmentConfigSoftwareConfig,
    ComposerEnvironmentConfigSoftwareConfigCloudDataLineageIntegration,
    ComposerEnvironmentConfigWebServerNetworkAccessControl,
    ComposerEnvironmentConfigWebServerNetworkAccessControlAllowedIpRange,
    ComposerEnvironmentConfigWorkloadsConfig,
    ComposerEnvironmentConfigWorkloadsConfigDagProcessor,
    ComposerEnvironmentConfigWorkloadsConfigScheduler,
    ComposerEnvironmentConfigWorkloadsConfigTriggerer,
    ComposerEnvironmentConfigWorkloadsConfigWebServer,
    ComposerEnvironmentConfigWorkloadsConfigWorker,
)
from cdktn_provider_google.service_account_iam_member import ServiceAccountIamMember
from cdktn_provider_google.storage_bucket_iam_member import StorageBucketIamMember
from constructs import Construct

from infra.cmek import Cmek
from infra.iam import Identities
from infra.network import Network
from infra.packages import composer_requirements, merge_packages
from infra.project import ProjectContext
from platform_model.environment import Environment


def pypi_packages(env: Environment) -> dict[str, str]:
    """composer/requirements.txt merged with the file's `composer.pypi_packages` (the file wins)."""
    return merge_packages(composer_requirements(), env.composer.pypi_packages)


def workloads(env: Environment) -> ComposerEnvironmentConfigWorkloadsConfig:
    """Composer 3 workloads (scheduler, triggerer, DAG processor, web server, workers) from the file."""
    w = env.composer.workloads
    return ComposerEnvironmentConfigWorkloadsConfig(
        scheduler=ComposerEnvironmentConfigWorkloadsConfigScheduler(
            cpu=w.scheduler.cpu,
            memory_gb=w.scheduler.memory_gb,
            storage_gb=w.scheduler.storage_gb,
            count=w.scheduler.count or 1,
        ),
        triggerer=ComposerEnvironmentConfigWorkloadsConfigTriggerer(
            cpu=w.triggerer.cpu, memory_gb=w.triggerer.memory_gb, count=w.triggerer.count or 1
        ),
        dag_processor=ComposerEnvironmentConfigWorkloadsConfigDagProcessor(
            cpu=w.dag_processor.cpu,
            memory_gb=w.dag_processor.memory_gb,
            storage_gb=w.dag_processor.storage_gb,
            count=w.dag_processor.count or 1,
        ),
        web_server=ComposerEnvironmentConfigWorkloadsConfigWebServer(
            cpu=w.web_server.cpu, memory_gb=w.web_server.memory_gb, storage_gb=w.web_server.storage_gb
        ),
        worker=ComposerEnvironmentConfigWorkloadsConfigWorker(
            cpu=w.worker.cpu,
            memory_gb=w.worker.memory_gb,
            storage_gb=w.worker.storage_gb,
            min_count=w.worker.min_count or 1,
            max_count=w.worker.max_count or w.worker.min_count or 1,
        ),
    )


class Composer(Construct):
    """The Composer 3 environment `<prefix>-composer` and the agent grant it needs."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        env: Environment,
        network: Network,
        identities: Identities,
        project: ProjectContext,
        cmek: Cmek | None,
    ) -> None:
        super().__init__(scope, id_)
        agent_grant = ServiceAccountIamMember(
            self,
            "agent-v2ext",
            service_account_id=identities.accounts["composer"].name,
            role="roles/composer.ServiceAgentV2Ext",
            member=project.composer_agent,
        )
        depends = [agent_grant, *(cmek.grants["composer"] if cmek else [])]
        self.pypi_packages = pypi_packages(env)
        self.environment = ComposerEnvironment(
            self,
            "environment",
            project=env.project,
            region=env.region,
            name=env.composer_environment_name(),
            labels=env.labels.as_dict(),
            config=ComposerEnvironmentConfigA(
                environment_size=env.composer.environment_size,
                enable_private_environment=True,
                enable_private_builds_only=not self.pypi_packages,
                software_config=ComposerEnvironmentConfigSoftwareConfig(
                    image_version=env.composer.image_version,
                    pypi_packages=self.pypi_packages or None,
                    airflow_config_overrides=dict(env.composer.airflow_config_overrides) or None,
                    # Written when off too: the provider keeps the server's value when the block is
                    # absent, and Composer switches lineage on by itself when the project has the API.
                    cloud_data_lineage_integration=ComposerEnvironmentConfigSoftwareConfigCloudDataLineageIntegration(
                        enabled=env.lineage.enabled
                    ),
                ),
                workloads_config=workloads(env),
                node_config=ComposerEnvironmentConfigNodeConfig(
                    network=network.vpc.id,
                    subnetwork=network.subnet.id,
                    service_account=identities.email("composer"),
                    composer_internal_ipv4_cidr_block=env.network.composer_cidr,
                ),
                web_server_network_access_control=ComposerEnvironmentConfigWebServerNetworkAccessControl(
                    allowed_ip_range=[
                        ComposerEnvironmentConfigWebServerNetworkAccessControlAllowedIpRange(
                            value=env.network.subnet_cidr, description="Platform subnet (private access only)"
                        )
                    ]
                ),
                encryption_config=(
                    ComposerEnvironmentConfigEncryptionConfig(kms_key_name=cmek.key_id("composer"))
                    if cmek
                    else None
                ),
            ),
            depends_on=depends,
        )
        self.dag_gcs_prefix: str = self.environment.config.dag_gcs_prefix
        # gs://<bucket>/dags -> <bucket>
        self.dag_bucket: str = Fn.element(Fn.split("/", self.dag_gcs_prefix), 2)
        # The deployer promotes DAGs, dbt and GX files into the environment's bucket.
        StorageBucketIamMember(
            self,
            "dag-bucket-deployer",
            bucket=self.dag_bucket,
            role="roles/storage.objectAdmin",
            member=identities.members["deployer"],
        )
