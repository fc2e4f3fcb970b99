"""The stack as a whole: one per GCP environment, backend, labels everywhere, outputs, and
"prod and dev differ only where their environment files differ"."""

from __future__ import annotations

import copy
import re
from typing import Any

import yaml

from infra import REPO_ROOT
from infra.services import apis
from platform_model.domain import Domain
from platform_model.environment import Environment, load_all
from tests.infra.conftest import Stack, all_resources, labelable, resources


def test_one_stack_per_gcp_environment(stacks: dict[str, Stack], outdir: Any) -> None:
    gcp = {n for n, e in load_all().items() if e.platform == "gcp"}
    assert gcp == {"dev", "staging", "prod"}
    assert {p.name for p in (outdir / "stacks").iterdir() if p.is_dir()} == gcp
    assert set(stacks) == gcp


def test_backend_and_provider_from_the_file(stacks: dict[str, Stack], envs: dict[str, Environment]) -> None:
    for name, stack in stacks.items():
        env = envs[name]
        assert stack["terraform"]["backend"] == {
            "gcs": {"bucket": env.state.bucket, "prefix": env.state.prefix}
        }
        (google,) = stack["provider"]["google"]
        assert google == {"project": env.project, "region": env.region}
        assert stack["terraform"]["required_providers"]["google"]["source"] == "hashicorp/google"
    buckets = [envs[n].state.bucket for n in stacks]
    assert len(set(buckets)) == len(buckets), "each environment keeps its state in its own bucket"


def assert_labelled(stack: Stack, env: Environment, domains: dict[str, Domain]) -> int:
    """Every resource that takes labels carries the environment's; a domain's resources (labelled
    `domain=<name>`) carry its owner instead of the environment's. Returns how many domain resources."""
    required = env.labels.as_dict()
    assert set(required) >= {"env", "owner", "cost-center"}
    labelled = owned = 0
    for type_, path, body in all_resources(stack):
        key = labelable(type_)
        if key is None:
            continue
        labelled += 1
        got = body.get(key)
        assert isinstance(got, dict), f"{env.name}: {type_} {path} has no {key}"
        expected = dict(required)
        if "domain" in got:
            domain = domains[got["domain"]]
            expected.update(owner=domain.owner, domain=domain.domain)
            owned += 1
        assert {k: got.get(k) for k in expected} == expected, f"{env.name}: {type_} {path}"
    assert labelled >= 15
    return owned


def test_labels_on_every_labelable_resource(
    stacks: dict[str, Stack], envs: dict[str, Environment], domains: dict[str, dict[str, Domain]]
) -> None:
    for name, stack in stacks.items():
        owned = assert_labelled(stack, envs[name], domains[name])
        assert owned >= 20  # topics, subscriptions, tables, secrets, alerts of every domain


def test_every_resource_waits_for_the_project_apis(
    stacks: dict[str, Stack], envs: dict[str, Environment]
) -> None:
    for name, stack in stacks.items():
        wanted = apis(envs[name])
        services = resources(stack, "google_project_service")
        assert sorted(s["service"] for s in services.values()) == sorted(wanted)
        assert all(s["disable_on_destroy"] is False for s in services.values())
        # Every wait names each service once, in the order the APIs are declared.
        by_api = {
            body["service"]: f"google_project_service.{logical_id}"
            for logical_id, body in stack["resource"]["google_project_service"].items()
        }
        ordered = [by_api[api] for api in wanted]
        for type_, path, body in all_resources(stack):
            if type_ == "google_project_service":
                continue
            deps = [d for d in body.get("depends_on", []) if d.startswith("google_project_service.")]
            assert deps == ordered, f"{type_} {path}"
            assert not any(d.startswith("${") for d in body.get("depends_on", []))
        for type_, items in stack["data"].items():
            for body in items.values():
                deps = [d for d in body.get("depends_on", []) if d.startswith("google_project_service.")]
                assert deps == ordered, type_


