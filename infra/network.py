"""The VPC: one custom-mode network, one regional subnet with Private Google Access, Cloud NAT for egress."""

from __future__ import annotations

from cdktn_provider_google.compute_network import ComputeNetwork
from cdktn_provider_google.compute_router import ComputeRouter
from cdktn_provider_google.compute_router_nat import ComputeRouterNat, ComputeRouterNatLogConfig
from cdktn_provider_google.compute_subnetwork import ComputeSubnetwork, ComputeSubnetworkLogConfig
from constructs import Construct

from platform_model.environment import Environment


class Network(Construct):
    """VPC (no auto subnets), the platform subnet and a Cloud Router + NAT.

    Nothing in the platform has a public IP (Composer is private, Dataproc is internal-IP-only), so
    Google APIs are reached through Private Google Access and the rest of the internet (PyPI,
    Maven, for Dataproc initialisation) through Cloud NAT, which logs errors only. Flow logs are on
    for the subnet (sampled), which security reviews ask for.

    Attributes: `vpc`, `subnet`, `router`, `nat`.
    """

    def __init__(self, scope: Construct, id_: str, env: Environment) -> None:
        super().__init__(scope, id_)
        self.vpc = ComputeNetwork(
            self,
            "vpc",
            project=env.project,
            name=env.resource_name("vpc"),
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            description=f"Data platform network ({env.name}).",
        )
        self.subnet = ComputeSubnetwork(
            self,
            "subnet",
            project=env.project,
            name=env.resource_name("subnet"),
            region=env.region,
            network=self.vpc.id,
            ip_cidr_range=env.network.subnet_cidr,
            private_ip_google_access=True,
            log_config=ComputeSubnetworkLogConfig(
                aggregation_interval="INTERVAL_5_MIN", flow_sampling=0.5, metadata="INCLUDE_ALL_METADATA"
            ),
            description="Composer, Dataproc and every other workload of the platform.",
        )
        self.router = ComputeRouter(
            self,
            "router",
            project=env.project,
            name=env.resource_name("router"),
            region=env.region,
            network=self.vpc.id,
        )
        self.nat = ComputeRouterNat(
            self,
            "nat",
            project=env.project,
            name=env.resource_name("nat"),
            region=env.region,
            router=self.router.name,
            nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
            log_config=ComputeRouterNatLogConfig(enable=True, filter="ERRORS_ONLY"),
        )
