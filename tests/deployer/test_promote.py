"""plan / promote / re-promote / archive / rollback / status / drift against the real GCS emulator."""

from __future__ import annotations

import json
import shutil

import pytest

from deployer.config import ENVIRONMENTS_DIR
from deployer.release import parse_manifest
from tests.conftest import DeployerEnv
from tests.deployer.conftest import Releases
from tests.deployer.helpers import cli, one_line_error, run


def publish(*ids: str, env: str = "local") -> None:
    for rid in ids:
        result = cli("release", "publish", rid, "--env", env)
        assert result.code == 0, result.err


def promote(rid: str, env: str = "local", *extra: str) -> dict:  # type: ignore[type-arg]
    result = cli("promote", "--env", env, "--release", rid, "--yes", "--json", *extra)
    assert result.code == 0, result.err
    return dict(result.json())


def assert_runtime_references_exist(env: DeployerEnv, env_name: str = "local") -> dict:  # type: ignore[type-arg]
    """Every URI and path the rendered runtime config names is in the buckets."""
    buckets = env.buckets(env_name)
    composer = env.objects(buckets["composer"])
    artifacts = env.objects(buckets["artifacts"])
    config = json.loads(composer["dags/runtime_config.json"])
    for job in config["spark"]["jobs"].values():
        for uri in [job["main_python_file_uri"], *job["python_file_uris"], *job["jar_file_uris"]]:
            if uri.startswith(f"gs://{buckets['artifacts']}/"):
                assert uri.removeprefix(f"gs://{buckets['artifacts']}/") in artifacts, uri
    assert any(name.startswith(config["dbt"]["project_path"] + "/") for name in composer)
    assert any(name.startswith(config["gx"]["suites_path"] + "/") for name in composer)
    return dict(config)


def test_plan_writes_nothing(env_with_releases: DeployerEnv, releases: Releases) -> None:
    publish(releases.a)
    buckets = env_with_releases.buckets("local")
    before = env_with_releases.snapshot(*buckets.values())
    result = cli("plan", "--env", "local", "--release", releases.a, "--json")
    assert result.code == 0, result.err
    plan = result.json()
    assert env_with_releases.snapshot(*buckets.values()) == before
    assert (
        plan["counters"]["uploads"] == 0
        and plan["counters"]["deletes"] == 0
        and plan["counters"]["copies"] == 0
    )
    files = parse_manifest((releases.dir / releases.a / "manifest.json").read_bytes(), "a").files
    assert plan["summary"]["upload"] == len([f for f in files if not f.path.startswith("contracts/")]) + 1
    assert plan["summary"]["archive"] == 0 and plan["current_release"] is None
    manifest_a = parse_manifest((releases.dir / releases.a / "manifest.json").read_bytes(), releases.a)
    assert "release_id" not in plan["runtime_config"]
    assert plan["runtime_config"]["components"] == {
        name: manifest_a.components[name] for name in ("jobs", "dbt", "gx")
    }
    text = cli("plan", "--env", "local", "--release", releases.a)
    assert "Plan: " in text.out and "dags/runtime_config.json" in text.out
    assert env_with_releases.snapshot(*buckets.values()) == before


