"""Buckets: release artifacts and deployer state, Dataproc staging and temp, and the shared release store.

Every bucket: uniform bucket-level access (no ACLs), public access prevention enforced, versioning
and lifecycle as the environment file says, the environment's labels, and the `storage` CMEK key when
the environment enables CMEK. Names come from the environment file verbatim (bucket names are global,
so they are chosen there, once).

Grants (bucket level, least privilege):

- artifacts: deployer objectAdmin (state, lock, archive: generation-conditioned overwrites need
  delete); composer and dataproc objectViewer (the release's Spark artifacts); the file's
  `promotion.approvers_group` objectUser on `deployer/approvals/` only and objectCreator (append-only)
  on `deployer/audit/` only.
- dataproc_staging: dataproc objectAdmin, composer objectViewer (driver output).
- dataproc_temp: dataproc objectAdmin.
- releases: every environment's deployer objectCreator + objectViewer: a release is written once and
  never overwritten (objectCreator cannot replace an object).

The approvers' conditions use `resource.name.startsWith("projects/_/buckets/<bucket>/objects/<prefix>")`,
so approving cannot touch releases, state or the lock. Their audit entry is a create-only grant on
the audit prefix: an approval that cannot be audited would be worse than one more narrow grant.
"""

from __future__ import annotations

from collections.abc import Sequence

from cdktn import TerraformResource
from cdktn_provider_google.storage_bucket import (
    StorageBucket,
    StorageBucketEncryption,
    StorageBucketLifecycleRule,
    StorageBucketLifecycleRuleAction,
    StorageBucketLifecycleRuleCondition,
    StorageBucketVersioning,
)
from cdktn_provider_google.storage_bucket_iam_member import (
    StorageBucketIamMember,
    StorageBucketIamMemberCondition,
)
from constructs import Construct

from infra.cmek import Cmek
from infra.iam import Identities
from infra.refs import ref
from platform_model.environment import Bucket, Environment

APPROVALS_PREFIX = "deployer/approvals/"
AUDIT_PREFIX = "deployer/audit/"


def lifecycle_rules(bucket: Bucket) -> list[StorageBucketLifecycleRule]:
    """The bucket's lifecycle rules, from its `lifecycle` section (empty section, no rules)."""
    rules: list[StorageBucketLifecycleRule] = []
    lifecycle = bucket.lifecycle
    if lifecycle.nearline_after_days:
        rules.append(
            StorageBucketLifecycleRule(
                action=StorageBucketLifecycleRuleAction(type="SetStorageClass", storage_class="NEARLINE"),
                condition=StorageBucketLifecycleRuleCondition(
                    age=lifecycle.nearline_after_days, matches_storage_class=["STANDARD"]
                ),
            )
        )
    if lifecycle.delete_noncurrent_after_days:
        rules.append(
            StorageBucketLifecycleRule(
                action=StorageBucketLifecycleRuleAction(type="Delete"),
                condition=StorageBucketLifecycleRuleCondition(
                    days_since_noncurrent_time=lifecycle.delete_noncurrent_after_days, with_state="ARCHIVED"
                ),
            )
        )
    if lifecycle.delete_after_days:
        rules.append(
            StorageBucketLifecycleRule(
                action=StorageBucketLifecycleRuleAction(type="Delete"),
                condition=StorageBucketLifecycleRuleCondition(age=lifecycle.delete_after_days),
            )
        )
    return rules


def prefix_condition(bucket: str, prefix: str, title: str) -> StorageBucketIamMemberCondition:
    """An IAM condition limiting a bucket grant to objects under `prefix`."""
    return StorageBucketIamMemberCondition(
        title=title,
        description=f"Only objects under gs://{bucket}/{prefix}",
        expression=f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{prefix}")',
    )


