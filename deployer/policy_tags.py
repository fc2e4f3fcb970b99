"""Policy-tag ids by display name, rendered into the runtime config as the dbt var `policy_tags`.

On the local platform the ids are deterministic (`Environment.local_policy_tag_ids`). On GCP they come
from the Data Catalog API: the taxonomy with the environment's display name in the BigQuery location,
then its policy tags. `DATACATALOG_API_ENDPOINT` (host:port) points the client at a plaintext gRPC
server for tests (the installed client has no REST transport for this service).
"""

from __future__ import annotations

import os
from typing import Any

from platform_model.environment import Environment
from platform_model.errors import ConfigError

ENDPOINT_ENV = "DATACATALOG_API_ENDPOINT"


def _client(credentials: Any) -> Any:
    from google.cloud.datacatalog_v1 import PolicyTagManagerClient

    endpoint = os.environ.get(ENDPOINT_ENV)
    if not endpoint:
        return PolicyTagManagerClient(credentials=credentials)
    import grpc  # type: ignore[import-untyped]
    from google.cloud.datacatalog_v1.services.policy_tag_manager.transports import (
        PolicyTagManagerGrpcTransport,
    )

    return PolicyTagManagerClient(
        transport=PolicyTagManagerGrpcTransport(channel=grpc.insecure_channel(endpoint))
    )


def resolve(env: Environment, credentials: Any = None) -> dict[str, str]:
    """Display name -> policy tag id for every tag of the environment's taxonomy."""
    if env.platform == "local" and not os.environ.get(ENDPOINT_ENV):
        return env.local_policy_tag_ids()
    from google.api_core import exceptions as gexc

    client = _client(credentials)
    parent = env.taxonomy_parent()
    wanted = env.bigquery.taxonomy.display_name
    try:
        taxonomy = next(
            (t for t in client.list_taxonomies(parent=parent, timeout=30) if t.display_name == wanted), None
        )
        if taxonomy is None:
            raise ConfigError(
                f"taxonomy {wanted!r} not found in {parent} (deploy the infra first: cdktf deploy {env.name})"
            )
        found = {t.display_name: t.name for t in client.list_policy_tags(parent=taxonomy.name, timeout=30)}
    except gexc.NotFound:
        raise ConfigError(f"taxonomy {wanted!r} not found in {parent}") from None
    out: dict[str, str] = {}
    for name in env.policy_tag_names():
        if name not in found:
            raise ConfigError(
                f"policy tag {name!r} (bigquery.taxonomy.policy_tags of {env.name}) "
                f"is not in taxonomy {taxonomy.name}"
            )
        out[name] = found[name]
    return out