def test_promote_repromote_archive_rollback(env_with_releases: DeployerEnv, releases: Releases) -> None:
    publish(releases.a, releases.b)
    buckets = env_with_releases.buckets("local")

    first = promote(releases.a)
    assert first["outcome"] == "ok" and first["uploaded"] > 0 and first["archived"] == 0
    assert first["counters"]["uploads"] >= first["uploaded"]
    dags = env_with_releases.objects(buckets["composer"], "dags/")
    assert set(dags) == {
        "dags/a.py",
        "dags/b.py",
        "dags/c.py",
        "dags/lib/helpers.py",
        "dags/.airflowignore",
        "dags/runtime_config.json",
    }
    assert dags["dags/a.py"] == (releases.dir / releases.a / "files" / "dags" / "a.py").read_bytes()
    config = assert_runtime_references_exist(env_with_releases)
    assert config["spark"]["cluster_name"] == "acme-local-etl"
    assert config["dbt"]["vars"]["policy_tags"]["PII Email"].endswith(
        "/taxonomies/local/policyTags/pii-email"
    )
    assert config["spark"]["jobs"]["orders_daily"]["jar_file_uris"][-1].startswith("gs://spark-lib/")

    # A completed promotion run again uploads nothing.
    before = env_with_releases.snapshot(buckets["composer"])
    again = promote(releases.a)
    assert again["outcome"] == "unchanged"
    assert again["uploaded"] == 0 and again["counters"]["uploads"] == 0 and again["archived"] == 0
    assert env_with_releases.snapshot(buckets["composer"]) == before

    # B: b changed, c removed, d added, same jobs: c is archived (copied, then removed), jobs not re-uploaded;
    # the runtime config does not change (same components).
    config_before = env_with_releases.objects(buckets["composer"], "dags/runtime_config.json")
    second = promote(releases.b)
    assert second["previous_release"] == releases.a
    assert env_with_releases.objects(buckets["composer"], "dags/runtime_config.json") == config_before
    uploaded_dags = {"dags/b.py", "dags/d.py"}
    assert second["uploaded"] == len(uploaded_dags), second
    assert second["archived"] == 2 and second["archived_overwritten"] == 1  # c removed, b overwritten
    archive_name = next(name for name in second["archive"] if name.endswith("/dags/c.py"))
    assert archive_name.endswith(f"/{releases.a}/dags/c.py") and archive_name.startswith("archive/")
    artifacts = env_with_releases.objects(buckets["artifacts"])
    assert artifacts[archive_name] == (releases.dir / releases.a / "files" / "dags" / "c.py").read_bytes()
    dags = env_with_releases.objects(buckets["composer"], "dags/")
    assert "dags/c.py" not in dags and "dags/d.py" in dags
    assert_runtime_references_exist(env_with_releases)

    status = cli("status", "--env", "local", "--json")
    assert status.code == 0, status.err
    data = status.json()
    assert {"env", "release", "promoted_at", "promoted_by"} <= set(data)
    assert data["release"] == releases.b and data["previous_release"] == releases.a
    assert data["promoted_by"] and data["authenticated"] is False
    assert data["last_promotion"]["uploaded"] == 2 and data["last_promotion"]["archived"] == 2
    assert data["files"]["dags"] == 5

    assert cli("drift", "--env", "local").code == 0

    back = cli("rollback", "--env", "local", "--yes", "--json")
    assert back.code == 0, back.err
    assert back.json()["release"] == releases.a and back.json()["kind"] == "rollback"
    dags = env_with_releases.objects(buckets["composer"], "dags/")
    assert "dags/c.py" in dags and "dags/d.py" not in dags
    artifacts = env_with_releases.objects(buckets["artifacts"], "archive/")
    assert any(name.endswith(f"/{releases.b}/dags/d.py") for name in artifacts)
    assert cli("status", "--env", "local", "--json").json()["release"] == releases.a

    actions = [
        (e["action"], e["outcome"]) for e in cli("audit", "--env", "local", "--json").json()["entries"]
    ]
    assert actions == [("promote", "ok"), ("promote", "unchanged"), ("promote", "ok"), ("rollback", "ok")]


def test_component_paths_are_content_addressed(env_with_releases: DeployerEnv, releases: Releases) -> None:
    publish(releases.b, releases.c)
    promote(releases.b)
    changed = promote(releases.c)  # jobs v2 and another dbt model: new component paths, old ones kept
    buckets = env_with_releases.buckets("local")
    jobs_dirs = {n.split("/")[1] for n in env_with_releases.objects(buckets["artifacts"], "jobs/")}
    assert len(jobs_dirs) == 2
    assert changed["archived"] == 0
    config = assert_runtime_references_exist(env_with_releases)
    manifest_c = parse_manifest((releases.dir / releases.c / "manifest.json").read_bytes(), releases.c)
    assert config["components"]["jobs"] == manifest_c.components["jobs"]
    assert config["spark"]["jobs"]["orders_daily"]["main_python_file_uri"].endswith(
        f"/jobs/{manifest_c.components['jobs']}/orders_job.py"
    )


def test_drift_reports_added_changed_missing(env_with_releases: DeployerEnv, releases: Releases) -> None:
    publish(releases.a)
    promote(releases.a)
    bucket = env_with_releases.client.bucket(env_with_releases.buckets("local")["composer"])
    bucket.blob("dags/a.py").upload_from_string(b"# edited in the bucket\n")
    bucket.blob("dags/b.py").delete()
    bucket.blob("dags/hotfix.py").upload_from_string(b"# dropped in by hand\n")
    result = cli("drift", "--env", "local", "--json")
    assert result.code == 1
    data = result.json()
    assert data["drift"] is True
    assert [u.rsplit("/", 1)[-1] for u in data["changed"]] == ["a.py"]
    assert [u.rsplit("/", 1)[-1] for u in data["missing"]] == ["b.py"]
    assert [u.rsplit("/", 1)[-1] for u in data["added"]] == ["hotfix.py"]
    text = cli("drift", "--env", "local")
    assert text.code == 1 and "drift found" in text.out
    # Promoting again repairs it; the hand-made file and the hand-edited a.py are archived, not lost.
    repaired = promote(releases.a)
    assert repaired["uploaded"] == 2 and repaired["archived"] == 2 and repaired["archived_overwritten"] == 1
    assert cli("drift", "--env", "local").code == 0


