"""`deployer release build`: an immutable bundle with a manifest, an id from the content, DAGs checked."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from platform_model import REPO_ROOT
from platform_model.domain import DOMAINS_DIR, domain_files
from platform_model.environment import environment_names
from platform_model.manifest import component_digest, parse_manifest, release_id_of
from tests.deployer.conftest import Releases, build_environments
from tests.deployer.helpers import cli, dag_source, job_files, make_jobs, make_tree, one_line_error


@pytest.fixture(autouse=True)
def one_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """The builds here parse their DAGs for the `local` environment only (one DagBag load a build);
    the real repository's build parses them for every committed environment."""
    if request.node.name != "test_builds_the_real_repository":
        monkeypatch.setenv("DEPLOYER_ENV_DIR", str(build_environments(tmp_path / "environments")))
    monkeypatch.setenv("DEPLOYER_BUILD_CACHE", str(tmp_path / "cache"))  # each test starts cold


def build(root: Path, out: Path, jobs: Path | None, *extra: str):  # type: ignore[no-untyped-def]
    args = ["release", "build", "--json", "--skip-checks", "--root", str(root), "--out", str(out)]
    if jobs is not None:
        args += ["--jobs-dir", str(jobs)]
    return cli(*args, *extra)


def test_layout_manifest_and_exclusions(releases: Releases) -> None:
    path = releases.dir / releases.a
    manifest = json.loads((path / "manifest.json").read_text())
    paths = {f["path"] for f in manifest["files"]}
    assert {"dags/a.py", "dags/b.py", "dags/c.py", "dags/lib/helpers.py", "dags/.airflowignore"} <= paths
    built = {f"jobs/{name}" for job in job_files().values() for name in [job["main"], *job["py_files"]]}
    assert built and {"jobs/jobs.json", *built} <= paths
    assert {"dbt/dbt_project.yml", "dbt/models/marts.sql", "gx/expectations/suite.json"} <= paths
    # Every domain declaration of the tree, and nothing else, under domains/ (no contracts/ any more).
    domains = {f"domains/{p.name}" for p in domain_files(DOMAINS_DIR)}
    assert len(domains) >= 3 and {p for p in paths if p.startswith("domains/")} == domains
    assert not any(p.startswith("contracts/") for p in paths)
    assert set(manifest["components"]) == {"dags", "jobs", "dbt", "gx", "domains"}
    # build output and caches never enter a release
    assert not any(
        part in {"target", "logs", "dbt_packages", "__pycache__", ".user.yml"}
        for p in paths
        for part in p.split("/")
    )
    for entry in manifest["files"]:
        data = (path / "files" / entry["path"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["size"] == len(data)
    assert {"release", "created", "builder", "git", "components", "files"} <= set(manifest)
    assert set(manifest["git"]) == {"commit", "dirty"}
    parsed = parse_manifest((path / "manifest.json").read_bytes(), "test")
    assert release_id_of(parsed.files) == releases.a
    assert parsed.components["jobs"] == component_digest(parsed.component_files("jobs"), "jobs")


def test_id_comes_from_content_only(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "src", {"a.py": dag_source("dag_a")})
    jobs = make_jobs(tmp_path / "jobs")
    first = build(root, tmp_path / "out", jobs)
    assert first.code == 0, first.err
    again = build(root, tmp_path / "out2", jobs)  # another folder, another time: the same id
    assert again.json()["release"] == first.json()["release"]
    os.utime(root / "composer" / "dags" / "a.py", (1, 1))
    reused = build(root, tmp_path / "out", jobs)
    timings = {"seconds": 0, "dag_parse": None, "timings": None, "cached": None}  # measured on every build
    assert reused.json() | timings == first.json() | timings | {"reused": True}
    (root / "composer" / "dags" / "a.py").write_text(dag_source("dag_a", task="other"))
    changed = build(root, tmp_path / "out", jobs)
    assert changed.json()["release"] != first.json()["release"]
    assert changed.json()["digests"]["jobs"] == first.json()["digests"]["jobs"]
    assert changed.json()["digests"]["dags"] != first.json()["digests"]["dags"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        [first.json()["release"], changed.json()["release"]]
    )


def test_broken_dag_refused_naming_the_file(tmp_path: Path) -> None:
    root = make_tree(
        tmp_path / "src",
        {
            "good.py": dag_source("dag_good"),
            "broken.py": dag_source("dag_broken") + "\nimport no_such_module_xyz\n",
        },
    )
    result = build(root, tmp_path / "out", make_jobs(tmp_path / "jobs"))
    line = one_line_error(result)
    assert "composer/dags/broken.py" in line
    assert "no_such_module_xyz" in line
    assert not any((tmp_path / "out").glob("r-*"))


def test_syntax_error_refused(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "src", {"bad.py": "from airflow.sdk import DAG\ndef (:\n"})
    line = one_line_error(build(root, tmp_path / "out", make_jobs(tmp_path / "jobs")))
    assert "composer/dags/bad.py" in line and "SyntaxError" in line


@pytest.mark.parametrize("name", ["evil\\name.py", "sub\\..\\x.py"])
def test_backslash_names_refused(tmp_path: Path, name: str) -> None:
    root = make_tree(tmp_path / "src", {"a.py": dag_source("dag_a")})
    (root / "composer" / "dags" / name).write_text("x = 1\n")
    line = one_line_error(build(root, tmp_path / "out", None))
    assert "unsafe file name" in line


def test_symlink_out_of_the_tree_refused(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "src", {"a.py": dag_source("dag_a")})
    (tmp_path / "secret.txt").write_text("key\n")
    os.symlink(tmp_path / "secret.txt", root / "composer" / "dags" / "escape.py")
    # A symlink to another file of the tree is fine.
    os.symlink(root / "dbt" / "dbt_project.yml", root / "composer" / "dags" / "project.yml")
    line = one_line_error(build(root, tmp_path / "out", None))
    assert "escape.py" in line and "symlink out of the source tree" in line
    (root / "composer" / "dags" / "escape.py").unlink()
    assert build(root, tmp_path / "out", make_jobs(tmp_path / "jobs")).code == 0


@pytest.mark.parametrize("ref", ["../../etc/passwd", "/etc/passwd", "missing.py"])
def test_jobs_json_must_name_files_of_the_release(tmp_path: Path, ref: str) -> None:
    root = make_tree(tmp_path / "src", {"a.py": dag_source("dag_a")})
    jobs = make_jobs(tmp_path / "jobs")
    spec = json.loads((jobs / "jobs.json").read_text())
    spec["jobs"][sorted(spec["jobs"])[0]]["py_files"] = [ref]
    (jobs / "jobs.json").write_text(json.dumps(spec))
    line = one_line_error(build(root, tmp_path / "out", jobs))
    assert "jobs" in line


def test_domain_files_are_checked(tmp_path: Path) -> None:
    """A bad domain file, a domain whose Spark job the release does not build, or no domain at all:
    one line naming the file and the field, nothing built."""
    good = {p.stem: p.read_text() for p in domain_files(DOMAINS_DIR)}
    bad = dict(good)
    name = sorted(bad)[0]
    bad[name] = re.sub(r"(?m)^owner: .*$", "owner: Not A Label", bad[name], count=1)
    root = make_tree(tmp_path / "src-bad", {"a.py": dag_source("dag_a")}, domains=bad)
    line = one_line_error(build(root, tmp_path / "out", make_jobs(tmp_path / "jobs")))
    assert f"domains/{name}.yaml: owner:" in line

    jobs = make_jobs(tmp_path / "jobs-short")
    spec = json.loads((jobs / "jobs.json").read_text())
    dropped = sorted(spec["jobs"])[0]
    del spec["jobs"][dropped]
    (jobs / "jobs.json").write_text(json.dumps(spec))
    root = make_tree(tmp_path / "src-ok", {"a.py": dag_source("dag_a")})
    line = one_line_error(build(root, tmp_path / "out", jobs))
    assert f"spark_jobs.{dropped}: the release does not build this job" in line

    root = make_tree(tmp_path / "src-none", {"a.py": dag_source("dag_a")}, domains={})
    assert "no domain files" in one_line_error(build(root, tmp_path / "out", make_jobs(tmp_path / "j")))
    assert not any((tmp_path / "out").glob("r-*"))


def test_bad_arguments(tmp_path: Path) -> None:
    assert "--root" in one_line_error(build(tmp_path / "nope", tmp_path / "out", None))
    root = make_tree(tmp_path / "src", {})
    assert "no DAG files" in one_line_error(build(root, tmp_path / "out", None))
    root2 = make_tree(tmp_path / "src2", {"a.py": dag_source("dag_a")})
    assert "--jobs-dir" in one_line_error(build(root2, tmp_path / "out", tmp_path / "missing-jobs"))


@pytest.mark.slow
def test_builds_the_real_repository(tmp_path: Path) -> None:
    if not (REPO_ROOT / "dataproc_jobs" / "build.py").is_file():
        pytest.skip("dataproc_jobs/build.py does not exist yet (the Spark build is written in parallel)")
    if shutil.which("javac") is None:
        pytest.skip("no JDK (javac) on this machine: `make setup` installs one")
    if not any((REPO_ROOT / "composer" / "dags").glob("*.py")):
        pytest.skip("composer/dags has no DAG files yet")
    result = cli("release", "build", "--json", "--out", str(tmp_path / "out"))
    assert result.code == 0, result.err
    summary = result.json()
    assert summary["components"]["dags"] > 0 and summary["components"]["jobs"] > 0
    # Parsed for every committed environment, each file within the budget.
    assert set(summary["dag_parse"]["slowest"]) == set(environment_names())
    assert all(s["ms"] <= summary["dag_parse"]["budget_ms"] for s in summary["dag_parse"]["slowest"].values())
    assert summary["components"]["domains"] == len(domain_files(DOMAINS_DIR))
    manifest = parse_manifest((Path(summary["path"]) / "manifest.json").read_bytes(), "real build")
    assert "jobs/jobs.json" in manifest.by_path()
    # Built again, the Spark artifacts are byte-identical (other files of the shared tree may change).
    again = cli("release", "build", "--json", "--skip-checks", "--out", str(tmp_path / "out"))
    assert again.json()["digests"]["jobs"] == summary["digests"]["jobs"], (
        "the Spark build must be deterministic"
    )


def manifest_of(result) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """What must not depend on the cache: every file's path, size and digests, and the components."""
    manifest = json.loads((Path(result.json()["path"]) / "manifest.json").read_text())
    return {"release": manifest["release"], "files": manifest["files"], "components": manifest["components"]}


def test_an_unchanged_dag_parse_is_not_redone_and_still_held_to_the_budget(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "src", {"a.py": dag_source("dag_a"), "b.py": dag_source("dag_b")})
    jobs = make_jobs(tmp_path / "jobs")
    first = build(root, tmp_path / "out", jobs)
    assert first.code == 0, first.err
    assert first.json()["cached"] == [] and "dag parse: local" in first.json()["timings"]
    again = build(root, tmp_path / "out", jobs)
    assert again.json()["cached"] == ["dag parse: local"]
    assert again.json()["dag_parse"] == first.json()["dag_parse"]  # the durations measured then
    # The cached durations are held to the budget of this build.
    line = one_line_error(build(root, tmp_path / "out", jobs, "--dag-parse-budget-ms", "1"))
    assert "over the 1 ms budget" in line
    # A changed DAG is parsed again; --no-cache parses and writes nothing to the cache.
    (root / "composer" / "dags" / "a.py").write_text(dag_source("dag_a", task="other"))
    changed = build(root, tmp_path / "out", jobs)
    assert changed.json()["cached"] == []
    entries = sorted((tmp_path / "cache" / "dag-parse").iterdir())
    uncached = build(root, tmp_path / "out-uncached", jobs, "--no-cache")
    assert uncached.json()["cached"] == [] and sorted((tmp_path / "cache" / "dag-parse").iterdir()) == entries
    assert manifest_of(uncached) == manifest_of(changed)


def copy_of_the_repository(target: Path) -> Path:
    """The parts of the repository a release is built from (Spark build included), copied."""
    for part in ("composer", "dataproc_jobs", "dbt", "gx", "domains", "environments"):
        shutil.copytree(
            REPO_ROOT / part, target / part, ignore=shutil.ignore_patterns("__pycache__", "target", "logs")
        )
    return target


@pytest.mark.slow
def test_an_unchanged_spark_build_is_reused_byte_for_byte(tmp_path: Path) -> None:
    if shutil.which("javac") is None:
        pytest.skip("no JDK (javac) on this machine: `make setup` installs one")
    root = copy_of_the_repository(tmp_path / "src")
    args = ("release", "build", "--json", "--skip-checks", "--root", str(root))
    first = cli(*args, "--out", str(tmp_path / "out"))
    assert first.code == 0, first.err
    assert "spark build" not in first.json()["cached"]
    # A DAG-only change: the Spark artifacts come from the cache, the DAGs are parsed again.
    dag = sorted((root / "composer" / "dags").glob("*.py"))[0]
    dag.write_text(dag.read_text() + "\n# a DAG-only change\n")
    changed = cli(*args, "--out", str(tmp_path / "out"))
    assert changed.code == 0, changed.err
    assert changed.json()["cached"] == ["spark build"]
    assert changed.json()["digests"]["jobs"] == first.json()["digests"]["jobs"]
    # Byte for byte what a build without the cache makes.
    uncached = cli(*args, "--no-cache", "--out", str(tmp_path / "out-uncached"))
    assert uncached.code == 0, uncached.err
    assert manifest_of(uncached) == manifest_of(changed)
    # A damaged entry (a file changed, or half of it gone) is rebuilt, never used.
    (entry,) = [p for p in (tmp_path / "cache" / "spark-build").iterdir() if not p.name.startswith(".")]
    zipped = sorted((entry / "files").glob("*.zip"))[0]
    zipped.write_bytes(b"damaged")
    (tmp_path / "cache" / "spark-build" / ".tmp-killed").mkdir()  # what a killed build leaves
    rebuilt = cli(*args, "--out", str(tmp_path / "out-rebuilt"))
    assert rebuilt.code == 0, rebuilt.err
    assert "spark build" not in rebuilt.json()["cached"]
    assert manifest_of(rebuilt) == manifest_of(uncached)
    (entry / "digests.json").unlink()
    again = cli(*args, "--out", str(tmp_path / "out-again"))
    assert "spark build" not in again.json()["cached"] and manifest_of(again) == manifest_of(uncached)