def test_outputs_for_the_deployer_and_the_dags(
    stacks: dict[str, Stack], envs: dict[str, Environment], domains: dict[str, dict[str, Domain]]
) -> None:
    for name, stack in stacks.items():
        env = envs[name]
        out = {k: v["value"] for k, v in stack["output"].items()}
        assert out["project"] == env.project
        assert out["region"] == env.region
        assert out["release_store"] == env.promotion.release_store
        assert "dag_gcs_prefix" in out["composer_dag_gcs_prefix"]
        assert out["composer_dag_bucket"].startswith('${element(split("/", google_composer_environment.')
        assert out["composer_dag_bucket"].endswith("dag_gcs_prefix), 2)}")
        assert "storage_artifacts_" in out["artifacts_bucket"]
        assert "dataproc_cluster_" in out["dataproc_cluster"]
        assert sorted(out["policy_tag_ids"]) == sorted(env.policy_tag_names())
        assert all(v.startswith("${google_data_catalog_policy_tag.") for v in out["policy_tag_ids"].values())
        assert set(out["datasets"]) == {"raw", "staging", "marts"}
        ids = {layer: ds.id for layer, ds in env.bigquery.datasets.items()}
        assert all(f"bigquery_dataset-{layer}_" in ref for layer, ref in out["datasets"].items())
        deployed = domains[name]
        raw = [d.event.raw_table for d in deployed.values() if d.event]
        staging = [t.table for d in deployed.values() for t in (d.staging, d.rejects) if t]
        assert len(raw) >= 2 and len(staging) >= 4
        assert out["raw_tables"] == {t: f"{env.project}.{ids['raw']}.{t}" for t in raw}
        assert out["staging_tables"] == {t: f"{env.project}.{ids['staging']}.{t}" for t in staging}
        assert set(out["domains"]) == set(deployed)
        for domain in deployed.values():
            summary = out["domains"][domain.domain]
            assert summary["dag_ids"] == domain.dag_ids()
            assert summary["tables"] == {
                key: f"{env.project}.{ids[key.split('.')[0]]}.{key.split('.')[1]}" for key in domain.tables()
            }
            names = {
                "topic": domain.event.topic if domain.event else None,
                "subscription": domain.subscription,
                "dead_letter_topic": domain.dead_letter_topic,
                "pii_secret": domain.pii_secret,
            }
            assert {k: summary.get(k) for k in names} == names
        assert set(out["service_accounts"]) == {"composer", "dataproc", "deployer", "infra"}
        assert "workload_identity_pool_provider" in out["workload_identity_provider"]


# --- prod and dev differ only where their environment files differ --------------------------------

# Blocks that exist only when the file enables them: CMEK and the Dataproc idle TTL.
OPTIONAL_KEYS = {
    "encryption",
    "encryption_config",
    "encryption_configuration",
    "default_encryption_configuration",
    "kms_key_name",
    "lifecycle_config",
}


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Scalars of a YAML/JSON document by dotted path."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}{key}."))
        return out
    if isinstance(value, list):
        out = {}
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}{i}."))
        return out
    return {prefix.rstrip("."): value}


def env_tokens(mine: dict[str, Any], other: dict[str, Any]) -> list[tuple[str, str]]:
    """(value, placeholder) for every string of `mine` that differs from `other` at the same path.

    Only paths both files have: a value set in one file only (`idle_delete_ttl: 3600s`) must not
    rename an unrelated constant that happens to be equal.
    """
    paths: dict[str, list[str]] = {}
    for path, value in mine.items():
        if isinstance(value, str) and path in other and other[path] != value:
            paths.setdefault(value, []).append(path)
            if "-" in value:  # ids derived with underscores (data policies)
                paths.setdefault(value.replace("-", "_"), []).append(f"{path}:_")
    # A value found at several paths (dev's master and worker machine types are equal) names them all.
    pairs = {value: "<" + "|".join(sorted(found)) + ">" for value, found in paths.items()}
    return sorted(pairs.items(), key=lambda kv: -len(kv[0]))


PLACEHOLDER = re.compile(r"<([^<>]+)>")


def explained(dev: str, prod: str) -> bool:
    """Both strings are the same text around placeholders that name a common environment-file path."""
    if PLACEHOLDER.sub("<>", dev) != PLACEHOLDER.sub("<>", prod):
        return False
    pairs = zip(PLACEHOLDER.findall(dev), PLACEHOLDER.findall(prod), strict=True)
    return all(set(a.split("|")) & set(b.split("|")) for a, b in pairs)


