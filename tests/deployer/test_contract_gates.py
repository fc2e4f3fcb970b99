"""Contract evolution, enforced: `plan` and `promote` compare each domain with the release live in the
environment (read through the release store), and `check --previous-env` does it for CI.

The releases are built from temp copies of the repository's domains, one of them changed through the
domain model: a staging column dropped (breaking), the same with the major version bumped and the
migration shipped (or not), a NULLABLE column added (compatible).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from deployer.release import build_release
from platform_model.domain import DOMAINS_DIR, Column, Domain, Migration, domain_files, load_domains
from platform_model.evolution import major
from tests.conftest import DeployerEnv
from tests.deployer.conftest import build_environments
from tests.deployer.helpers import cli, dag_source, make_jobs, make_tree, one_line_error

ADDED = "note_added_by_test"


@dataclass(frozen=True)
class Variants:
    """The releases of one changed domain, and what changed."""

    dir: Path
    domain: str
    column: str
    base: str
    dropped: str
    migrated: str
    unshipped: str
    added: str
    migration: str
    version: str
    minor_bump: str


def _changed(name: str) -> tuple[Domain, str]:
    """A domain of the repository with staging, and a staging column that is not its partition."""
    domain = load_domains()[name]
    assert domain.staging is not None
    column = next(c.name for c in reversed(domain.staging.columns) if c.name != domain.staging.partition_by)
    return domain, column


def _text(domain: Domain) -> str:
    return yaml.safe_dump(domain.model_dump(mode="json", exclude_defaults=True), sort_keys=False)


def _with_staging(domain: Domain, columns: list[Column], **update: object) -> Domain:
    assert domain.staging is not None
    staging = domain.staging.model_copy(update={"columns": columns})
    return domain.model_copy(update={"staging": staging, **update})


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> Variants:
    base_dir = tmp_path_factory.mktemp("contracts")
    out = base_dir / "releases"
    envs = build_environments(base_dir / "environments")
    texts = {p.stem: p.read_text() for p in domain_files(DOMAINS_DIR)}
    name = next(n for n, d in sorted(load_domains().items()) if d.staging is not None)
    domain, column = _changed(name)
    assert domain.staging is not None
    kept = [c for c in domain.staging.columns if c.name != column]
    bumped = f"{major(domain.version) + 1}.0"
    migration = f"dbt/models/{name}/migrations/to_v{major(bumped)}.sql"
    declared = Migration(to_version=bumped, path=migration)
    added = Column(name=ADDED, type="STRING", mode="NULLABLE", description="Added by the test.")
    minor_bump = f"{major(domain.version)}.{int(domain.version.split('.')[1]) + 1}"
    changed = {
        "base": (domain, False),
        "dropped": (_with_staging(domain, kept), False),
        "migrated": (_with_staging(domain, kept, version=bumped, migration=declared), True),
        "unshipped": (_with_staging(domain, kept, version=bumped, migration=declared), False),
        "added": (_with_staging(domain, [*domain.staging.columns, added], version=minor_bump), False),
    }
    jobs = make_jobs(base_dir / "jobs")
    ids: dict[str, str] = {}
    for label, (new, ships_migration) in changed.items():
        root = make_tree(
            base_dir / f"src-{label}", {"a.py": dag_source("dag_a")}, domains={**texts, name: _text(new)}
        )
        if ships_migration:
            (root / migration).parent.mkdir(parents=True)
            (root / migration).write_text(f"-- moves {name} to {bumped}\nselect 1 as id\n")
        built = build_release(root, out, jobs_dir=jobs, run_checks=False, environments_dir=envs)
        ids[label] = built.release
    assert len(set(ids.values())) == len(ids)
    return Variants(
        out, name, column, migration=migration, version=domain.version, minor_bump=minor_bump, **ids
    )


def publish(env: DeployerEnv, variants: Variants, *labels: str) -> dict[str, str]:
    ids = {label: getattr(variants, label) for label in labels}
    for rid in ids.values():
        result = cli("release", "publish", rid, "--env", "local", "--from", str(variants.dir))
        assert result.code == 0, result.err
    return ids


def promote(rid: str) -> dict:  # type: ignore[type-arg]
    result = cli("promote", "--env", "local", "--release", rid, "--yes", "--json")
    assert result.code == 0, result.err
    return dict(result.json())


def test_first_promotion_has_nothing_to_compare(deployer_env: DeployerEnv, variants: Variants) -> None:
    publish(deployer_env, variants, "base")
    text = cli("plan", "--env", "local", "--release", variants.base)
    assert text.code == 0, text.err
    assert "Contracts: nothing live in local yet: nothing to compare with (first promotion)" in text.out
    plan = cli("plan", "--env", "local", "--release", variants.base, "--json").json()
    assert plan["contracts"]["compared_with"] is None and plan["contracts"]["changes"] == []
    report = promote(variants.base)
    assert (
        report["contracts"]["note"] == "nothing live in local yet: nothing to compare with (first promotion)"
    )
    # The same release again: compared with itself, nothing changed.
    again = cli("plan", "--env", "local", "--release", variants.base, "--json").json()
    assert again["contracts"]["compared_with"] == variants.base and again["contracts"]["changes"] == []


def test_a_dropped_staging_column_is_refused_with_nothing_written(
    deployer_env: DeployerEnv, variants: Variants
) -> None:
    publish(deployer_env, variants, "base", "dropped")
    promote(variants.base)
    buckets = deployer_env.buckets("local")
    before = deployer_env.snapshot(*buckets.values())
    where = f"domains/{variants.domain}.yaml: staging.{variants.column}: column removed (or renamed)"
    for argv in (
        ["plan", "--env", "local", "--release", variants.dropped],
        ["plan", "--env", "local", "--release", variants.dropped, "--json"],
        ["promote", "--env", "local", "--release", variants.dropped, "--yes"],
        ["promote", "--env", "local", "--release", variants.dropped, "--yes", "--json"],
    ):
        result = cli(*argv)
        line = one_line_error(result, code=1)
        assert line == (
            f"error: {variants.dropped} refused in local: 1 breaking contract change(s) against "
            f"{variants.base} live there:"
        ), line
        changes = [ln.strip() for ln in result.err.splitlines()[1:] if ln.strip()]
        assert len(changes) == 1 and changes[0].startswith(where), result.err
        assert "bump the major version" in changes[0]
        assert deployer_env.snapshot(*buckets.values()) == before, argv  # no lock, no upload, no audit
    status = cli("status", "--env", "local", "--json").json()
    assert status["release"] == variants.base


def test_a_major_bump_with_its_migration_shipped_passes(
    deployer_env: DeployerEnv, variants: Variants
) -> None:
    publish(deployer_env, variants, "base", "migrated", "unshipped")
    promote(variants.base)
    # Declared, but the release does not carry it: refused naming the path.
    line = one_line_error(cli("promote", "--env", "local", "--release", variants.unshipped, "--yes"), code=1)
    assert "1 breaking contract change(s)" in line
    err = cli("plan", "--env", "local", "--release", variants.unshipped).err
    assert (
        f"domains/{variants.domain}.yaml: migration.path: {variants.migration} is not in the release" in err
    )

    plan = cli("plan", "--env", "local", "--release", variants.migrated, "--json")
    assert plan.code == 0, plan.err
    contracts = plan.json()["contracts"]
    assert contracts["compared_with"] == variants.base and contracts["refused"] == []
    removed = [c for c in contracts["changes"] if c["column"] == variants.column]
    assert [(c["section"], c["breaking"]) for c in removed] == [("staging", True)]
    report = promote(variants.migrated)
    assert report["outcome"] == "ok" and report["contracts"]["compared_with"] == variants.base


def test_a_compatible_column_is_listed_in_the_plan(deployer_env: DeployerEnv, variants: Variants) -> None:
    publish(deployer_env, variants, "base", "added")
    promote(variants.base)
    line = f"domains/{variants.domain}.yaml: staging.{ADDED}: column added (NULLABLE) (compatible)"
    text = cli("plan", "--env", "local", "--release", variants.added)
    assert text.code == 0, text.err
    assert f"Contracts against {variants.base} live in local (1 change(s)):" in text.out
    assert f"  {line}" in text.out.splitlines()
    plan = cli("plan", "--env", "local", "--release", variants.added, "--json").json()
    assert plan["contracts"]["compatible"] == [line] and plan["contracts"]["refused"] == []
    assert plan["domains"][variants.domain]["version"] == variants.minor_bump
    assert promote(variants.added)["outcome"] == "ok"


def test_check_against_the_release_live_in_an_environment(
    deployer_env: DeployerEnv, variants: Variants
) -> None:
    publish(deployer_env, variants, "base", "dropped")
    dropped = str(variants.dir / variants.dropped)
    argv = ["check", "--release", dropped, "--previous-env", "local", "--only", "contract-evolution"]
    nothing = cli(*argv)
    assert nothing.code == 0, nothing.err
    assert "contract-evolution not run (nothing live in local to compare with)" in nothing.out

    promote(variants.base)
    result = cli(*argv)
    assert result.code == 1, result.err
    assert result.out.splitlines() == [
        f"[contract-evolution] domains/{variants.domain}.yaml: staging.{variants.column}: column removed "
        f"(or renamed) (breaking) refused: bump the major version (live {variants.version}) and declare "
        f"the migration (migration: {{to_version, path}}) (since {variants.base})"
    ]
    assert f"contract-evolution against {variants.base} live in local" in result.err
    base = cli("check", "--release", str(variants.dir / variants.base), *argv[3:])
    assert base.code == 0 and f"ok: contract-evolution (release {variants.base}" in base.out, base.err
    both = cli(*argv, "--previous", dropped)
    assert "--previous and --previous-env" in one_line_error(both)


def test_a_live_manifest_other_than_recorded_is_refused(
    deployer_env: DeployerEnv, variants: Variants
) -> None:
    publish(deployer_env, variants, "base", "added")
    promote(variants.base)
    store = deployer_env.buckets("local")["store"]
    blob = deployer_env.client.bucket(store).blob(f"releases/{variants.base}/manifest.json")
    # The same manifest, other bytes: parses, but is not the one whose digest went live.
    blob.upload_from_string(json.dumps(json.loads(blob.download_as_bytes()), indent=1) + "\n")
    line = one_line_error(cli("plan", "--env", "local", "--release", variants.added), code=1)
    assert f"is not the one recorded when {variants.base} went live in local" in line
    assert "tampered store" in line


def test_ci_compares_pull_requests_with_prod_and_make_stays_offline() -> None:
    from platform_model import REPO_ROOT

    doc = yaml.safe_load((REPO_ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))
    jobs = {
        job_id: job
        for job_id, job in doc["jobs"].items()
        if any("deployer check --previous-env prod" in str(s.get("run", "")) for s in job["steps"])
    }
    assert len(jobs) == 1, "one pull-request job compares the contracts with the release live in prod"
    (job,) = jobs.values()
    auth = [
        s["with"] for s in job["steps"] if str(s.get("uses", "")).startswith("google-github-actions/auth")
    ]
    # The read-only prod plan identity (docs/github-setup.md step 5), only where credentials may exist.
    assert auth == [
        {
            "workload_identity_provider": "${{ vars.GCP_PLAN_WIF_PROVIDER_PROD }}",
            "service_account": "${{ vars.GCP_PLAN_SA_PROD }}",
        }
    ]
    assert "vars.CI_CLOUD_CHECKS == 'true'" in job["if"]
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\ncheck-crosslayer:", 1)[1].split("\n\n", 1)[0]
    assert "deployer check" in recipe and "--previous" not in recipe
