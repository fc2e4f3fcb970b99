"""The project's APIs: everything the platform's resources need, enabled before anything else is created."""

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


class ProjectServices(Construct):
    """Enables `APIS` on the environment's project; never disables them on destroy.

    Disabling an API on destroy would break anything else in the project that uses it, so
    `disable_on_destroy` is off. The stack makes every other resource depend on these.
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
            for api in APIS
        ]
