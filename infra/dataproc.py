"""The Dataproc cluster the Spark jobs run on, and the autoscaling policy that sizes it.

- Sizes from the environment file: machine types, boot disk, image, autoscaling bounds (primary workers
  start at `primary_min`; secondary workers are left to the policy).
- No public IPs: `internal_ip_only`, on the platform subnet (Private Google Access, NAT for egress).
  Custom VPCs have no implicit firewall rule, and Dataproc nodes must talk to each other: one ingress
  rule admits traffic between VMs running as the `dataproc` account, and nothing else.
- Shielded VMs (secure boot, vTPM, integrity monitoring); component gateway off (no web UIs exposed).
- Python packages the jobs import beyond the image (`JOB_PACKAGES`: `google-cloud-secret-manager`, with
  which the domains' jobs read their PII hashing keys) are installed on every node at cluster creation by
  the `dataproc:pip.packages` property, pinned to the versions of `uv.lock` (what the tests ran). The
  image's conda environment is not guaranteed to carry them across image versions, and the job imports
  the client only on Dataproc. pip reaches PyPI through Cloud NAT (the nodes have no public IP).
- Spark data lineage (`dataproc:dataproc.lineage.enabled`) follows `lineage.enabled`: the jobs'
  OpenLineage listener reports their BigQuery and GCS reads and writes to the Data Lineage API as the
  `dataproc` account. A cluster property: changing it recreates the cluster.
- `idle_delete_ttl` when the file sets it (dev/staging): the cluster deletes itself when idle and the
  next `cdktf deploy` recreates it. CMEK for the persistent disks when the environment enables CMEK.

Attributes: `policy`, `cluster`, `firewall`, `cluster_name`.
"""

from __future__ import annotations

from cdktn_provider_google.compute_firewall import ComputeFirewall, ComputeFirewallAllow
from cdktn_provider_google.dataproc_autoscaling_policy import (
    DataprocAutoscalingPolicy,
    DataprocAutoscalingPolicyBasicAlgorithm,
    DataprocAutoscalingPolicyBasicAlgorithmYarnConfig,
    DataprocAutoscalingPolicySecondaryWorkerConfig,
    DataprocAutoscalingPolicyWorkerConfig,
)
from cdktn_provider_google.dataproc_cluster import (
    DataprocCluster,
    DataprocClusterClusterConfig,
    DataprocClusterClusterConfigAutoscalingConfig,
    DataprocClusterClusterConfigEncryptionConfig,
    DataprocClusterClusterConfigEndpointConfig,
    DataprocClusterClusterConfigGceClusterConfig,
    DataprocClusterClusterConfigGceClusterConfigShieldedInstanceConfig,
    DataprocClusterClusterConfigLifecycleConfig,
    DataprocClusterClusterConfigMasterConfig,
    DataprocClusterClusterConfigMasterConfigDiskConfig,
    DataprocClusterClusterConfigSoftwareConfig,
    DataprocClusterClusterConfigWorkerConfig,
    DataprocClusterClusterConfigWorkerConfigDiskConfig,
)
from constructs import Construct

from infra.cmek import Cmek
from infra.iam import Identities
from infra.network import Network
from infra.packages import locked_version
from infra.storage import Storage
from platform_model.environment import Environment

NETWORK_TAG = "dataproc"
JOB_PACKAGES = ("google-cloud-secret-manager",)
"""PyPI packages the Spark jobs import that the Dataproc image may lack (versions from uv.lock)."""
PIP_PROPERTY = "dataproc:pip.packages"
LINEAGE_PROPERTY = "dataproc:dataproc.lineage.enabled"
"""Spark data lineage for every job on the cluster (images 2.1.22+, 2.2.50+, 2.3.1+; set at creation)."""


def pip_packages() -> str:
    """The `dataproc:pip.packages` value: `JOB_PACKAGES` pinned to uv.lock, comma-separated."""
    return ",".join(f"{name}=={locked_version(name)}" for name in JOB_PACKAGES)


def cluster_properties(env: Environment) -> dict[str, str]:
    """The cluster properties: the jobs' pip packages, and Spark lineage on or off as the file says.

    Lineage is written when off too: the project-level setting (and Dataproc once the Data Lineage API
    is on) would otherwise decide for the cluster.
    """
    return {PIP_PROPERTY: pip_packages(), LINEAGE_PROPERTY: "true" if env.lineage.enabled else "false"}


BOOT_DISK_TYPE = "pd-balanced"


