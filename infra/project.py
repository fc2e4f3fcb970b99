"""The project itself, as data: its number and the Google-managed service agents that act in it."""

from __future__ import annotations

from cdktn_provider_google.data_google_bigquery_default_service_account import (
    DataGoogleBigqueryDefaultServiceAccount,
)
from cdktn_provider_google.data_google_project import DataGoogleProject
from cdktn_provider_google.data_google_storage_project_service_account import (
    DataGoogleStorageProjectServiceAccount,
)
from constructs import Construct

from platform_model.environment import Environment


class ProjectContext(Construct):
    """Looks the project up (`google_project` data source) and names its service agents as IAM members.

    Service agents are Google-managed identities (`service-<project number>@...`) that need grants on
    our resources: Pub/Sub's agent publishes dead letters, the storage, BigQuery, Composer, Compute and
    Dataproc agents use the CMEK keys. The storage and BigQuery agents come from their data sources,
    which also create the agent when it does not exist yet; the others are derived from the number.

    Attributes: `project` (data source), `number`, and one `*_agent` IAM member string per agent.
    """

    def __init__(self, scope: Construct, id_: str, env: Environment) -> None:
        super().__init__(scope, id_)
        self.project = DataGoogleProject(self, "project", project_id=env.project)
        self.number: str = self.project.number
        gcs = DataGoogleStorageProjectServiceAccount(self, "gcs-agent", project=env.project)
        bq = DataGoogleBigqueryDefaultServiceAccount(self, "bigquery-agent", project=env.project)
        self.storage_agent = f"serviceAccount:{gcs.email_address}"
        self.bigquery_agent = f"serviceAccount:{bq.email}"
        self.pubsub_agent = self.agent("gcp-sa-pubsub")
        self.composer_agent = self.agent("cloudcomposer-accounts")
        self.artifact_registry_agent = self.agent("gcp-sa-artifactregistry")
        self.compute_agent = self.agent("compute-system")
        self.dataproc_agent = self.agent("dataproc-accounts")

    def agent(self, domain: str) -> str:
        """IAM member of the service agent `service-<number>@<domain>.iam.gserviceaccount.com`."""
        return f"serviceAccount:service-{self.number}@{domain}.iam.gserviceaccount.com"
