"""plan / promote / re-promote / archive / rollback / status / drift against the real GCS emulator."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from deployer.airflow_local import STATE_DIR_ENV
from deployer.promote import DEFAULT_WAIT_SECONDS
from deployer.verify import PASSWORD_ENV, URL_ENV
from platform_model.domain import load_domains
from platform_model.environment import ENVIRONMENTS_DIR
from platform_model.manifest import parse_manifest
from tests.conftest import DeployerEnv, write_local_envs
from tests.deployer.conftest import Releases
from tests.deployer.helpers import cli, job_files, one_line_error, run

# The three sample domains, as the release fixtures carry them (domains/ copied from the repository).
SAMPLE_DOMAINS = {"orders", "customers", "revenue"}


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
    # Every file but the domain declarations (read to render the runtime config), plus that config.
    assert plan["summary"]["upload"] == len([f for f in files if not f.path.startswith("domains/")]) + 1
    assert plan["summary"]["archive"] == 0 and plan["current_release"] is None
    manifest_a = parse_manifest((releases.dir / releases.a / "manifest.json").read_bytes(), releases.a)
    assert "release_id" not in plan["runtime_config"]
    assert plan["runtime_config"]["components"] == {
        name: manifest_a.components[name] for name in ("jobs", "dbt", "gx")
    }
    text = cli("plan", "--env", "local", "--release", releases.a)
    assert "Plan: " in text.out and "dags/runtime_config.json" in text.out
    assert env_with_releases.snapshot(*buckets.values()) == before


def test_plan_lists_the_domains_it_deploys(env_with_releases: DeployerEnv, releases: Releases) -> None:
    publish(releases.a)
    result = cli("plan", "--env", "local", "--release", releases.a, "--json")
    assert result.code == 0, result.err
    plan = result.json()
    declared = load_domains()
    assert set(declared) >= SAMPLE_DOMAINS
    assert set(plan["domains"]) == set(declared) and plan["switched_off_domains"] == []
    for name, domain in declared.items():
        assert plan["domains"][name] == {
            "version": domain.version,
            "owner": domain.owner,
            "dags": domain.dag_ids(),
        }
    # Inputs come first: the cross-domain mart after the domains it reads.
    order = list(plan["domains"])
    assert order.index("revenue") > max(order.index("orders"), order.index("customers"))
    text = cli("plan", "--env", "local", "--release", releases.a).out
    assert f"Domains ({len(declared)}):" in text
    assert "  revenue 1.0: revenue_daily" in text
    assert "  orders 1.0: orders_daily, orders_freshness" in text


def test_runtime_config_has_one_entry_per_enabled_domain(
    env_with_releases: DeployerEnv, releases: Releases
) -> None:
    publish(releases.a)
    every = cli("plan", "--env", "local", "--release", releases.a, "--json").json()["runtime_config"]
    assert set(every["domains"]) == SAMPLE_DOMAINS
    orders, revenue = every["domains"]["orders"], every["domains"]["revenue"]
    assert orders["pubsub_topic"] == "orders-events" and orders["pubsub_subscription"] == "orders-events-raw"
    assert orders["raw_table"] == "orders_events" and set(orders["dags"]) == {
        "orders_daily",
        "orders_freshness",
    }
    assert revenue["pubsub_topic"] is None and revenue["inputs"] == ["orders", "customers"]
    assert revenue["input_assets"] == [every["domains"][d]["asset"] for d in ("orders", "customers")]
    # Every Spark job a domain runs is in spark.jobs, and nothing else.
    assert set(every["spark"]["jobs"]) == {j for d in every["domains"].values() for j in d["spark_jobs"]}

    # local switches revenue off and retimes orders' daily DAG; local-prod is not touched.
    write_local_envs(
        env_with_releases.env_dir,
        env_with_releases.suffix,
        {"local": {"domains.revenue.enabled": False, "domains.orders.dags.daily.retries": 5}},
    )
    plan = cli("plan", "--env", "local", "--release", releases.a, "--json").json()
    assert set(plan["runtime_config"]["domains"]) == SAMPLE_DOMAINS - {"revenue"}
    assert set(plan["domains"]) == SAMPLE_DOMAINS - {"revenue"}
    assert plan["switched_off_domains"] == ["revenue"]
    assert plan["runtime_config"]["domains"]["orders"]["dags"]["orders_daily"]["retries"] == 5
    assert (
        "not deployed here (switched off in the environment file): revenue"
        in cli("plan", "--env", "local", "--release", releases.a).out
    )
    other = cli("plan", "--env", "local-prod", "--release", releases.a, "--json").json()
    assert set(other["runtime_config"]["domains"]) == SAMPLE_DOMAINS

    promote(releases.a)
    status = cli("status", "--env", "local", "--json").json()
    assert set(status["domains"]) == SAMPLE_DOMAINS - {"revenue"}


def test_bad_domain_override_refused_at_plan(env_with_releases: DeployerEnv, releases: Releases) -> None:
    publish(releases.a)
    buckets = env_with_releases.buckets("local")
    write_local_envs(
        env_with_releases.env_dir, env_with_releases.suffix, {"local": {"domains.customers.enabled": False}}
    )
    line = one_line_error(cli("plan", "--env", "local", "--release", releases.a))
    assert line.startswith("error: environments/local.yaml: domains.customers.enabled: is false")
    assert "'revenue' reads it" in line
    write_local_envs(
        env_with_releases.env_dir, env_with_releases.suffix, {"local": {"domains.payments.enabled": False}}
    )
    before = env_with_releases.snapshot(*buckets.values())
    line = one_line_error(cli("promote", "--env", "local", "--release", releases.a, "--yes"))
    assert "environments/local.yaml: domains.payments: no such domain" in line
    assert {k: v for k, v in env_with_releases.snapshot(*buckets.values()).items() if "/dags/" in k} == {
        k: v for k, v in before.items() if "/dags/" in k
    }


def test_promote_repromote_archive_rollback(env_with_releases: DeployerEnv, releases: Releases) -> None:
    publish(releases.a, releases.b)
    buckets = env_with_releases.buckets("local")

    first = promote(releases.a)
    assert first["outcome"] == "ok" and first["uploaded"] > 0 and first["archived"] == 0
    assert first["counters"]["uploads"] + first["counters"]["copies"] >= first["uploaded"]
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
    for name, job in job_files().items():
        if job["connectors"]:  # connector jars by URI from the environment file, after the release's jars
            assert config["spark"]["jobs"][name]["jar_file_uris"][-1].startswith("gs://spark-lib/")
    assert set(config["domains"]) == SAMPLE_DOMAINS

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
    assert data["files"]["dags"] == 5 and data["files"]["domains"] == len(load_domains())
    # Per domain: its DAG ids and contract version, from the live release.
    assert data["domains"] == {
        name: {"version": d.version, "dags": d.dag_ids()} for name, d in load_domains().items()
    }
    text = cli("status", "--env", "local").out
    assert (
        f"Domains ({len(load_domains())}):" in text
        and "customers 1.0: customers_daily, customers_freshness" in text
    )

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
    for name, job in job_files().items():
        assert config["spark"]["jobs"][name]["main_python_file_uri"].endswith(
            f"/jobs/{manifest_c.components['jobs']}/{job['main']}"
        )
    # The files of a changed component that the live release's prefix holds byte for byte are copied
    # server-side; only the others' bytes move.
    manifest_b = parse_manifest((releases.dir / releases.b / "manifest.json").read_bytes(), releases.b)
    held = {(f.path.split("/", 1)[0], f.md5, f.size) for f in manifest_b.files}
    changed_components = [c for c in ("jobs", "dbt") if manifest_b.components[c] != manifest_c.components[c]]
    files_c = [f for c in changed_components for f in manifest_c.component_files(c)]
    same = [f for f in files_c if (f.path.split("/", 1)[0], f.md5, f.size) in held]
    assert changed_components == ["jobs", "dbt"] and same and len(same) < len(files_c)
    # The others are copied server-side from the release store; only the rendered runtime config and
    # the DAG files that overwrite (their writes are conditioned on the generation archived) are uploaded.
    in_b = manifest_b.by_path()
    overwritten = [
        f for f in manifest_c.component_files("dags") if f.path in in_b and in_b[f.path].md5 != f.md5
    ]
    assert (
        changed["server_side_copies"]
        == changed["counters"]["copies"]
        == changed["uploaded"] - 1 - len(overwritten)
    )
    assert changed["copied_from_store"] == changed["server_side_copies"] - len(same)
    runtime_config = env_with_releases.objects(buckets["composer"], "dags/runtime_config.json")
    assert changed["bytes_uploaded"] == sum(f.size for f in overwritten) + len(
        runtime_config["dags/runtime_config.json"]
    )
    dbt_c = env_with_releases.objects(buckets["composer"], f"data/dbt/{manifest_c.components['dbt']}/")
    for entry in manifest_c.component_files("dbt"):
        local = (releases.dir / releases.c / "files" / entry.path).read_bytes()
        assert dbt_c[f"data/dbt/{manifest_c.components['dbt']}/{entry.path[4:]}"] == local


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


# -- DAG runs in progress (the runs themselves: tests/deployer/test_run_aware.py, against the real Airflow)


def test_local_without_airflow_has_no_runs_and_says_so(
    env_with_releases: DeployerEnv, releases: Releases, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path / "no-airflow"))  # no `deployer airflow start` here
    monkeypatch.delenv(URL_ENV, raising=False)
    publish(releases.a, releases.b)
    first = cli("promote", "--env", "local", "--release", releases.a, "--yes", "--json")
    assert first.code == 0, first.err
    # Nothing existed: no run could see the first promotion, and Airflow is not even looked for.
    assert first.json()["dag_runs"]["checked"] is False and "no Airflow" not in first.err
    second = cli("promote", "--env", "local", "--release", releases.b, "--yes", "--json")
    assert second.code == 0, second.err
    assert "no Airflow is running for local: no DAG runs to wait for" in second.err
    assert second.json()["dag_runs"] == {
        "checked": False,
        "note": "no Airflow is running for local: no DAG runs to wait for",
    }


def test_an_airflow_that_cannot_be_asked_refuses_unless_forced(
    env_with_releases: DeployerEnv, releases: Releases, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deployer.emulator import free_port

    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv(URL_ENV, url)
    monkeypatch.setenv(PASSWORD_ENV, "x")  # pragma: allowlist secret
    publish(releases.a, releases.b)
    promote(releases.a)  # a first promotion changes nothing in place: Airflow is not asked
    buckets = env_with_releases.buckets("local")
    before = env_with_releases.snapshot(buckets["composer"])
    line = one_line_error(cli("promote", "--env", "local", "--release", releases.b, "--yes"), code=1)
    assert f"cannot check the DAG runs of local (Airflow API at {url} is unreachable" in line
    assert "nothing uploaded (--force promotes without the check)" in line
    assert env_with_releases.snapshot(buckets["composer"]) == before
    refused = cli("audit", "--env", "local", "--json").json()["entries"][-1]
    assert (refused["action"], refused["outcome"], refused["release"]) == ("promote", "refused", releases.b)
    assert url in refused["details"]["dag_runs_not_checked"]

    forced = promote(releases.b, "local", "--force")
    assert forced["outcome"] == "ok" and forced["dag_runs"]["forced"] is True
    entry = cli("audit", "--env", "local", "--json").json()["entries"][-1]
    assert (entry["outcome"], entry["release"]) == ("ok", releases.b)
    assert entry["reason"].startswith("--force: DAG runs not checked (Airflow API at ")
    assert url in entry["details"]["dag_runs_not_checked"]


def test_wait_is_bounded_by_the_lock(env_with_releases: DeployerEnv, releases: Releases) -> None:
    publish(releases.a)
    for bad in ("-1", "1800"):
        line = one_line_error(
            cli("promote", "--env", "local", "--release", releases.a, "--yes", "--wait", bad)
        )
        assert line.startswith(f"error: --wait: {bad} is not between 0 and the lock's promotion.lock_ttl")
    help_text = cli("promote", "--help").out
    assert "--wait" in help_text and "--force" in help_text and str(int(DEFAULT_WAIT_SECONDS)) in help_text


def test_first_promotion_copies_the_release_from_the_store(
    deployer_env: DeployerEnv, releases: Releases, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no local build (a CI runner), the files go server-side from the store: only the rendered
    runtime config is uploaded, and every copy has the manifest's bytes and a content type of its own."""
    monkeypatch.setenv("DEPLOYER_RELEASES_DIR", str(releases.dir))
    publish(releases.a)
    monkeypatch.setenv("DEPLOYER_RELEASES_DIR", str(deployer_env.releases_dir))  # empty: no local copy
    first = promote(releases.a)
    manifest = parse_manifest((releases.dir / releases.a / "manifest.json").read_bytes(), releases.a)
    # Every file but the domain declarations (they travel in the runtime config), and that config.
    deployed = sum(len(manifest.component_files(c)) for c in ("jobs", "dbt", "gx", "dags"))
    assert deployed < len(manifest.files) and first["uploaded"] == deployed + 1
    assert first["copied_from_store"] == first["server_side_copies"] == deployed
    assert first["counters"]["uploads"] == 1
    config = deployer_env.objects(deployer_env.buckets("local")["composer"], "dags/runtime_config.json")
    assert first["bytes_uploaded"] == len(config["dags/runtime_config.json"])
    composer = deployer_env.client.bucket(deployer_env.buckets("local")["composer"])
    dag = composer.get_blob("dags/a.py")
    assert dag.content_type == "text/x-python"
    assert dag.download_as_bytes() == (releases.dir / releases.a / "files" / "dags" / "a.py").read_bytes()


