"""Identities: service accounts, their project roles, and Workload Identity Federation for GitHub Actions.

Four service accounts, one job each:

- `composer`  runs Airflow (Composer 3 workloads): submits Dataproc jobs, runs dbt on BigQuery.
- `dataproc`  runs the Spark jobs on the cluster's VMs.
- `deployer`  promotes releases (CI, and people in `promotion.deployers` by impersonation): writes the
              artifacts and DAG buckets, reads the Composer environment and the policy tags.
- `infra`     applies this stack from CI (`cdktf deploy <env>`): predefined admin roles of exactly the
              services the stack manages. Separate from `deployer` so a promotion job cannot change
              infrastructure or IAM.

Least privilege: predefined roles only, never `roles/owner`/`editor`/`viewer`, and never a service
account key: CI gets short-lived tokens through Workload Identity Federation. Resource-level grants
(buckets, datasets, subscriptions, policy tags) live with the resources, in their constructs; this
construct holds only project-level roles, the WIF pool/provider and bindings on the accounts themselves.
When the environment enables data lineage, `composer` and `dataproc` may also write lineage events
(`LINEAGE_ROLES`, through `project_roles(env)`).

WIF: one pool per project with a GitHub OIDC provider. Its `attribute_condition` admits only tokens
from the repository id (ids survive renames, names do not) on the environment's ref and, when
`github.environment` is set, only jobs running in that GitHub environment (prod: `production`, which
has required reviewers). `deployer` and `infra` are bound to `principalSet://.../attribute.repository_id/<id>`.
"""

from __future__ import annotations

from cdktn_provider_google.iam_workload_identity_pool import IamWorkloadIdentityPool
from cdktn_provider_google.iam_workload_identity_pool_provider import (
    IamWorkloadIdentityPoolProvider,
    IamWorkloadIdentityPoolProviderOidc,
)
from cdktn_provider_google.project_iam_member import ProjectIamMember
from cdktn_provider_google.service_account import ServiceAccount
from cdktn_provider_google.service_account_iam_member import ServiceAccountIamMember
from constructs import Construct

from infra import env_file
from infra.refs import ref
from platform_model.environment import Environment
from platform_model.errors import ConfigError

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
PRIMITIVE_ROLES = frozenset({"roles/owner", "roles/editor", "roles/viewer"})

# Project-level roles per account (see `project_roles` for those an environment adds). Bucket, dataset,
# subscription and policy-tag grants are not here.
PROJECT_ROLES: dict[str, tuple[str, ...]] = {
    "composer": (
        "roles/composer.worker",  # required for a Composer environment's own account
        "roles/dataproc.editor",  # submit and watch jobs on the cluster
        "roles/bigquery.jobUser",  # dbt runs queries
    ),
    "dataproc": (
        "roles/dataproc.worker",  # required for the cluster VMs' account
        "roles/bigquery.jobUser",
        "roles/bigquery.readSessionUser",  # spark-bigquery connector reads through the Storage Read API
    ),
    "deployer": (
        "roles/composer.user",  # resolve the DAG bucket of the environment
        "roles/datacatalog.viewer",  # resolve policy-tag ids by display name
        "roles/dataproc.viewer",  # `deployer status` shows the cluster
    ),
    "infra": (
        "roles/bigquery.admin",
        "roles/bigquerydatapolicy.admin",
        "roles/cloudkms.admin",
        "roles/composer.admin",
        "roles/compute.networkAdmin",
        "roles/compute.securityAdmin",
        "roles/datacatalog.categoryAdmin",
        "roles/dataproc.admin",
        "roles/iam.serviceAccountAdmin",
        "roles/iam.workloadIdentityPoolAdmin",
        "roles/logging.configWriter",
        "roles/monitoring.editor",
        "roles/pubsub.admin",
        "roles/resourcemanager.projectIamAdmin",
        "roles/secretmanager.admin",  # create secret containers and their IAM (values are added by people)
        "roles/serviceusage.serviceUsageAdmin",
        "roles/storage.admin",
    ),
}

# Added to PROJECT_ROLES when the environment enables data lineage (`lineage.enabled`): the two
# accounts that run the integrations report their lineage events to the Data Lineage API. Data Lineage
# Events Producer is the narrowest predefined role that writes lineage (no deleting, no configuring).
# Dataproc's docs say dataproc.worker covers it today; it is granted explicitly so the integration does
# not hang on what a broader role happens to include.
LINEAGE_ROLES: dict[str, tuple[str, ...]] = {
    "composer": ("roles/datalineage.producer",),
    "dataproc": ("roles/datalineage.producer",),
}


def project_roles(env: Environment) -> dict[str, tuple[str, ...]]:
    """The project-level roles of each account in `env`: `PROJECT_ROLES`, plus `LINEAGE_ROLES` when
    the environment enables data lineage."""
    extra = LINEAGE_ROLES if env.lineage.enabled else {}
    return {name: (*roles, *extra.get(name, ())) for name, roles in PROJECT_ROLES.items()}