def test_rollback_refusals(env_with_releases: DeployerEnv, releases: Releases) -> None:
    publish(releases.a, releases.b)
    assert "no previous release" in one_line_error(cli("rollback", "--env", "local", "--yes"), code=1)
    promote(releases.a)
    line = one_line_error(cli("rollback", "--env", "local", "--to", releases.b, "--yes"), code=1)
    assert "was never live" in line


def test_confirmation(env_with_releases: DeployerEnv, releases: Releases) -> None:
    publish(releases.a)
    buckets = env_with_releases.buckets("local")
    before = env_with_releases.snapshot(*buckets.values())
    line = one_line_error(
        run(["promote", "--env", "local", "--release", releases.a], env_with_releases.environ()), 1
    )
    assert "--yes" in line
    assert env_with_releases.snapshot(*buckets.values()) == before


def test_bad_arguments_exit_2_with_one_line(env_with_releases: DeployerEnv, releases: Releases) -> None:
    assert "unknown environment 'nope'" in one_line_error(
        cli("promote", "--env", "nope", "--release", releases.a)
    )
    assert "not a release id" in one_line_error(
        cli("promote", "--env", "local", "--release", "r-XYZ", "--yes")
    )
    assert "not a release id" in one_line_error(cli("plan", "--env", "local", "--release", "../../etc"))
    line = one_line_error(cli("promote", "--env", "local", "--release", "r-0123456789ab", "--yes"))
    assert "is not published" in line
    assert "--env is required" in one_line_error(cli("status"))
    shutil.copy(ENVIRONMENTS_DIR / "staging.yaml", env_with_releases.env_dir / "staging.yaml")
    assert "--as is only accepted on the local platform" in one_line_error(
        cli("promote", "--env", "staging", "--release", releases.a, "--yes", "--as", "mallory"),
    )


def test_gcp_env_never_talks_to_the_emulator(
    env_with_releases: DeployerEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEPLOYER_ENV_DIR")  # the committed files: staging is a gcp environment
    line = one_line_error(cli("status", "--env", "staging"))
    assert "STORAGE_EMULATOR_HOST is set" in line


def test_unreachable_emulator(env_with_releases: DeployerEnv, releases: Releases) -> None:
    from deployer.emulator import free_port

    url = f"http://127.0.0.1:{free_port()}"
    result = run(["status", "--env", "local"], env_with_releases.environ(STORAGE_EMULATOR_HOST=url))
    assert one_line_error(result) == f"error: cannot reach the GCS emulator at {url}: connection refused " + (
        "(start one: python -m deployer.emulator start)"
    )


def test_json_logs(env_with_releases: DeployerEnv, releases: Releases) -> None:
    publish(releases.a)
    result = cli("--log-format", "json", "promote", "--env", "local", "--release", releases.a, "--yes")
    assert result.code == 0, result.err
    records = [json.loads(line) for line in result.err.splitlines() if line.strip()]
    events = [r["event"] for r in records]
    assert events[0] == "promotion_started" and "promotion_finished" in events and "audit" in events
    finished = next(r for r in records if r["event"] == "promotion_finished")
    assert finished["env"] == "local" and finished["release"] == releases.a and finished["uploaded"] > 0
    assert all({"time", "level", "event"} <= set(r) for r in records)
    bad = cli("--log-format", "xml", "status", "--env", "local")
    assert bad.code == 2 and "Traceback" not in bad.err


@pytest.mark.parametrize(
    "command",
    [
        ["release", "build"],
        ["release", "publish"],
        ["plan"],
        ["promote"],
        ["rollback"],
        ["status"],
        ["drift"],
        ["audit"],
        ["unlock"],
        ["approval", "request"],
        ["approval", "grant"],
        ["approval", "list"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = cli(*command, "--help")
    assert result.code == 0 and "Usage" in result.out
