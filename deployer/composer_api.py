"""The Composer DAG bucket: from the environment file when given, else from the Composer API.

The API call is `EnvironmentsClient.get_environment` (REST transport) on
`projects/<project>/locations/<region>/environments/<env.composer_environment_name()>`, whose
`config.dag_gcs_prefix` is `gs://<bucket>/dags`. `COMPOSER_API_ENDPOINT` overrides the endpoint (tests
point it at a local server speaking the Composer v1 REST API; credentials are then anonymous).
"""

from __future__ import annotations

import os
import re
from typing import Any

from platform_model.environment import Environment
from platform_model.errors import ConfigError

ENDPOINT_ENV = "COMPOSER_API_ENDPOINT"


def environment_resource(env: Environment) -> str:
    """The Composer environment's resource name."""
    return f"projects/{env.project}/locations/{env.region}/environments/{env.composer_environment_name()}"


def dag_bucket(env: Environment, credentials: Any = None) -> str:
    """The bucket holding the environment's `dags/` folder."""
    if env.composer.dag_bucket:
        return env.composer.dag_bucket
    from google.api_core import exceptions as gexc
    from google.cloud.orchestration.airflow.service_v1 import EnvironmentsClient

    endpoint = os.environ.get(ENDPOINT_ENV)
    options: dict[str, Any] = {}
    if endpoint:
        from google.auth.credentials import AnonymousCredentials

        options["api_endpoint"] = endpoint
        credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
    elif env.platform == "local":
        raise ConfigError(
            f"environment {env.name}: composer.dag_bucket is not set and {ENDPOINT_ENV} is not set "
            "(a local environment has no Composer API: set composer.dag_bucket)"
        )
    name = environment_resource(env)
    client = EnvironmentsClient(credentials=credentials, transport="rest", client_options=options or None)
    try:
        composer = client.get_environment(name=name, timeout=30)
    except gexc.NotFound:
        raise ConfigError(
            f"Composer environment {name} not found (deploy the infra first: cdktf deploy {env.name})"
        ) from None
    prefix = composer.config.dag_gcs_prefix
    match = re.fullmatch(r"gs://([a-z0-9][a-z0-9._-]{1,61}[a-z0-9])(/.*)?", prefix or "")
    if not match:
        raise ConfigError(f"Composer environment {name}: config.dagGcsPrefix {prefix!r} is not a gs:// URI")
    return match.group(1)
