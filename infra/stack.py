"""`PlatformStack`: one environment's whole platform, composed from the constructs of this package.

The stack is a pure function of its environment file and the domains deployed to it
(`platform_model.domain.resolve`): no `if env == "prod"` and no domain name anywhere; what differs
between dev and prod is data, and a new domain is a new file in `domains/`. A domain the environment
switches off (`domains.<name>.enabled: false`) gets no resource in it. Its state lives in the GCS
bucket and prefix of `state` in the file.

Outputs (what the deployer, the DAGs and the workflows read, `cdktf output <env>`):
`project`, `region`, `composer_environment`, `composer_dag_gcs_prefix`, `composer_dag_bucket`,
`artifacts_bucket`, `dataproc_staging_bucket`, `dataproc_temp_bucket`, `release_store`,
`dataproc_cluster`, `datasets` (layer -> id), `raw_tables` and `staging_tables` (table ->
`project.dataset.table`, every domain's), `domains` (domain -> its `topic`, `subscription`,
`dead_letter_topic`, `pii_secret` (each left out when it has none), `tables` (`layer.table` ->
`project.dataset.table`, marts included) and `dag_ids`), `policy_tag_ids` (display name -> policy
tag resource name), `service_accounts` (role -> e-mail), `workload_identity_provider` (for
`google-github-actions/auth`).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

from cdktn import GcsBackend, TerraformOutput, TerraformStack
from cdktn_provider_google.provider import GoogleProvider
from constructs import Construct

from infra import domains_dir
from infra.bigquery import BigQuery
from infra.cmek import Cmek
from infra.composer import Composer
from infra.dataproc import Dataproc
from infra.domains import deployed, load_all
from infra.iam import Identities
from infra.monitoring import Monitoring
from infra.network import Network
from infra.project import ProjectContext
from infra.pubsub import PubSub
from infra.refs import ref
from infra.secretmanager import Secrets
from infra.services import APIS, LINEAGE_APIS, ProjectServices
from infra.storage import Storage
from platform_model.domain import Domain
from platform_model.environment import Environment

KNOWN_APIS = (*APIS, *LINEAGE_APIS)
SERVICES_ID = "services"
"""The construct id of the stack's `ProjectServices`: every other resource and data source waits for them."""


def wait_for_services(document: MutableMapping[str, Any]) -> int:
    """Make every resource and data source of a synthesized stack (its `cdk.tf.json`, parsed) wait for
    the project's APIs, the resources below `<stack>/services` (terraform cannot infer that); returns
    how many it changed.

    Data sources too: on a fresh project they would otherwise be read at plan time, before the APIs
    they call are enabled. Once the services exist, terraform reads them at plan as usual.

    Done on the JSON rather than on the constructs: reading and rewriting `depends_on` of every
    construct is two jsii round trips each, about 40% of a cold synth's kernel calls; here it costs
    milliseconds. `infra.app.synth` applies it to every stack the app writes.
    """
    blocks = [
        (block, type_, items)
        for block in ("resource", "data")
        for type_, items in document.get(block, {}).items()
    ]

    def is_service(body: Mapping[str, Any]) -> bool:
        path = str(body.get("//", {}).get("metadata", {}).get("path", ""))
        return path.split("/")[1:2] == [SERVICES_ID]

    # Plain `type.logical_id` references: what terraform expects in depends_on, in the order the
    # services are declared (`apis(env)` is always a subsequence of KNOWN_APIS), as the constructs had them.
    found = [
        (str(body.get("service", "")), f"{type_}.{logical_id}")
        for block, type_, items in blocks
        if block == "resource"
        for logical_id, body in items.items()
        if is_service(body)
    ]
    rank = {api: i for i, api in enumerate(KNOWN_APIS)}
    services = [ref for api, ref in sorted(found, key=lambda item: (rank.get(item[0], len(rank)), item))]
    changed = 0
    for _block, _type, items in blocks:
        for body in items.values():
            if not is_service(body):
                existing = list(body.get("depends_on") or [])
                body["depends_on"] = [*existing, *(s for s in services if s not in existing)]
                changed += 1
    return changed