def test_a_store_file_replaced_after_the_check_is_read_and_refused(
    env_with_releases: DeployerEnv, releases: Releases, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy names the generation the store's listing showed; when another writer replaced the file
    meanwhile, that generation is gone, so the file is read instead, and its sha256 refuses it."""
    from deployer.context import load_env, open_target
    from deployer.plan import compute
    from deployer.promote import uploader
    from deployer.state import State
    from deployer.store import ReleaseStore
    from platform_model.errors import Refused

    publish(releases.a)
    target = open_target(load_env("local"))
    store = ReleaseStore(target.gcs, target.store)
    published = store.fetch(releases.a)
    published.local = None  # as on a CI runner: the bytes can only come from the store
    plan = compute(target, store, published, State(env="local"))
    (item,) = [u for u in plan.uploads if u.name == "dags/a.py"]
    assert item.copy_from is not None and item.copy_from[0] == store.bucket
    client = env_with_releases.client
    client.bucket(store.bucket).blob(f"releases/{releases.a}/files/dags/a.py").upload_from_string(
        b"import os  # injected\n"
    )
    with pytest.raises(Refused, match=r"dags/a\.py does not match the manifest.s sha256"):
        uploader(store, published, plan)(item)
    assert client.bucket(target.composer).get_blob("dags/a.py") is None
