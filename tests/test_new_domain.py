"""README "Add a new pipeline", followed as a new user would: in a copy of the repository, copy the
customers domain's own files under a new name (`payments`), rename inside them, and check that every
layer picks it up while no existing file was edited: validate, synth (its topic, tables, alert), the
cross-layer checks, the release build, the release's DagBag and the lineage.

One test on purpose: the synth and the release build are the expensive parts, each runs once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from composer.dag_check import dag_report
from platform_model import REPO_ROOT
from platform_model.domain import load_domains, resolve
from platform_model.environment import load_environment
from platform_model.manifest import MANIFEST_NAME, parse_manifest
from platform_model.runtime import build, to_bytes
from tests.support.domains import changed_files, copy_domain, copy_repo

NEW, TEMPLATE = "payments", "customers"


def _run(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, *args],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root), **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=1500,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, f"{' '.join(args)}: {proc.stdout[-2000:]}{proc.stderr[-3000:]}"
    return proc


def _resources(stack: dict[str, Any], kind: str) -> dict[str, Any]:
    return dict(stack.get("resource", {}).get(kind, {}))


@pytest.mark.slow(seconds=40)
def test_a_new_domain_is_new_files_only(tmp_path: Path) -> None:
    root = copy_repo(tmp_path / "repo", REPO_ROOT)
    written = copy_domain(root, TEMPLATE, NEW)

    # 1. files only: nothing existing was touched
    changes = changed_files(root)
    (root / "node_modules").symlink_to(REPO_ROOT / "node_modules")  # the CDK CLIs, for the synth below
    assert changes["touched"] == [], changes
    assert f"domains/{NEW}.yaml" in changes["added"] and f"composer/dags/{NEW}.py" in changes["added"]
    assert len(changes["added"]) == len(written)
    print(f"\na new domain: {len(written)} new files, {len(changes['touched'])} existing files touched")

    # 2. the model and every environment see it
    domains = load_domains(root / "domains")
    assert NEW in domains
    proc = _run(root, "-m", "deployer", "validate")
    assert proc.stdout.count(NEW) == proc.stdout.count("ok  ") == 5

    # 3. synth: its topic, schema, dead letters, subscription, tables, secret and one alert per DAG
    _run(root, "-m", "infra.synth")
    stack = json.loads((root / "cdktf.out" / "stacks" / "dev" / "cdk.tf.json").read_text())
    topics = {r["name"] for r in _resources(stack, "google_pubsub_topic").values()}
    assert {f"{NEW}-events", f"{NEW}-events-dlq"} <= topics
    subs = {r["name"] for r in _resources(stack, "google_pubsub_subscription").values()}
    assert f"{NEW}-events-raw" in subs
    tables = {r["table_id"] for r in _resources(stack, "google_bigquery_table").values()}
    assert {f"{NEW}_events", NEW, f"{NEW}_rejects"} <= tables
    secrets = {r["secret_id"] for r in _resources(stack, "google_secret_manager_secret").values()}
    assert f"{NEW}-pii-hash-key" in secrets
    alerts = " ".join(r["display_name"] for r in _resources(stack, "google_monitoring_alert_policy").values())
    assert f"{NEW}_daily" in alerts and f"{NEW}_freshness" in alerts

    # 4. the release build (Spark build, DagBag import check, cross-layer checks) ships its files
    releases = tmp_path / "releases"
    out = json.loads(
        _run(
            root, "-m", "deployer", "release", "build", "--json", env={"DEPLOYER_RELEASES_DIR": str(releases)}
        ).stdout
    )
    release = releases / out["release"]
    manifest = parse_manifest((release / MANIFEST_NAME).read_bytes(), "manifest")
    paths = {f.path for f in manifest.files}
    assert {f"domains/{NEW}.yaml", f"dags/{NEW}.py", f"jobs/{NEW}_clean.py", f"jobs/{NEW}.zip"} <= paths
    assert any(p.startswith(f"dbt/models/{NEW}/") for p in paths)
    assert f"gx/expectations/{NEW}/{NEW}_staging.json" in paths

    # 5. the cross-layer checks on that release find nothing
    _run(
        root,
        "-m",
        "deployer",
        "check",
        "--release",
        str(release),
        "--stacks-dir",
        str(root / "cdktf.out" / "stacks"),
    )

    # 6. the release's DAGs, parsed with the runtime config of a GCP environment, declare its DAGs
    env = load_environment("dev")
    jobs = json.loads((release / "files" / "jobs" / "jobs.json").read_text())["jobs"]
    config = build(
        env,
        resolve(env, domains),
        components=manifest.components,
        jobs=jobs,
        jobs_base="gs://bucket/jobs/x/",
        policy_tags=env.local_policy_tag_ids(),
    )
    config_file = tmp_path / "runtime_config.json"
    config_file.write_bytes(to_bytes(config))
    report = dag_report(release / "files" / "dags", runtime_config=config_file)
    assert not report["import_errors"], report["import_errors"]
    assert {f"{NEW}_daily", f"{NEW}_freshness"} <= set(report["dags"])
    for stat in report["stats"]:
        print(f"DagBag parse {Path(stat['file']).name}: {stat['duration'] * 1000:.0f} ms")

    # 7. the lineage draws it: topic -> raw -> job -> staging -> models -> suites
    lineage = tmp_path / "lineage"
    _run(
        root,
        "-m",
        "deployer",
        "lineage",
        "--release",
        out["release"],
        "--out",
        str(lineage),
        env={"DEPLOYER_RELEASES_DIR": str(releases)},
    )
    text = (lineage / f"lineage-{NEW}.mmd").read_text()
    for node in (
        f"topic_{NEW}_events",
        f"raw_{NEW}_events",
        f"job_{NEW}_clean",
        f"staging_{NEW}",
        f"suite_{NEW}_staging",
    ):
        assert node in text, node
