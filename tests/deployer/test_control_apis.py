"""Composer DAG bucket and policy-tag ids resolved through the real Google clients, against local servers
speaking the Composer v1 REST API and the Data Catalog PolicyTagManager gRPC API."""

from __future__ import annotations

import uuid

import pytest

from deployer import composer_api, policy_tags
from platform_model.environment import load_environment
from tests.conftest import DeployerEnv, write_local_envs
from tests.deployer.conftest import Releases
from tests.deployer.helpers import cli, one_line_error
from tests.doubles.fake_gcp import FakeComposerApi, FakeDataCatalog

TAGS = ["PII Email", "PII Name", "PII Address"]


def test_composer_bucket_from_the_api(monkeypatch: pytest.MonkeyPatch) -> None:
    env = load_environment("staging")
    assert env.composer.dag_bucket is None
    name = "projects/acme-data-staging/locations/europe-west1/environments/acme-stg-composer"
    assert composer_api.environment_resource(env) == name
    with FakeComposerApi({name: "europe-west1-acme-stg-c-1234-bucket"}) as api:
        monkeypatch.setenv("COMPOSER_API_ENDPOINT", api.url)
        assert composer_api.dag_bucket(env) == "europe-west1-acme-stg-c-1234-bucket"
        assert api.requests and api.requests[0].startswith(f"/v1/{name}")
    with FakeComposerApi({}) as api:
        monkeypatch.setenv("COMPOSER_API_ENDPOINT", api.url)
        with pytest.raises(Exception, match="not found"):
            composer_api.dag_bucket(env)


def test_policy_tags_from_data_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    env = load_environment("prod")
    parent = "projects/acme-data-prod/locations/eu"
    with FakeDataCatalog({parent: {"acme-prd-pii": TAGS, "someone-elses": ["PII Email"]}}) as catalog:
        monkeypatch.setenv("DATACATALOG_API_ENDPOINT", catalog.endpoint)
        ids = policy_tags.resolve(env)
    assert set(ids) == set(TAGS)
    assert all(v.startswith(f"{parent}/taxonomies/") and "/policyTags/" in v for v in ids.values())
    assert len({v.rsplit("/policyTags/", 1)[0] for v in ids.values()}) == 1
    with FakeDataCatalog({parent: {"acme-prd-pii": ["PII Email", "PII Name"]}}) as catalog:
        monkeypatch.setenv("DATACATALOG_API_ENDPOINT", catalog.endpoint)
        with pytest.raises(Exception, match="'PII Address'"):
            policy_tags.resolve(env)


def test_local_policy_tag_ids_are_deterministic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATACATALOG_API_ENDPOINT", raising=False)
    env = load_environment("local")
    assert policy_tags.resolve(env)["PII Email"] == (
        "projects/acme-data-local/locations/eu/taxonomies/local/policyTags/pii-email"
    )


def test_promote_resolves_bucket_and_tags_through_the_apis(
    env_with_releases: DeployerEnv, releases: Releases, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The env file does not name the DAG bucket: the deployer asks the Composer API.
    suffix = uuid.uuid4().hex[:10]
    write_local_envs(env_with_releases.env_dir, suffix, {"local": {"composer.dag_bucket": None}})
    env = load_environment("local", env_with_releases.env_dir)
    bucket = f"t-{suffix}-from-api"
    with (
        FakeComposerApi({composer_api.environment_resource(env): bucket}) as api,
        FakeDataCatalog({env.taxonomy_parent(): {env.bigquery.taxonomy.display_name: TAGS}}) as catalog,
    ):
        monkeypatch.setenv("COMPOSER_API_ENDPOINT", api.url)
        monkeypatch.setenv("DATACATALOG_API_ENDPOINT", catalog.endpoint)
        assert cli("release", "publish", releases.a, "--env", "local").code == 0
        result = cli("promote", "--env", "local", "--release", releases.a, "--yes", "--json")
        assert result.code == 0, result.err
        assert result.json()["buckets"]["composer"] == bucket
        config = env_with_releases.objects(bucket, "dags/runtime_config.json")["dags/runtime_config.json"]
        assert b"/taxonomies/1000/policyTags/2000" in config
        assert catalog.requests[0].startswith("ListTaxonomies")

    monkeypatch.delenv("COMPOSER_API_ENDPOINT")
    monkeypatch.delenv("DATACATALOG_API_ENDPOINT")
    line = one_line_error(cli("plan", "--env", "local", "--release", releases.a))
    assert "composer.dag_bucket is not set" in line
