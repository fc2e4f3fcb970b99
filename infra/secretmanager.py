"""Secret Manager: the secrets the pipeline reads at run time, as containers only, and who may read them.

- `orders-pii-hash-key`: the key of the HMAC-SHA256 the daily Spark job hashes PII with. The job reads
  `projects/<project>/secrets/orders-pii-hash-key/versions/latest` (`--pii-key-source=gsm:...`, given by
  the orders DAG, `composer/dags/orders_platform/factory.py` `PII_KEY_SECRET`), so the secret id is
  the same in every project and carries no environment prefix.
- Only the container is managed here. No `google_secret_manager_secret_version` with a value: a value
  in this repository or in the terraform state would be the key itself. The value is added out of band,
  once per environment, by someone holding `roles/secretmanager.secretVersionAdder` (or admin) on it:
  `openssl rand -hex 32 | tr -d '\\n' | gcloud secrets versions add orders-pii-hash-key --project=<project>
  --data-file=-`. Until it is added, the Spark job fails with a clear message (the secret has no version).
  Rotating it means adding a version: hashes change from then on (staging is rebuilt from raw to
  rejoin history), so do it deliberately.
- Replication: user-managed, one replica in the environment's region (data residency, like the data it
  protects). Encryption: Google-managed; a CMEK for it would need the Secret Manager service agent,
  which only the beta provider's `google_project_service_identity` creates (not used by this stack).
- Deletion protection on: deleting the key makes every existing hash unjoinable with new ones.
- Access: the `dataproc` account gets `roles/secretmanager.secretAccessor` on this secret only (never
  project-wide); nothing else of the platform reads it.

Attributes: `pii_hash_key` (the secret), `accessors` (secret id -> its IAM members).
"""

from __future__ import annotations

from cdktn_provider_google.secret_manager_secret import (
    SecretManagerSecret,
    SecretManagerSecretReplication,
    SecretManagerSecretReplicationUserManaged,
    SecretManagerSecretReplicationUserManagedReplicas,
)
from cdktn_provider_google.secret_manager_secret_iam_member import SecretManagerSecretIamMember
from constructs import Construct

from deployer.config import Environment
from infra.iam import Identities

PII_HASH_KEY_SECRET = "orders-pii-hash-key"  # noqa: S105  # nosec B105  # pragma: allowlist secret (a name)
ACCESSOR_ROLE = "roles/secretmanager.secretAccessor"


class Secrets(Construct):
    """The PII hashing key's secret (no value) and the Dataproc account's access to it."""

    def __init__(self, scope: Construct, id_: str, env: Environment, identities: Identities) -> None:
        super().__init__(scope, id_)
        self.pii_hash_key = SecretManagerSecret(
            self,
            "pii-hash-key",
            project=env.project,
            secret_id=PII_HASH_KEY_SECRET,
            labels={**env.labels.as_dict(), "pii": "true"},
            replication=SecretManagerSecretReplication(
                user_managed=SecretManagerSecretReplicationUserManaged(
                    replicas=[SecretManagerSecretReplicationUserManagedReplicas(location=env.region)]
                )
            ),
            deletion_protection=True,
        )
        self.accessors: dict[str, list[SecretManagerSecretIamMember]] = {
            PII_HASH_KEY_SECRET: [
                SecretManagerSecretIamMember(
                    self,
                    "pii-hash-key-dataproc",
                    project=env.project,
                    secret_id=self.pii_hash_key.secret_id,
                    role=ACCESSOR_ROLE,
                    member=identities.members["dataproc"],
                )
            ]
        }