class PlatformStack(TerraformStack):
    """The stack `<env.name>`: services, network, identities, CMEK, buckets, Composer, Dataproc,
    BigQuery, secrets, Pub/Sub, monitoring, and the outputs others read.

    `domains`: the domains deployed to `env` (default: those of `domains_dir()`, resolved for `env`).

    `release_clients`: IAM members (every environment's deployer account) granted on the release store
    bucket, when this environment's file creates it (`buckets.releases`); `release_readers` (approvers
    groups) get read access to it.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        env: Environment,
        *,
        domains: Mapping[str, Domain] | None = None,
        release_clients: Sequence[str] = (),
        release_readers: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, id_)
        self.env = env
        self.domains = dict(domains) if domains is not None else deployed(env, load_all(domains_dir()))
        deployed_domains = list(self.domains.values())

        GoogleProvider(self, "google", project=env.project, region=env.region)
        GcsBackend(self, bucket=env.state.bucket, prefix=env.state.prefix)

        # Every other resource waits for these: `wait_for_services`, on the synthesized JSON.
        self.services = ProjectServices(self, SERVICES_ID, env)
        self.project = ProjectContext(self, "project-info", env)
        self.cmek = Cmek(self, "cmek", env, self.project) if env.cmek.enabled else None
        self.network = Network(self, "network", env)
        self.identities = Identities(self, "iam", env)
        self.storage = Storage(
            self, "storage", env, self.identities, self.cmek, release_clients, release_readers
        )
        self.composer = Composer(
            self, "composer", env, self.network, self.identities, self.project, self.cmek
        )
        self.dataproc = Dataproc(
            self, "dataproc", env, self.network, self.identities, self.storage, self.cmek
        )
        self.bigquery = BigQuery(self, "bigquery", env, self.identities, self.cmek, deployed_domains)
        self.secrets = Secrets(self, "secrets", env, self.identities, deployed_domains)
        self.pubsub = PubSub(self, "pubsub", env, self.identities, self.project, self.cmek, deployed_domains)
        self.monitoring = Monitoring(
            self,
            "monitoring",
            env,
            self.identities,
            self.composer,
            self.dataproc,
            self.pubsub,
            deployed_domains,
        )
        self._outputs()

    def _output(self, name: str, value: Any, description: str) -> None:
        TerraformOutput(self, name, value=value, description=description, static_id=True)

    def _outputs(self) -> None:
        env = self.env
        self._output("project", env.project, "GCP project of the environment.")
        self._output("region", env.region, "Region of the regional resources.")
        self._output("composer_environment", self.composer.environment.name, "Composer environment name.")
        self._output(
            "composer_dag_gcs_prefix", self.composer.dag_gcs_prefix, "gs://<bucket>/dags of Composer."
        )
        self._output("composer_dag_bucket", self.composer.dag_bucket, "The Composer environment's bucket.")
        self._output(
            "artifacts_bucket", self.storage.name("artifacts"), "Release artifacts and deployer state."
        )
        self._output(
            "dataproc_staging_bucket", self.storage.name("dataproc_staging"), "Dataproc staging bucket."
        )
        self._output("dataproc_temp_bucket", self.storage.name("dataproc_temp"), "Dataproc temp bucket.")
        self._output("release_store", env.promotion.release_store, "Bucket of published releases (shared).")
        self._output("dataproc_cluster", self.dataproc.cluster.name, "Cluster the Spark jobs run on.")
        self._output(
            "datasets",
            {layer: ref(ds, "dataset_id") for layer, ds in self.bigquery.datasets.items()},
            "Layer -> dataset.",
        )
        self._output(
            "raw_tables",
            {table_id: self.table_ref("raw", table_id) for table_id in self.bigquery.raw_tables},
            "Raw tables fed from Pub/Sub, every domain's.",
        )
        self._output(
            "staging_tables",
            {table_id: self.table_ref("staging", table_id) for table_id in self.bigquery.staging_tables},
            "Staging tables the domains' Spark jobs write (contract sections staging, rejects).",
        )
        self._output(
            "domains",
            {name: self.domain_summary(domain) for name, domain in self.domains.items()},
            "Domain -> its topic, subscription, dead-letter topic, PII secret, tables and DAG ids.",
        )
        self._output(
            "policy_tag_ids", self.bigquery.policy_tag_ids(), "Policy tag resource name by display name."
        )
        self._output(
            "service_accounts",
            {name: ref(account, "email") for name, account in self.identities.accounts.items()},
            "Service account e-mails by role.",
        )
        self._output(
            "workload_identity_provider",
            self.identities.provider.name,
            "WIF provider for google-github-actions/auth (workload_identity_provider input).",
        )

    def table_ref(self, layer: str, table_id: str) -> str:
        """`project.dataset.table` of a table in one of the layer datasets."""
        dataset_ids: dict[str, str] = {name: ds.id for name, ds in self.env.bigquery.datasets.items()}
        return f"{self.env.project}.{dataset_ids[layer]}.{table_id}"

    def domain_summary(self, domain: Domain) -> dict[str, Any]:
        """What the `domains` output says of one domain (names known before apply); `topic`,
        `subscription`, `dead_letter_topic` and `pii_secret` are left out when it has none."""
        tables = {}
        for key in domain.tables():
            layer, table_id = key.split(".", 1)
            tables[key] = self.table_ref(layer, table_id)
        names = {
            "topic": domain.event.topic if domain.event else None,
            "subscription": domain.subscription,
            "dead_letter_topic": domain.dead_letter_topic,
            "pii_secret": domain.pii_secret,
        }
        return {
            **{key: value for key, value in names.items() if value is not None},
            "tables": tables,
            "dag_ids": domain.dag_ids(),
        }
