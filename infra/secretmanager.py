"""Secret Manager: each domain's PII hashing secret, as a container only, and who may read it.

- `<domain>.pii_secret` (e.g. `<domain>-pii-hash-key`): the key of the HMAC-SHA256 the domain's daily
  Spark job hashes PII with. The job reads `projects/<project>/secrets/<pii_secret>/versions/latest`
  (`--pii-key-source=gsm:...`, given by the domain's DAG from the same declaration), so the secret id
  is the same in every project and carries no environment prefix. A domain without `pii_secret` gets
  no secret.
- Only the container is managed here. No `google_secret_manager_secret_version` with a value: a value
  in this repository or in the terraform state would be the key itself. The value is added out of band,
  once per environment and domain, by someone holding `roles/secretmanager.secretVersionAdder` (or
  admin) on it: `openssl rand -hex 32 | tr -d '\\n' | gcloud secrets versions add <pii_secret>
  --project=<project> --data-file=-`. Until it is added, the Spark job fails with a clear message (the
  secret has no version). Rotating it means adding a version: hashes change from then on (staging is
  rebuilt from raw to rejoin history), so do it deliberately.
- Replication: user-managed, one replica in the environment's region (data residency, like the data it
  protects). Encryption: Google-managed; a CMEK for it would need the Secret Manager service agent,
  which only the beta provider's `google_project_service_identity` creates (not used by this stack).
- Deletion protection on: deleting the key makes every existing hash unjoinable with new ones.
- Access: the `dataproc` account gets `roles/secretmanager.secretAccessor` on each of these secrets
  only (never project-wide); nothing else of the platform reads them.
- Construct ids are the secret ids (`<pii_secret>`, `<pii_secret>-dataproc`), unique across domains.

Attributes: `secrets` (secret id -> secret), `accessors` (secret id -> its IAM members), `domain_of`
(secret id -> domain).
"""

from __future__ import annotations

from collections.abc import Sequence

from cdktn_provider_google.secret_manager_secret import (
    SecretManagerSecret,
    SecretManagerSecretReplication,
    SecretManagerSecretReplicationUserManaged,
    SecretManagerSecretReplicationUserManagedReplicas,
)
from cdktn_provider_google.secret_manager_secret_iam_member import SecretManagerSecretIamMember
from constructs import Construct

from infra.domains import domain_labels
from infra.iam import Identities
from platform_model.domain import Domain
from platform_model.environment import Environment

ACCESSOR_ROLE = "roles/secretmanager.secretAccessor"
ACCESSORS = ("dataproc",)
"""The pipeline accounts that read a domain's PII secret: the Spark job's."""


class Secrets(Construct):
    """Each domain's PII hashing secret (no value) and the Dataproc account's access to it."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        env: Environment,
        identities: Identities,
        domains: Sequence[Domain],
    ) -> None:
        """`domains`: the domains deployed to `env`; those without `pii_secret` get nothing here."""
        super().__init__(scope, id_)
        self.secrets: dict[str, SecretManagerSecret] = {}
        self.accessors: dict[str, list[SecretManagerSecretIamMember]] = {}
        self.domain_of: dict[str, str] = {}
        for domain in domains:
            name = domain.pii_secret
            if name is None:
                continue
            secret = SecretManagerSecret(
                self,
                name,
                project=env.project,
                secret_id=name,
                labels={**domain_labels(env, domain), "pii": "true"},
                replication=SecretManagerSecretReplication(
                    user_managed=SecretManagerSecretReplicationUserManaged(
                        replicas=[SecretManagerSecretReplicationUserManagedReplicas(location=env.region)]
                    )
                ),
                deletion_protection=True,
            )
            self.secrets[name] = secret
            self.domain_of[name] = domain.domain
            self.accessors[name] = [
                SecretManagerSecretIamMember(
                    self,
                    f"{name}-{who}",
                    project=env.project,
                    secret_id=secret.secret_id,
                    role=ACCESSOR_ROLE,
                    member=identities.members[who],
                )
                for who in ACCESSORS
            ]
