"""CKV_ACME_1: the Composer web server (Airflow UI) is not reachable from the whole internet.

Without `config.web_server_network_access_control` Composer lets every IP address reach the UI, and
the provider's own example allows `0.0.0.0/0` and `::/0`. We require the block and refuse any range
wider than a /8 (IPv4) or /32 (IPv6): a range that large is the internet, not an office or a VPN.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from acme_stack import StackCheck, blocks, first
from checkov.common.models.enums import CheckCategories, CheckResult

# The widest range that can still name one organisation's egress.
MIN_PREFIX = {4: 8, 6: 32}


class ComposerWebServerNotPublic(StackCheck):
    """Composer's web server network access control lists only bounded ranges."""

    def __init__(self) -> None:
        super().__init__(
            name="Composer web server is not open to the internet (web_server_network_access_control)",
            id="CKV_ACME_1",
            categories=[CheckCategories.NETWORKING],
            supported_resources=["google_composer_environment"],
        )

    def evaluate(
        self, stack: dict[str, Any], resource_type: str, name: str, resource: dict[str, Any]
    ) -> tuple[CheckResult, list[str]]:
        """Fail without an access list, or with a range that spans the internet."""
        self.evaluated_keys = ["config/web_server_network_access_control/allowed_ip_range"]
        control = first(first(resource.get("config")).get("web_server_network_access_control"))
        if not control:
            return CheckResult.FAILED, [
                "config.web_server_network_access_control is not set: every IP address reaches the Airflow UI"
            ]
        reasons = []
        for allowed in blocks(control.get("allowed_ip_range")):
            value = allowed.get("value")
            try:
                network = ipaddress.ip_network(str(value), strict=False)
            except ValueError:
                reasons.append(f"allowed_ip_range {value!r} is not a literal CIDR range")
                continue
            if network.prefixlen < MIN_PREFIX[network.version]:
                reasons.append(
                    f"allowed_ip_range {value} spans the internet (wider than /{MIN_PREFIX[network.version]})"
                )
        return (CheckResult.FAILED if reasons else CheckResult.PASSED), reasons


check = ComposerWebServerNotPublic()
