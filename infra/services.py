"""The project's APIs: everything the platform's resources need, enabled before anything else is created.

`apis(env)`: `APIS`, plus `LINEAGE_APIS` when the environment enables data lineage (`lineage.enabled`).
"""

from __future__ import annotations

from cdktn_provider_google.project_service import ProjectService
from constructs import Construct

from platform_model.environment import Environment

# Each API here is needed by at least one construct of the stack (or by its service agents).
APIS: tuple[str, ...] = (
    "artifactregistry.googleapis.com",  # Composer 3 builds its images there
    "bigquery.googleapis.com",
    "bigquerydatapolicy.googleapis.com",
    "bigquerystorage.googleapis.com",  # Spark reads BigQuery through the Storage Read API
    "cloudkms.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "composer.googleapis.com",
    "compute.googleapis.com",
    "datacatalog.googleapis.com",
    "dataproc.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
    "sts.googleapis.com",  # Workload Identity Federation token exchange
)

# Dataplex data lineage: Composer's and Dataproc's lineage integrations report to this API; the
# BigQuery console's Lineage tab reads it. Neither integration's documentation asks for another API.
LINEAGE_APIS: tuple[str, ...] = ("datalineage.googleapis.com",)


def apis(env: Environment) -> tuple[str, ...]:
    """The APIs the stack of `env` enables: `APIS`, and `LINEAGE_APIS` when `lineage.enabled`."""
    return (*APIS, *LINEAGE_APIS) if env.lineage.enabled else APIS


class ProjectServices(Construct):
    """Enables `apis(env)` on the environment's project; never disables them on destroy.

    Disabling an API on destroy would break anything else in the project that uses it, so
    `disable_on_destroy` is off (so switching lineage off stops managing its API, it does not disable
    it). The stack makes every other resource depend on these.
    """

    def __init__(self, scope: Construct, id_: str, env: Environment) -> None:
        super().__init__(scope, id_)
        self.services: list[ProjectService] = [
            ProjectService(
                self,
                api.split(".")[0],
                project=env.project,
                service=api,
                disable_on_destroy=False,
                disable_dependent_services=False,
            )
            for api in apis(env)
        ]