DESCRIPTIONS: dict[str, str] = {
    "composer": "Runs the Composer 3 environment (Airflow workers, scheduler, dbt).",
    "dataproc": "Runs the Dataproc cluster VMs and the Spark jobs.",
    "deployer": "Promotes releases into this environment (CI via Workload Identity Federation).",
    "infra": "Applies the cdktf stack of this environment (CI via Workload Identity Federation).",
}

_ACCOUNT_ID_MAX = 30
_POOL_ID_MAX = 32


class Identities(Construct):
    """Service accounts `composer`, `dataproc`, `deployer`, `infra`, their project roles and GitHub WIF.

    Attributes: `accounts` (name -> ServiceAccount), `members` (name -> `serviceAccount:<email>`),
    `pool`, `provider` (the WIF provider; its `name` is what `google-github-actions/auth` needs).
    """

    def __init__(self, scope: Construct, id_: str, env: Environment) -> None:
        super().__init__(scope, id_)
        self.accounts: dict[str, ServiceAccount] = {}
        self.members: dict[str, str] = {}
        for name, roles in project_roles(env).items():
            account_id = env.resource_name(name)
            if len(account_id) > _ACCOUNT_ID_MAX:
                raise ConfigError(
                    f"{env_file(env.name)}: prefix: {env.prefix!r} is too long: the service account "
                    f"id {account_id!r} exceeds {_ACCOUNT_ID_MAX} characters"
                )
            account = ServiceAccount(
                self,
                name,
                project=env.project,
                account_id=account_id,
                display_name=f"{env.prefix} {name}",
                description=DESCRIPTIONS[name],
            )
            self.accounts[name] = account
            self.members[name] = f"serviceAccount:{ref(account, 'email')}"
            for role in roles:
                ProjectIamMember(
                    self,
                    f"{name}-{role.removeprefix('roles/').replace('.', '-')}",
                    project=env.project,
                    role=role,
                    member=self.members[name],
                )

        # Attaching an account to a workload (Composer, Dataproc VMs) needs actAs on that account: granted
        # on those two accounts only, never project-wide (which would cover every account, incl. infra).
        for workload in ("composer", "dataproc"):
            ServiceAccountIamMember(
                self,
                f"infra-acts-as-{workload}",
                service_account_id=ref(self.accounts[workload], "name"),
                role="roles/iam.serviceAccountUser",
                member=self.members["infra"],
            )

        # People allowed to promote do so as the deployer account (short-lived impersonation tokens).
        for i, member in enumerate(env.promotion.deployers):
            ServiceAccountIamMember(
                self,
                f"deployer-impersonation-{i}",
                service_account_id=self.accounts["deployer"].name,
                role="roles/iam.serviceAccountTokenCreator",
                member=member,
            )

        pool_id = env.resource_name("github")
        if len(pool_id) > _POOL_ID_MAX:
            raise ConfigError(
                f"{env_file(env.name)}: prefix: {env.prefix!r} is too long: the workload identity "
                f"pool id {pool_id!r} exceeds {_POOL_ID_MAX} characters"
            )
        self.pool = IamWorkloadIdentityPool(
            self,
            "github-pool",
            project=env.project,
            workload_identity_pool_id=pool_id,
            display_name=f"GitHub Actions ({env.name})"[:32],
            description=f"CI of {env.github.repository}",
        )
        self.provider = IamWorkloadIdentityPoolProvider(
            self,
            "github-provider",
            project=env.project,
            workload_identity_pool_id=self.pool.workload_identity_pool_id,
            workload_identity_pool_provider_id="github",
            display_name="GitHub OIDC",
            attribute_mapping={
                "google.subject": "assertion.sub",
                "attribute.repository": "assertion.repository",
                "attribute.repository_id": "assertion.repository_id",
                "attribute.ref": "assertion.ref",
                "attribute.environment": "assertion.environment",
            },
            attribute_condition=github_condition(env),
            oidc=IamWorkloadIdentityPoolProviderOidc(issuer_uri=GITHUB_ISSUER),
        )
        principal_set = f"principalSet://iam.googleapis.com/{self.pool.name}/attribute.repository_id/{env.github.repository_id}"
        for name in ("deployer", "infra"):
            ServiceAccountIamMember(
                self,
                f"{name}-wif",
                service_account_id=ref(self.accounts[name], "name"),
                role="roles/iam.workloadIdentityUser",
                member=principal_set,
            )

    def email(self, name: str) -> str:
        """E-mail of the service account `name` (a token until applied)."""
        return str(ref(self.accounts[name], "email"))


def account_email(env: Environment, name: str) -> str:
    """E-mail of the account `name` (composer, dataproc, deployer, infra) of `env`, known before apply."""
    return f"{env.resource_name(name)}@{env.project}.iam.gserviceaccount.com"


def github_condition(env: Environment) -> str:
    """The CEL `attribute_condition` of the GitHub provider: repository id, ref and, if set, environment."""
    parts = [
        f'assertion.repository_id == "{env.github.repository_id}"',
        f'assertion.ref == "{env.github.ref}"',
    ]
    if env.github.environment:
        parts.append(f'assertion.environment == "{env.github.environment}"')
    return " && ".join(parts)
