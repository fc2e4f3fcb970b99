"""Customer-managed encryption keys: key rings, one key per service, and the service-agent grants.

Only built when `cmek.enabled` in the environment file. One key per consuming service keeps the blast
radius of a disabled or compromised key to that service, and lets each key be granted to exactly the
agents that need it. Keys must live where the data lives: the regional key ring serves buckets,
Pub/Sub, Composer and Dataproc; BigQuery datasets in a multi-region (e.g. `EU`) need a key in the
matching KMS multi-region (`eu`), so a second key ring is created when the locations differ.

Key rings cannot be deleted in KMS, and destroying a key loses the data it encrypts: keys carry
`prevent_destroy`.
"""

from __future__ import annotations

from cdktn import TerraformResourceLifecycle
from cdktn_provider_google.kms_crypto_key import KmsCryptoKey
from cdktn_provider_google.kms_crypto_key_iam_member import KmsCryptoKeyIamMember
from cdktn_provider_google.kms_key_ring import KmsKeyRing
from constructs import Construct

from infra.project import ProjectContext
from infra.refs import ref
from platform_model.environment import Environment

ENCRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"


class Cmek(Construct):
    """Key rings and keys `storage`, `pubsub`, `composer`, `dataproc`, `bigquery`, each granted to its agents.

    Attributes: `keys` (purpose -> KmsCryptoKey), `grants` (purpose -> the IAM members on that key;
    resources encrypted with a key depend on its grants, so the first apply does not race them).
    """

    def __init__(self, scope: Construct, id_: str, env: Environment, project: ProjectContext) -> None:
        super().__init__(scope, id_)
        bq_location = env.bigquery.location.lower()
        self.rings: dict[str, KmsKeyRing] = {
            env.region: KmsKeyRing(
                self, "ring", project=env.project, name=env.resource_name("platform"), location=env.region
            )
        }
        if bq_location != env.region:
            self.rings[bq_location] = KmsKeyRing(
                self,
                "ring-bigquery",
                project=env.project,
                name=env.resource_name(f"platform-{bq_location}"),
                location=bq_location,
            )
        # purpose -> (location of its key ring, agents that encrypt/decrypt with it)
        plan: dict[str, tuple[str, list[str]]] = {
            "storage": (env.region, [project.storage_agent]),
            "pubsub": (env.region, [project.pubsub_agent]),
            # Composer 3 encrypts its bucket, images and internal topics with the environment's key.
            "composer": (
                env.region,
                [
                    project.composer_agent,
                    project.artifact_registry_agent,
                    project.storage_agent,
                    project.pubsub_agent,
                    project.compute_agent,
                ],
            ),
            # Dataproc's persistent disks are encrypted by Compute Engine on the Dataproc agent's behalf.
            "dataproc": (env.region, [project.compute_agent, project.dataproc_agent]),
            "bigquery": (bq_location, [project.bigquery_agent]),
        }
        self.keys: dict[str, KmsCryptoKey] = {}
        self.grants: dict[str, list[KmsCryptoKeyIamMember]] = {}
        for purpose, (location, agents) in plan.items():
            key = KmsCryptoKey(
                self,
                f"key-{purpose}",
                name=purpose,
                key_ring=ref(self.rings[location], "id"),
                purpose="ENCRYPT_DECRYPT",
                rotation_period=env.cmek.rotation_period,
                labels=env.labels.as_dict(),
                lifecycle=TerraformResourceLifecycle(prevent_destroy=True),
            )
            self.keys[purpose] = key
            self.grants[purpose] = [
                KmsCryptoKeyIamMember(
                    self,
                    f"key-{purpose}-agent-{i}",
                    crypto_key_id=ref(key, "id"),
                    role=ENCRYPTER,
                    member=member,
                )
                for i, member in enumerate(agents)
            ]

    def key_id(self, purpose: str) -> str:
        """The key's resource id (`projects/.../cryptoKeys/<purpose>`), for `kms_key_name` fields."""
        return str(ref(self.keys[purpose], "id"))