class Dataproc(Construct):
    """Autoscaling policy `<prefix>-etl-autoscaling` and cluster `<prefix>-etl` that uses it."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        env: Environment,
        network: Network,
        identities: Identities,
        storage: Storage,
        cmek: Cmek | None,
    ) -> None:
        super().__init__(scope, id_)
        spec = env.dataproc
        bounds = spec.autoscaling
        self.cluster_name = env.dataproc_cluster_name()
        self.policy = DataprocAutoscalingPolicy(
            self,
            "autoscaling",
            project=env.project,
            location=env.region,
            policy_id=env.resource_name("etl-autoscaling"),
            worker_config=DataprocAutoscalingPolicyWorkerConfig(
                min_instances=bounds.primary_min, max_instances=bounds.primary_max
            ),
            secondary_worker_config=DataprocAutoscalingPolicySecondaryWorkerConfig(
                min_instances=bounds.secondary_min, max_instances=bounds.secondary_max
            ),
            basic_algorithm=DataprocAutoscalingPolicyBasicAlgorithm(
                cooldown_period=bounds.cooldown,
                yarn_config=DataprocAutoscalingPolicyBasicAlgorithmYarnConfig(
                    graceful_decommission_timeout=bounds.graceful_decommission_timeout,
                    scale_up_factor=bounds.scale_up_factor,
                    scale_down_factor=bounds.scale_down_factor,
                ),
            ),
        )
        dataproc_email = identities.email("dataproc")
        self.firewall = ComputeFirewall(
            self,
            "internal",
            project=env.project,
            name=env.resource_name("dataproc-internal"),
            network=network.vpc.id,
            direction="INGRESS",
            description="Traffic between the Dataproc cluster's own VMs.",
            allow=[
                ComputeFirewallAllow(protocol="tcp", ports=["0-65535"]),
                ComputeFirewallAllow(protocol="udp", ports=["0-65535"]),
                ComputeFirewallAllow(protocol="icmp"),
            ],
            source_service_accounts=[dataproc_email],
            target_service_accounts=[dataproc_email],
        )
        self.cluster = DataprocCluster(
            self,
            "cluster",
            project=env.project,
            region=env.region,
            name=self.cluster_name,
            labels=env.labels.as_dict(),
            cluster_config=DataprocClusterClusterConfig(
                staging_bucket=storage.name("dataproc_staging"),
                temp_bucket=storage.name("dataproc_temp"),
                gce_cluster_config=DataprocClusterClusterConfigGceClusterConfig(
                    subnetwork=network.subnet.id,
                    internal_ip_only=True,
                    service_account=dataproc_email,
                    service_account_scopes=["https://www.googleapis.com/auth/cloud-platform"],
                    tags=[NETWORK_TAG],
                    metadata={"block-project-ssh-keys": "true"},
                    shielded_instance_config=DataprocClusterClusterConfigGceClusterConfigShieldedInstanceConfig(
                        enable_secure_boot=True, enable_vtpm=True, enable_integrity_monitoring=True
                    ),
                ),
                master_config=DataprocClusterClusterConfigMasterConfig(
                    num_instances=1,
                    machine_type=spec.master_machine_type,
                    disk_config=DataprocClusterClusterConfigMasterConfigDiskConfig(
                        boot_disk_type=BOOT_DISK_TYPE, boot_disk_size_gb=spec.boot_disk_gb
                    ),
                ),
                worker_config=DataprocClusterClusterConfigWorkerConfig(
                    num_instances=bounds.primary_min,
                    machine_type=spec.worker_machine_type,
                    disk_config=DataprocClusterClusterConfigWorkerConfigDiskConfig(
                        boot_disk_type=BOOT_DISK_TYPE, boot_disk_size_gb=spec.boot_disk_gb
                    ),
                ),
                software_config=DataprocClusterClusterConfigSoftwareConfig(
                    image_version=spec.image_version, override_properties=cluster_properties(env)
                ),
                autoscaling_config=DataprocClusterClusterConfigAutoscalingConfig(policy_uri=self.policy.name),
                endpoint_config=DataprocClusterClusterConfigEndpointConfig(enable_http_port_access=False),
                lifecycle_config=(
                    DataprocClusterClusterConfigLifecycleConfig(idle_delete_ttl=spec.idle_delete_ttl)
                    if spec.idle_delete_ttl
                    else None
                ),
                encryption_config=(
                    DataprocClusterClusterConfigEncryptionConfig(kms_key_name=cmek.key_id("dataproc"))
                    if cmek
                    else None
                ),
            ),
            depends_on=[self.firewall, *(cmek.grants["dataproc"] if cmek else [])],
        )