def normalize(value: Any, tokens: list[tuple[str, str]]) -> Any:
    if isinstance(value, dict):
        return {k: normalize(v, tokens) for k, v in value.items() if k != "//"}
    if isinstance(value, list):
        return [normalize(v, tokens) for v in value]
    if isinstance(value, str):
        for raw, placeholder in tokens:
            value = re.sub(rf"(?<![A-Za-z0-9]){re.escape(raw)}(?![A-Za-z0-9])", placeholder, value)
        return value
    return value


def differences(a: Any, b: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            out += differences(a.get(key), b.get(key), f"{path}/{key}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, f"{path}[{i}]")
        ]
    return [] if a == b else [(path, a, b)]


def unexplained(
    dev_stack: Stack, prod_stack: Stack, dev_file: dict[str, Any], prod_file: dict[str, Any]
) -> list[str]:
    """Every difference between the two stacks that their environment files do not explain."""
    flat = {"dev": flatten(dev_file), "prod": flatten(prod_file)}
    numbers = {
        n: {v for v in f.values() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        for n, f in flat.items()
    }
    norm = {
        "dev": normalize(dev_stack["resource"], env_tokens(flat["dev"], flat["prod"])),
        "prod": normalize(prod_stack["resource"], env_tokens(flat["prod"], flat["dev"])),
    }
    problems: list[str] = []
    # CMEK (cmek.enabled) is the only kind of resource prod has and dev has not.
    cmek_types = {"google_kms_crypto_key", "google_kms_crypto_key_iam_member", "google_kms_key_ring"}
    if set(norm["prod"]) ^ set(norm["dev"]) != cmek_types:
        problems.append(f"resource types differ: {sorted(set(norm['prod']) ^ set(norm['dev']))}")
    for type_ in set(norm["dev"]) & set(norm["prod"]):
        dev, prod = norm["dev"][type_], norm["prod"][type_]
        problems += [f"{type_}.{n} in dev only" for n in set(dev) - set(prod)]
        # buckets.releases and promotion.approvers_group are set in prod.yaml only
        problems += [
            f"{type_}.{n} in prod only"
            for n in set(prod) - set(dev)
            if "releases" not in n and "approvers" not in n
        ]
        for name in set(dev) & set(prod):
            for path, d, p in differences(dev[name], prod[name]):
                key = path.rsplit("/", 1)[-1].split("[")[0]
                if key in OPTIONAL_KEYS:
                    continue  # CMEK blocks, Dataproc idle TTL
                if path.startswith("/depends_on"):
                    extra = {x for x in (p if isinstance(p, list) else [p]) if x is not None} - set(
                        d if isinstance(d, list) else [d]
                    )
                    if all(str(x).startswith("google_kms_crypto_key_iam_member.") for x in extra):
                        continue  # resources wait for their CMEK grants
                numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (d, p))
                if numeric and d in numbers["dev"] and p in numbers["prod"]:
                    continue
                if isinstance(d, str) and isinstance(p, str) and explained(d, p):
                    continue
                problems.append(f"{type_}.{name}{path}: dev {d!r} vs prod {p!r}")
    return problems


def env_files() -> dict[str, dict[str, Any]]:
    return {
        n: yaml.safe_load((REPO_ROOT / "environments" / f"{n}.yaml").read_text()) for n in ("dev", "prod")
    }


def test_prod_and_dev_differ_only_where_their_files_differ(stacks: dict[str, Stack]) -> None:
    files = env_files()
    assert unexplained(stacks["dev"], stacks["prod"], files["dev"], files["prod"]) == []


def test_a_hard_coded_prod_difference_is_caught(stacks: dict[str, Stack]) -> None:
    files = env_files()
    prod = copy.deepcopy(stacks["prod"])
    (cluster,) = prod["resource"]["google_dataproc_cluster"].values()
    cluster["cluster_config"]["gce_cluster_config"]["internal_ip_only"] = False  # as if `if env == "prod"`
    (composer,) = prod["resource"]["google_composer_environment"].values()
    composer["config"]["software_config"]["image_version"] = "composer-3-airflow-9.9.9"
    problems = unexplained(stacks["dev"], prod, files["dev"], files["prod"])
    assert len(problems) == 2
    assert any("internal_ip_only" in p for p in problems)
    assert any("image_version" in p for p in problems)
