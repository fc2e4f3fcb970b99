"""Buckets: uniform access, public access prevention, versioning, lifecycle, labels, grants."""

from __future__ import annotations

from platform_model.environment import Bucket, Environment
from tests.infra.conftest import Stack, resources


def bucket_specs(env: Environment) -> dict[str, Bucket]:
    specs = {
        "artifacts": env.buckets.artifacts,
        "dataproc-staging": env.buckets.dataproc_staging,
        "dataproc-temp": env.buckets.dataproc_temp,
    }
    if env.buckets.releases:
        specs["releases"] = env.buckets.releases
    return specs


def test_bucket_count_and_names(stacks: dict[str, Stack], envs: dict[str, Environment]) -> None:
    for name, stack in stacks.items():
        buckets = resources(stack, "google_storage_bucket")
        specs = bucket_specs(envs[name])
        assert {path.removeprefix("storage/") for path in buckets} == set(specs)
        for key, spec in specs.items():
            assert buckets[f"storage/{key}"]["name"] == spec.name
    assert "storage/releases" in resources(stacks["prod"], "google_storage_bucket")
    assert "storage/releases" not in resources(stacks["dev"], "google_storage_bucket")


def test_every_bucket_is_locked_down(stacks: dict[str, Stack], envs: dict[str, Environment]) -> None:
    for name, stack in stacks.items():
        for body in resources(stack, "google_storage_bucket").values():
            assert body["uniform_bucket_level_access"] is True
            assert body["public_access_prevention"] == "enforced"
            assert body["force_destroy"] is False
            assert body["labels"] == envs[name].labels.as_dict()
            assert body["location"] == envs[name].region.upper()


def test_versioning_and_lifecycle_follow_the_file(
    stacks: dict[str, Stack], envs: dict[str, Environment]
) -> None:
    for name, stack in stacks.items():
        buckets = resources(stack, "google_storage_bucket")
        for key, spec in bucket_specs(envs[name]).items():
            body = buckets[f"storage/{key}"]
            assert body["versioning"] == {"enabled": spec.versioning}
            rules = body.get("lifecycle_rule", [])
            life = spec.lifecycle
            expected = sum(
                1
                for v in (life.nearline_after_days, life.delete_noncurrent_after_days, life.delete_after_days)
                if v
            )
            assert len(rules) == expected, key
            for rule in rules:
                condition, action = rule["condition"], rule["action"]
                if "days_since_noncurrent_time" in condition:
                    assert action == {"type": "Delete"}
                    assert condition["days_since_noncurrent_time"] == life.delete_noncurrent_after_days
                elif action["type"] == "SetStorageClass":
                    assert action["storage_class"] == "NEARLINE"
                    assert condition["age"] == life.nearline_after_days
                else:
                    assert action == {"type": "Delete"}
                    assert condition["age"] == life.delete_after_days
    prod = resources(stacks["prod"], "google_storage_bucket")["storage/artifacts"]
    assert (
        prod["lifecycle_rule"][0]["condition"]["days_since_noncurrent_time"] == 365
    )  # prod.yaml keeps a year


def test_approvers_write_only_under_approvals_and_append_audit(
    stacks: dict[str, Stack], envs: dict[str, Environment]
) -> None:
    for name, stack in stacks.items():
        env = envs[name]
        grants = resources(stack, "google_storage_bucket_iam_member")
        approver = [
            g
            for g in grants.values()
            if g["member"] == env.promotion.approvers_group and "storage_releases" not in g["bucket"]
        ]
        if not env.promotion.requires_approval:
            assert approver == []
            continue
        artifacts = env.buckets.artifacts.name
        by_role = {g["role"]: g["condition"]["expression"] for g in approver}
        assert by_role == {
            "roles/storage.objectUser": (
                f'resource.name.startsWith("projects/_/buckets/{artifacts}/objects/deployer/approvals/")'
            ),
            "roles/storage.objectCreator": (
                f'resource.name.startsWith("projects/_/buckets/{artifacts}/objects/deployer/audit/")'
            ),
        }
        assert all("google_storage_bucket.storage_artifacts_" in g["bucket"] for g in approver)


def test_release_store_grants_every_deployer_create_and_read(
    stacks: dict[str, Stack], envs: dict[str, Environment]
) -> None:
    grants = resources(stacks["prod"], "google_storage_bucket_iam_member")
    on_releases = [g for g in grants.values() if "storage_releases" in g["bucket"]]
    users = {
        f"serviceAccount:{e.resource_name('deployer')}@{e.project}.iam.gserviceaccount.com"
        for e in envs.values()
        if e.promotion.release_store == envs["prod"].buckets.releases.name  # type: ignore[union-attr]
    }
    assert len(users) == 3
    approvers = {
        e.promotion.approvers_group
        for e in envs.values()
        if e.platform == "gcp" and e.promotion.approvers_group
    }
    assert approvers  # prod's approvers verify the release they approve: read only
    assert {(g["member"], g["role"]) for g in on_releases} == {
        (u, r) for u in users for r in ("roles/storage.objectCreator", "roles/storage.objectViewer")
    } | {(a, "roles/storage.objectViewer") for a in approvers}
    assert not any(g["role"] in ("roles/storage.objectAdmin", "roles/storage.admin") for g in on_releases)


def test_deployer_owns_the_artifacts_bucket_and_the_dag_bucket(stacks: dict[str, Stack]) -> None:
    for stack in stacks.values():
        grants = resources(stack, "google_storage_bucket_iam_member")
        assert grants["storage/artifacts-objectAdmin-deployer"]["role"] == "roles/storage.objectAdmin"
        dag = grants["composer/dag-bucket-deployer"]
        assert dag["role"] == "roles/storage.objectAdmin"
        assert "dag_gcs_prefix" in dag["bucket"]