class Storage(Construct):
    """The platform's buckets and their grants.

    `release_clients` are the IAM members (the deployer account of every environment that uses this
    release store, as literal e-mails) allowed to publish to and read from it; only used by the one
    environment whose file sets `buckets.releases`. `release_readers` (the approvers groups) only read
    it: granting an approval verifies the release in the store.

    Attributes: `buckets` (`artifacts`, `dataproc_staging`, `dataproc_temp`, and `releases` when set).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        env: Environment,
        identities: Identities,
        cmek: Cmek | None,
        release_clients: Sequence[str] = (),
        release_readers: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, id_)
        specs: dict[str, Bucket] = {
            "artifacts": env.buckets.artifacts,
            "dataproc_staging": env.buckets.dataproc_staging,
            "dataproc_temp": env.buckets.dataproc_temp,
        }
        if env.buckets.releases is not None:
            specs["releases"] = env.buckets.releases
        self.buckets: dict[str, StorageBucket] = {
            key: StorageBucket(
                self,
                key.replace("_", "-"),
                project=env.project,
                name=spec.name,
                location=env.region.upper(),
                storage_class="STANDARD",
                uniform_bucket_level_access=True,
                public_access_prevention="enforced",
                force_destroy=False,
                versioning=StorageBucketVersioning(enabled=spec.versioning),
                lifecycle_rule=lifecycle_rules(spec),
                labels=env.labels.as_dict(),
                encryption=StorageBucketEncryption(default_kms_key_name=cmek.key_id("storage"))
                if cmek
                else None,
                depends_on=cmek.grants["storage"] if cmek else None,
            )
            for key, spec in specs.items()
        }

        members = identities.members
        self.grant("artifacts", "roles/storage.objectAdmin", members["deployer"], "deployer")
        self.grant("artifacts", "roles/storage.objectViewer", members["composer"], "composer")
        self.grant("artifacts", "roles/storage.objectViewer", members["dataproc"], "dataproc")
        self.grant("dataproc_staging", "roles/storage.objectAdmin", members["dataproc"], "dataproc")
        self.grant("dataproc_staging", "roles/storage.objectViewer", members["composer"], "composer")
        self.grant("dataproc_temp", "roles/storage.objectAdmin", members["dataproc"], "dataproc")

        approvers = env.promotion.approvers_group
        if approvers:
            artifacts = env.buckets.artifacts.name
            self.grant(
                "artifacts",
                "roles/storage.objectUser",
                approvers,
                "approvers",
                prefix_condition(artifacts, APPROVALS_PREFIX, "approvals-only"),
            )
            self.grant(
                "artifacts",
                "roles/storage.objectCreator",
                approvers,
                "approvers",
                prefix_condition(artifacts, AUDIT_PREFIX, "audit-append-only"),
            )

        if "releases" in self.buckets:
            # Literal e-mails (other environments' accounts live in other projects); our own account
            # must exist first, hence the explicit dependency.
            own = [identities.accounts["deployer"]]
            for i, member in enumerate(dict.fromkeys(release_clients)):
                for role in ("roles/storage.objectCreator", "roles/storage.objectViewer"):
                    self.grant("releases", role, member, f"client-{i}", depends_on=own)
            for i, member in enumerate(dict.fromkeys(release_readers)):
                self.grant("releases", "roles/storage.objectViewer", member, f"reader-{i}")

    def grant(
        self,
        bucket: str,
        role: str,
        member: str,
        who: str,
        condition: StorageBucketIamMemberCondition | None = None,
        depends_on: Sequence[TerraformResource] | None = None,
    ) -> StorageBucketIamMember:
        """Grant `role` on bucket `bucket` (a key of `buckets`) to `member` (`who` names it in the id)."""
        return StorageBucketIamMember(
            self,
            f"{bucket.replace('_', '-')}-{role.removeprefix('roles/storage.')}-{who}",
            bucket=ref(self.buckets[bucket], "name"),
            role=role,
            member=member,
            condition=condition,
            depends_on=depends_on,
        )

    def name(self, bucket: str) -> str:
        """Name of the bucket `bucket` (a key of `buckets`)."""
        return str(ref(self.buckets[bucket], "name"))
