"""`deployer release publish` and the release store: files first, manifest once, verified before use."""

from __future__ import annotations

import json

from tests.conftest import DeployerEnv
from tests.deployer.conftest import Releases
from tests.deployer.helpers import cli, one_line_error


def test_publish_layout_and_idempotence(env_with_releases: DeployerEnv, releases: Releases) -> None:
    store = env_with_releases.buckets("local")["store"]
    first = cli("release", "publish", releases.a, "--env", "local", "--json")
    assert first.code == 0, first.err
    data = first.json()
    local_manifest = (releases.dir / releases.a / "manifest.json").read_bytes()
    objects = env_with_releases.objects(store)
    assert objects[f"releases/{releases.a}/manifest.json"] == local_manifest
    files = json.loads(local_manifest)["files"]
    assert data["uploaded"] == len(files) and data["manifest_written"]
    for entry in files:
        assert (
            objects[f"releases/{releases.a}/files/{entry['path']}"]
            == (releases.dir / releases.a / "files" / entry["path"]).read_bytes()
        )
    generation = (
        env_with_releases.client.bucket(store).get_blob(f"releases/{releases.a}/manifest.json").generation
    )

    before = env_with_releases.snapshot(store)
    again = cli("release", "publish", releases.a, "--env", "local", "--json")
    assert again.code == 0, again.err
    assert again.json()["uploaded"] == 0 and not again.json()["manifest_written"]
    assert again.json()["counters"]["uploads"] == 0
    assert env_with_releases.snapshot(store) == before
    assert (
        env_with_releases.client.bucket(store).get_blob(f"releases/{releases.a}/manifest.json").generation
        == generation
    )


def test_publish_repairs_missing_files_but_never_rewrites_the_manifest(
    env_with_releases: DeployerEnv, releases: Releases
) -> None:
    store = env_with_releases.buckets("local")["store"]
    assert cli("release", "publish", releases.a, "--env", "local").code == 0
    bucket = env_with_releases.client.bucket(store)
    manifest_generation = bucket.get_blob(f"releases/{releases.a}/manifest.json").generation
    bucket.blob(f"releases/{releases.a}/files/dags/a.py").delete()
    repaired = cli("release", "publish", releases.a, "--env", "local", "--json")
    assert repaired.json()["uploaded"] == 1
    assert bucket.get_blob(f"releases/{releases.a}/manifest.json").generation == manifest_generation


def test_env_is_required_and_release_must_be_built(
    env_with_releases: DeployerEnv, releases: Releases
) -> None:
    assert "--env is required" in one_line_error(cli("release", "publish", releases.a))
    assert "is not built" in one_line_error(cli("release", "publish", "r-000000000000", "--env", "local"))
    assert "not a release id" in one_line_error(cli("release", "publish", "latest", "--env", "local"))
    assert "unknown environment 'nope'" in one_line_error(
        cli("release", "publish", releases.a, "--env", "nope")
    )


def test_missing_or_corrupted_manifest_in_the_store(
    env_with_releases: DeployerEnv, releases: Releases
) -> None:
    store = env_with_releases.buckets("local")["store"]
    line = one_line_error(cli("plan", "--env", "local", "--release", releases.a))
    assert f"release {releases.a} is not published in gs://{store}" in line
    assert cli("release", "publish", releases.a, "--env", "local").code == 0
    blob = env_with_releases.client.bucket(store).blob(f"releases/{releases.a}/manifest.json")
    blob.upload_from_string(b'{"format": 1, "release": ')
    assert "manifest is not valid JSON" in one_line_error(
        cli("plan", "--env", "local", "--release", releases.a)
    )
    blob.upload_from_string(b'{"format": 1}')
    assert "manifest field" in one_line_error(cli("plan", "--env", "local", "--release", releases.a))


def test_tampered_store_is_refused(env_with_releases: DeployerEnv, releases: Releases) -> None:
    buckets = env_with_releases.buckets("local")
    assert cli("release", "publish", releases.a, "--env", "local").code == 0
    bucket = env_with_releases.client.bucket(buckets["store"])
    bucket.blob(f"releases/{releases.a}/files/dags/a.py").upload_from_string(b"import os  # injected\n")
    before = env_with_releases.snapshot(buckets["composer"])
    result = cli("promote", "--env", "local", "--release", releases.a, "--yes")
    line = one_line_error(result, code=1)
    assert "dags/a.py" in line and "tampered store" in line
    assert env_with_releases.snapshot(buckets["composer"]) == before

    # A manifest edited to match the injected file no longer hashes to its release id.
    manifest = json.loads((releases.dir / releases.a / "manifest.json").read_text())
    for entry in manifest["files"]:
        if entry["path"] == "dags/a.py":
            entry["sha256"] = "0" * 64
    bucket.blob(f"releases/{releases.a}/manifest.json").upload_from_string(json.dumps(manifest).encode())
    line = one_line_error(cli("promote", "--env", "local", "--release", releases.a, "--yes"), code=1)
    assert "tampered manifest" in line
    audit = cli("audit", "--env", "local", "--json").json()["entries"]
    assert [e["outcome"] for e in audit] == ["refused", "refused"]
