"""Network: custom-mode VPC, subnet with Private Google Access, router and NAT."""

from __future__ import annotations

from platform_model.environment import Environment
from tests.infra.conftest import Stack, resources


def test_vpc_has_no_auto_subnets(stacks: dict[str, Stack], envs: dict[str, Environment]) -> None:
    for name, stack in stacks.items():
        vpcs = resources(stack, "google_compute_network")
        assert list(vpcs) == ["network/vpc"]
        vpc = vpcs["network/vpc"]
        assert vpc["auto_create_subnetworks"] is False
        assert vpc["name"] == envs[name].resource_name("vpc")


def test_subnet_private_google_access_and_range(
    stacks: dict[str, Stack], envs: dict[str, Environment]
) -> None:
    for name, stack in stacks.items():
        subnets = resources(stack, "google_compute_subnetwork")
        assert list(subnets) == ["network/subnet"]
        subnet = subnets["network/subnet"]
        assert subnet["private_ip_google_access"] is True
        assert subnet["ip_cidr_range"] == envs[name].network.subnet_cidr
        assert subnet["region"] == envs[name].region
        assert subnet["log_config"]["flow_sampling"] > 0
        assert "google_compute_network.network_vpc" in subnet["network"]


def test_nat_for_egress(stacks: dict[str, Stack]) -> None:
    for stack in stacks.values():
        assert len(resources(stack, "google_compute_router")) == 1
        nats = resources(stack, "google_compute_router_nat")
        assert len(nats) == 1
        assert nats["network/nat"]["source_subnetwork_ip_ranges_to_nat"] == "ALL_SUBNETWORKS_ALL_IP_RANGES"
