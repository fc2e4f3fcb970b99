"""Releases: build once into an immutable bundle with a manifest; local copies of built releases.

A release is `manifest.json` + `files/<path>` (the manifest model lives in `platform_model.manifest`).
The build bundles the DAG folder, the Spark artifacts, the dbt project, the GX suites and the domain
declarations (`domains/*.yaml`), refuses what could not run (a `jobs.json` naming files the release
lacks, a domain whose Spark job the release does not build, a DAG file that does not import or parses
slower than its budget with the runtime config of any target environment, the cross-layer findings)
and writes it under `<out>/<release id>/`.

The DAG files are parsed the way Composer's DAG processor parses them: once per environment of the
environments folder, with the runtime config `platform_model.runtime.render` gives that environment
for this release (so the files declare their DAGs, as they do there), in one DagBag load per
environment, all in one interpreter that imports Airflow once (`composer.dag_check.dag_reports`); the
`spark-artifacts` check reuses those loads instead of loading the DAGs again. A file over its budget
(DagBag's own per-file duration; 200 ms unless `--dag-parse-budget-ms` or
`$DEPLOYER_DAG_PARSE_BUDGET_MS` say otherwise) slows every scheduler loop of that environment: the
build refuses it.

What does not change is not redone (`BuildCache`, under `$DEPLOYER_BUILD_CACHE` or `build/cache`): the
Spark build is keyed by the digest of its sources (the tree's `dataproc_jobs/`, domain and environment
files, the model, the JDK and pyspark), each environment's DAG parse by the digest of the DAG folder and
the runtime config it was parsed with, and the expensive cross-layer checks by the digests of the
components they read. Only passing results are kept; every key also covers the code that computes them
(`toolchain_digest`). A cached build is byte for byte the uncached one (the manifest's digests are equal).
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deployer.context import env_dir
from platform_model import REPO_ROOT
from platform_model.cache import BuildCache, default_cache_dir, hash_files
from platform_model.domain import domain_files, load_domains
from platform_model.environment import Environment, load_all
from platform_model.errors import ConfigError, Refused
from platform_model.manifest import (
    COMPONENTS,
    JOBS_FILE,
    MANIFEST_NAME,
    FileEntry,
    GitInfo,
    Manifest,
    check_release_id,
    component_digest,
    file_entry,
    parse_jobs,
    parse_manifest,
    release_id_of,
    safe_path,
    verify_bytes,
)
from platform_model.runtime import RUNTIME_CONFIG_NAME, render, to_bytes

# Imported here, not inside the build: a cross-layer module that does not import fails every build
# (and `deployer release build` says so in one line) instead of turning the checks into a skip.

RELEASES_DIR_ENV = "DEPLOYER_RELEASES_DIR"
DAG_PARSE_BUDGET_ENV = "DEPLOYER_DAG_PARSE_BUDGET_MS"
DEFAULT_DAG_PARSE_BUDGET_MS = 200

# What never enters a release, wherever it appears in a source tree.
_ALWAYS_EXCLUDED_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
_ALWAYS_EXCLUDED_SUFFIXES = (".pyc", ".pyo")
_DBT_EXCLUDED_DIRS = {"target", "logs", "dbt_packages"}
_DBT_EXCLUDED_FILES = {".user.yml"}


def default_releases_dir() -> Path:
    """Where local releases live: `$DEPLOYER_RELEASES_DIR`, else `build/releases` in the repo."""
    return Path(os.environ.get(RELEASES_DIR_ENV) or REPO_ROOT / "build" / "releases")


# -- build cache -----------------------------------------------------------------------------------

_CACHE_VERSION = "1"
# The code that computes a cached result: a change to any of it is a new key for every entry.
_TOOLCHAIN_GLOBS = (
    "platform_model/**/*.py",
    "composer/*.py",
    "policies/**/*.py",
    "dataproc_jobs/build.py",
    "deployer/release.py",
    "uv.lock",
)


def _tree_files(base: Path, label: str, pattern: str = "**/*") -> list[tuple[str, Path]]:
    """(label/relative path, path) of every file under `base` matching `pattern`, caches left out."""
    if not base.is_dir():
        return []
    return [
        (f"{label}/{p.relative_to(base).as_posix()}", p)
        for p in base.glob(pattern)
        if p.is_file()
        and not _ALWAYS_EXCLUDED_DIRS & set(p.parts)
        and not p.name.endswith(_ALWAYS_EXCLUDED_SUFFIXES)
    ]


def toolchain_digest() -> str:
    """sha256 of the code that builds and checks a release (`_TOOLCHAIN_GLOBS`) and of the Python version."""
    digest = hashlib.sha256(f"toolchain {_CACHE_VERSION} {sys.version_info[:3]}\n".encode())
    files: list[tuple[str, Path]] = []
    for pattern in _TOOLCHAIN_GLOBS:
        files += [(p.relative_to(REPO_ROOT).as_posix(), p) for p in REPO_ROOT.glob(pattern) if p.is_file()]
    hash_files(digest, [f for f in files if "__pycache__" not in f[1].parts])
    return digest.hexdigest()


def _tool_identity(name: str) -> str:
    found = shutil.which(name)
    if not found:
        return f"{name}: none"
    real = Path(found).resolve()
    stat = real.stat()
    return f"{name}: {real} {stat.st_size} {stat.st_mtime_ns}"


def spark_build_key(root: Path, toolchain: str) -> str:
    """The digest a Spark build of `root` is cached under: every file it reads (the tree's
    `dataproc_jobs/`, `domains/` and `environments/` files, and the model it imports), the JDK and pyspark
    it compiles and links with, and `toolchain`."""
    import importlib.metadata

    digest = hashlib.sha256(f"spark-build {_CACHE_VERSION} {toolchain}\n".encode())
    for tool in ("javac", "jar"):
        digest.update(f"{_tool_identity(tool)}\n".encode())
    try:
        digest.update(f"pyspark {importlib.metadata.version('pyspark')}\n".encode())
    except importlib.metadata.PackageNotFoundError:
        digest.update(b"pyspark none\n")
    files = _tree_files(root / "dataproc_jobs", "dataproc_jobs")
    files += _tree_files(root / "platform_model", "platform_model", "**/*.py")
    files += [(f"domains/{p.name}", p) for p in domain_files(root / "domains")]
    files += [(f"environments/{p.name}", p) for p in (root / "environments").glob("*.yaml")]
    hash_files(digest, files)
    return digest.hexdigest()


# -- local releases --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalRelease:
    """A release on local disk: `<dir>/manifest.json` and `<dir>/files/...`."""

    path: Path
    manifest: Manifest
    manifest_bytes: bytes

    def file_path(self, rel: str) -> Path:
        """Local path of release file `rel`."""
        return self.path / "files" / rel

    def read_verified(self, entry: FileEntry) -> bytes:
        """The bytes of one file, verified against the manifest."""
        try:
            data = self.file_path(entry.path).read_bytes()
        except OSError:
            raise Refused(f"{self.path}: {entry.path} is missing from the local release") from None
        return verify_bytes(entry, data, str(self.path))


def load_local(release_id: str, releases_dir: Path | None = None) -> LocalRelease:
    """The local release `release_id` (manifest checked), or ConfigError if it is not there."""
    check_release_id(release_id)
    base = releases_dir or default_releases_dir()
    path = base / release_id
    manifest_path = path / MANIFEST_NAME
    if not manifest_path.is_file():
        raise ConfigError(f"release {release_id} is not built in {base} (run: deployer release build)")
    data = manifest_path.read_bytes()
    return LocalRelease(path, parse_manifest(data, str(manifest_path), release_id), data)


def find_local(release_id: str, releases_dir: Path | None = None) -> LocalRelease | None:
    """The local release if present and readable, else None (the store is then the only source)."""
    try:
        return load_local(release_id, releases_dir)
    except (ConfigError, Refused):
        return None


# -- build -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildResult:
    """What `build_release` made."""

    release: str
    path: Path
    manifest: Manifest
    reused: bool
    seconds: float
    checks: list[str]
    dag_parse: DagParse | None = None
    timings: dict[str, float] | None = None
    """Seconds of each step (`spark build`, `collect`, `dag parse: <env>`, `check: <name>`, ...)."""
    cached: tuple[str, ...] = ()
    """The steps whose result came from the build cache."""

    def summary(self) -> dict[str, Any]:
        """JSON-friendly summary (what `release build --json` prints)."""
        counts = {c: len(self.manifest.component_files(c)) for c in COMPONENTS}
        return {
            "release": self.release,
            "path": str(self.path),
            "files": len(self.manifest.files),
            "bytes": sum(f.size for f in self.manifest.files),
            "components": counts,
            "digests": dict(self.manifest.components),
            "git": self.manifest.git.model_dump(),
            "reused": self.reused,
            "seconds": round(self.seconds, 3),
            "checks": self.checks,
            "dag_parse": self.dag_parse.summary() if self.dag_parse else None,
            "timings": {step: round(t, 3) for step, t in (self.timings or {}).items()},
            "cached": list(self.cached),
        }


def _walk(src: Path, excluded_dirs: set[str], excluded_files: set[str]) -> list[Path]:
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if d not in excluded_dirs and d not in _ALWAYS_EXCLUDED_DIRS)
        for name in sorted(filenames):
            if name in excluded_files or name.endswith(_ALWAYS_EXCLUDED_SUFFIXES):
                continue
            out.append(Path(dirpath) / name)
    return out


def _collect(root: Path, jobs_dir: Path | None) -> dict[str, Path]:
    """Release path -> source file."""
    sources: dict[str, Path] = {}

    def add(
        prefix: str, src: Path, excluded_dirs: set[str] | None = None, excluded_files: set[str] | None = None
    ) -> None:
        if not src.is_dir():
            return
        for file in _walk(src, excluded_dirs or set(), excluded_files or set()):
            rel = file.relative_to(src).as_posix()
            target = file.resolve()
            # A symlink out of the tree would ship a file of the build machine (keys, /etc) in the release.
            if not (target.is_relative_to(root.resolve()) or target.is_relative_to(src.resolve())):
                raise ConfigError(
                    f"{file}: a symlink out of the source tree (to {target}); refusing to release it"
                )
            sources[safe_path(f"{prefix}/{rel}")] = file

    add("dags", root / "composer" / "dags")
    if not any(p.startswith("dags/") and p.endswith(".py") for p in sources):
        raise ConfigError(f"{root / 'composer' / 'dags'}: no DAG files (*.py) to release")
    if jobs_dir is not None:
        if not jobs_dir.is_dir():
            raise ConfigError(f"--jobs-dir: {jobs_dir} is not a directory")
        add("jobs", jobs_dir)
    add("dbt", root / "dbt", _DBT_EXCLUDED_DIRS, _DBT_EXCLUDED_FILES)
    add("gx", root / "gx")
    for path in domain_files(root / "domains"):
        sources[safe_path(f"domains/{path.name}")] = path
    return sources


def _build_jobs(
    root: Path,
    out: Path,
    cache: BuildCache | None = None,
    steps: _Steps | None = None,
    progress: Callable[[str], None] = lambda _msg: None,
) -> Path | None:
    """Run the Spark build of the source tree, if it has one (with `cache`: once per source digest)."""
    if not (root / "dataproc_jobs" / "build.py").is_file():
        return None
    from dataproc_jobs.build import build_tree  # here: promote and publish import this module too

    if cache is None:
        progress("building Spark artifacts (python -m dataproc_jobs.build)")
        return build_tree(root, out)
    key = spark_build_key(root, toolchain_digest())

    def make(target: Path) -> None:
        progress("building Spark artifacts (python -m dataproc_jobs.build)")
        build_tree(root, target)

    built, hit = cache.folder("spark-build", key, make)
    if hit:
        progress("Spark artifacts: sources unchanged, built before")
        if steps is not None:
            steps.cached.append("spark build")
    return built


def check_jobs(files: dict[str, bytes]) -> None:
    """jobs/jobs.json, when the release has jobs, is well-formed and names only files of the release."""
    job_files = [p for p in files if p.startswith("jobs/")]
    if not job_files:
        return
    if JOBS_FILE not in files:
        raise ConfigError(f"{JOBS_FILE}: missing (the Spark build must write it beside the artifacts)")
    try:
        jobs = parse_jobs(files[JOBS_FILE])
    except ConfigError as exc:
        raise ConfigError(f"{JOBS_FILE}: {exc}") from None
    for name, job in jobs.items():
        for ref in [job["main"], *job["py_files"], *job["jars"]]:
            path = safe_path(f"jobs/{ref}")
            if path not in files:
                raise ConfigError(
                    f"{JOBS_FILE}: job {name!r} references {ref!r}, which the release does not contain"
                )


def check_domains(root: Path, files: dict[str, bytes]) -> list[str]:
    """The domain declarations of the source tree are valid together, and the release builds every
    Spark job they declare; returns the domain names."""
    domains = load_domains(root / "domains")
    if not domains:
        raise ConfigError(f"{root / 'domains'}: no domain files (*.yaml) to release")
    jobs = parse_jobs(files[JOBS_FILE]) if JOBS_FILE in files else {}
    for name, domain in domains.items():
        for job in domain.spark_jobs:
            if job not in jobs:
                built = ", ".join(sorted(jobs)) or "none"
                raise ConfigError(
                    f"domains/{name}.yaml: spark_jobs.{job}: the release does not build this job "
                    f"({JOBS_FILE} has: {built})"
                )
    return list(domains)


def dag_parse_budget_ms(value: int | None = None) -> int:
    """The parse budget of one DAG file in ms: `value` (`--dag-parse-budget-ms`), else
    `$DEPLOYER_DAG_PARSE_BUDGET_MS`, else 200; ConfigError naming the setting when not a positive integer."""
    where, raw = "--dag-parse-budget-ms", value
    if raw is None:
        text = os.environ.get(DAG_PARSE_BUDGET_ENV, "").strip()
        if not text:
            return DEFAULT_DAG_PARSE_BUDGET_MS
        where = f"${DAG_PARSE_BUDGET_ENV}"
        try:
            raw = int(text)
        except ValueError:
            raise ConfigError(f"{where}: {text!r} is not a whole number of milliseconds") from None
    if raw <= 0:
        raise ConfigError(f"{where}: {raw} is not a positive number of milliseconds")
    return raw


@dataclass(frozen=True)
class DagParse:
    """What parsing the DAG folder per environment measured: release path -> ms, per environment."""

    budget_ms: int
    durations: dict[str, dict[str, float]]

    def summary(self) -> dict[str, Any]:
        """JSON-friendly form: the budget, and per environment the slowest file and its time."""
        slowest = {
            env: max(files.items(), key=lambda item: item[1])
            for env, files in self.durations.items()
            if files
        }
        return {
            "budget_ms": self.budget_ms,
            "slowest": {env: {"file": f, "ms": round(ms, 1)} for env, (f, ms) in slowest.items()},
        }


def _dag_path(file: str, folder: Path) -> str:
    """The release path (`dags/...`) of a file DagBag reports (absolute, or relative to the folder)."""
    resolved = folder.resolve()
    path = Path(file)
    if path.is_absolute() and path.is_relative_to(resolved):
        return "dags/" + path.relative_to(resolved).as_posix()
    return "dags/" + file.lstrip("/")


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.replace(" | ", "\n").splitlines() if ln.strip()]
    return lines[-1] if lines else "unknown error"


def _render_for(env: Environment, manifest: Manifest, contents: Mapping[str, bytes]) -> bytes:
    def read(path: str) -> bytes:
        return contents[path]

    try:
        config = render(
            env,
            manifest,
            read,
            artifacts_bucket=env.buckets.artifacts.name,
            policy_tags=env.local_policy_tag_ids(),
        )
    except ConfigError as exc:
        raise ConfigError(f"{env.file}: the runtime config of {env.name} does not render: {exc}") from None
    return to_bytes(config)


def check_dag_parse(
    dag_folder: Path,
    manifest: Manifest,
    contents: Mapping[str, bytes],
    envs: Mapping[str, Environment],
    *,
    budget_ms: int,
    shown_as: str = "composer/dags",
    progress: Callable[[str], None] = lambda _msg: None,
    cache: BuildCache | None = None,
    steps: _Steps | None = None,
    reports: dict[str, dict[str, Any]] | None = None,
) -> DagParse:
    """Parse the DAG folder once per environment, with the runtime config rendered for it, and refuse
    (ConfigError naming the file, the environment and the figure) an import error or a file over
    `budget_ms`. Returns the per-file durations.

    The environments to parse are parsed in one interpreter (`composer.dag_check.dag_reports`: Airflow
    imported once, each load in a fresh fork of it): the step `dag parse: <env>` is that environment's
    load, `dag parse: Airflow import` what they share. With `reports`, each DagBag report is kept there,
    keyed by `crosslayer.dag_report_key` of the folder and the runtime config (the `spark-artifacts`
    check reuses them).

    With `cache`, an environment whose runtime config and DAG files (`manifest`'s dags digest) passed
    before is not parsed again: its durations are those measured then, held to `budget_ms` again."""
    durations: dict[str, dict[str, float]] = {}
    steps = steps or _Steps()
    toolchain = toolchain_digest() if cache is not None else ""

    def shown(rel: str) -> str:
        return f"{shown_as}/{rel.removeprefix('dags/')}"

    with tempfile.TemporaryDirectory(prefix="deployer-runtime-") as tmp:
        rendered: dict[str, bytes] = {}
        keys: dict[str, str] = {}
        for name, env in envs.items():
            config = Path(tmp) / name / RUNTIME_CONFIG_NAME
            config.parent.mkdir()
            rendered[name] = _render_for(env, manifest, contents)
            config.write_bytes(rendered[name])
            keys[name] = hashlib.sha256(
                f"dag-parse {_CACHE_VERSION} {toolchain} {manifest.components.get('dags')}\n".encode()
                + rendered[name]
            ).hexdigest()
        cached = {name: cache.get("dag-parse", keys[name]) if cache is not None else None for name in envs}
        to_parse = [name for name in envs if not isinstance(cached[name], dict)]
        parsed: dict[str, dict[str, Any]] = {}
        if to_parse:
            progress(
                "parsing the DAGs with Airflow's DagBag, in one interpreter, with the runtime config of "
                + ", ".join(to_parse)
            )
            started = time.perf_counter()
            configs = [Path(tmp) / name / RUNTIME_CONFIG_NAME for name in to_parse]
            try:
                from composer.dag_check import dag_reports as load_all_envs

                parsed = dict(zip(to_parse, load_all_envs(dag_folder, configs), strict=True))
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
                raise ConfigError(
                    f"{shown_as}: loading the DAG folder with Airflow and the runtime config of "
                    f"{', '.join(to_parse)} failed: {_last_line(str(exc))}"
                ) from None
            loads = {name: float(report.get("seconds", 0.0)) for name, report in parsed.items()}
            steps.seconds["dag parse: Airflow import"] = max(
                0.0, time.perf_counter() - started - sum(loads.values())
            )
            for name, seconds in loads.items():
                steps.seconds[f"dag parse: {name}"] = seconds
        for name, env in envs.items():
            step = f"dag parse: {name}"
            hit = cached[name]
            if isinstance(hit, dict):
                progress(f"the DAGs and the runtime config of {name} parsed before: not parsed again")
                files = {str(k): float(v) for k, v in hit.items()}
                steps.seconds[step] = 0.0
                steps.cached.append(step)
            else:
                files = _durations(parsed[name], dag_folder, env, name, shown_as)
                if reports is not None:
                    from policies.crosslayer import dag_report_key

                    reports[dag_report_key(dag_folder, rendered[name])] = parsed[name]
            durations[name] = files
            over = sorted(((ms, rel) for rel, ms in files.items() if ms > budget_ms), reverse=True)
            if over:
                ms, rel = over[0]
                more = f" (and {len(over) - 1} more files over it)" if len(over) > 1 else ""
                raise ConfigError(
                    f"{shown(rel)}: parses in {ms:.0f} ms with the runtime config of {name}, over the "
                    f"{budget_ms} ms budget of a DAG file (--dag-parse-budget-ms, ${DAG_PARSE_BUDGET_ENV})"
                    f"{more}"
                )
            if cache is not None and not isinstance(hit, dict):
                cache.put("dag-parse", keys[name], files)
    return DagParse(budget_ms, durations)


def _durations(
    report: dict[str, Any], dag_folder: Path, env: Environment, name: str, shown_as: str
) -> dict[str, float]:
    """The per-file parse times of one DagBag report: release path -> ms; ConfigError naming the first
    broken file."""
    errors: dict[str, str] = report["import_errors"]
    if errors:
        first = sorted(errors)[0]
        more = f" (and {len(errors) - 1} more broken DAG files)" if len(errors) > 1 else ""
        shown = f"{shown_as}/{_dag_path(first, dag_folder).removeprefix('dags/')}"
        raise ConfigError(
            f"{shown}: DAG import failed with the runtime config of "
            f"{name} ({env.file}): {_last_line(errors[first])}{more}"
        )
    return {_dag_path(s["file"], dag_folder): float(s["duration"]) * 1000 for s in report["stats"]}


class _Steps:
    """Seconds per build step, and the steps served from the cache."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.cached: list[str] = []

    @contextlib.contextmanager
    def timed(self, step: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[step] = self.seconds.get(step, 0.0) + time.perf_counter() - started


# The cross-layer checks worth caching (seconds each: DagBag loads, dbt parse) and the components of
# the release each reads, besides the environment files. The others, and any check added later, run
# on every build.
# spark-artifacts loads the DAGs with a runtime config that names the jobs, dbt and gx digests: all of them.
CACHED_CHECKS: dict[str, tuple[str, ...]] = {
    "spark-artifacts": ("dags", "jobs", "dbt", "gx", "domains"),
    "dbt-selectors": ("dbt", "domains"),
}


def _check_key(name: str, manifest: Manifest, toolchain: str) -> str:
    from platform_model.environment import ENVIRONMENTS_DIR

    digest = hashlib.sha256(f"check {name} {_CACHE_VERSION} {toolchain}\n".encode())
    for component in CACHED_CHECKS[name]:
        digest.update(f"{component} {manifest.components.get(component)}\n".encode())
    # run_checks reads the repository's environment files
    hash_files(digest, [(f"environments/{p.name}", p) for p in ENVIRONMENTS_DIR.glob("*.yaml")])
    return digest.hexdigest()


def run_crosslayer(
    files: Path,
    manifest: Manifest,
    *,
    cache: BuildCache | None = None,
    steps: _Steps | None = None,
    progress: Callable[[str], None] = lambda _msg: None,
    dag_reports: Mapping[str, dict[str, Any]] | None = None,
) -> list[str]:
    """The cross-layer findings of a release's `files/` folder, one check at a time (timed in `steps`);
    with `cache`, a check of CACHED_CHECKS that passed on the same inputs is not run again.
    `dag_reports`: the DagBag loads of the build's DAG parse (see `check_dag_parse`), for spark-artifacts."""
    from policies import crosslayer  # here: promote and publish import this module too

    steps = steps or _Steps()
    toolchain = toolchain_digest() if cache is not None else ""
    findings: list[str] = []
    for name in crosslayer.CHECKS:
        key = _check_key(name, manifest, toolchain) if cache is not None and name in CACHED_CHECKS else None
        step = f"check: {name}"
        if cache is not None and key is not None and cache.get("checks", key) == []:
            progress(f"cross-layer check {name}: its inputs passed before")
            steps.seconds[step] = 0.0
            steps.cached.append(step)
            continue
        with steps.timed(step):
            found = [str(f) for f in crosslayer.run_checks(files, only=[name], dag_reports=dag_reports)]
        if cache is not None and key is not None and not found:
            cache.put("checks", key, [])
        findings += found
    return findings


def _git_info(root: Path) -> GitInfo:
    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(
                ["git", "-C", str(root), *args], capture_output=True, text=True, check=False, timeout=30
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return GitInfo(commit=None, dirty=None)
    status = git("status", "--porcelain", "--untracked-files=normal", "--", ".")
    return GitInfo(commit=commit, dirty=bool(status))


def builder_name() -> str:
    """Who builds: the CI run on GitHub Actions, else user@host."""
    if os.environ.get("GITHUB_ACTIONS") == "true":
        repo, run = os.environ.get("GITHUB_REPOSITORY", "?"), os.environ.get("GITHUB_RUN_ID", "?")
        return f"github-actions:{repo}/runs/{run}"
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def build_release(
    root: Path,
    out: Path,
    *,
    jobs_dir: Path | None = None,
    run_checks: bool = True,
    environments_dir: Path | None = None,
    dag_parse_budget: int | None = None,
    progress: Callable[[str], None] = lambda _msg: None,
    cache_dir: Path | None = None,
    use_cache: bool = True,
) -> BuildResult:
    """Build the release of source tree `root` into `out/<release id>/` (reused when already there).

    `environments_dir`: the environments whose runtime config the DAGs are parsed with (default: the
    deployer's, `$DEPLOYER_ENV_DIR` or environments/); `dag_parse_budget`: ms per DAG file (see
    `dag_parse_budget_ms`); `cache_dir`: the build cache (default `default_cache_dir()`; `use_cache=False`
    neither reads nor writes it)."""
    started = time.monotonic()
    steps = _Steps()
    cache = BuildCache(cache_dir or default_cache_dir()) if use_cache else None
    root = root.resolve()
    if not root.is_dir():
        raise ConfigError(f"--root: {root} is not a directory")
    budget = dag_parse_budget_ms(dag_parse_budget)
    envs_dir = environments_dir or env_dir()
    envs = load_all(envs_dir)
    if not envs:
        raise ConfigError(f"{envs_dir}: no environment files to parse the DAGs for")
    out.mkdir(parents=True, exist_ok=True)
    staging = out / f".staging-{uuid.uuid4().hex[:12]}"
    try:
        with tempfile.TemporaryDirectory(prefix="deployer-jobs-") as jobs_tmp:
            progress("collecting sources")
            built_jobs = jobs_dir
            if built_jobs is None:
                with steps.timed("spark build"):
                    built_jobs = _build_jobs(root, Path(jobs_tmp), cache, steps, progress)
            with steps.timed("collect"):
                sources = _collect(root, built_jobs)
                contents: dict[str, bytes] = {}
                for rel, src in sources.items():
                    data = src.read_bytes()
                    contents[rel] = data
                    dest = staging / "files" / rel
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(data)
        progress("reading the domain declarations")
        with steps.timed("domains"):
            check_jobs(contents)
            check_domains(root, contents)
        entries = [file_entry(rel, data) for rel, data in sorted(contents.items())]
        release = release_id_of(entries)
        manifest = Manifest(
            release=release,
            created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            builder=builder_name(),
            git=_git_info(root),
            components={
                c: component_digest([e for e in entries if e.path.startswith(c + "/")], c) for c in COMPONENTS
            },
            files=entries,
        )
        reports: dict[str, dict[str, Any]] = {}
        parse = check_dag_parse(
            staging / "files" / "dags",
            manifest,
            contents,
            envs,
            budget_ms=budget,
            progress=progress,
            cache=cache,
            steps=steps,
            reports=reports,
        )
        checks: list[str] = []
        if run_checks:
            progress("cross-layer checks")
            findings = run_crosslayer(
                staging / "files", manifest, cache=cache, steps=steps, progress=progress, dag_reports=reports
            )
            if findings:
                more = f" (and {len(findings) - 1} more; run: deployer check)" if len(findings) > 1 else ""
                raise ConfigError(f"cross-layer check failed: {findings[0]}{more}")
            checks = ["passed"]
        final = out / release
        existing = find_local(release, out)
        if existing is not None and existing.manifest.files == manifest.files:
            try:
                for entry in existing.manifest.files:
                    existing.read_verified(entry)
                return BuildResult(
                    release,
                    final,
                    existing.manifest,
                    True,
                    time.monotonic() - started,
                    checks,
                    parse,
                    steps.seconds,
                    tuple(steps.cached),
                )
            except Refused:
                pass  # a damaged local copy: rebuilt below
        (staging / MANIFEST_NAME).write_bytes(manifest.to_bytes())
        if final.exists():
            # The local copy is build output, regenerated from sources: replace it, do not patch it.
            trash = out / f".replaced-{release}-{uuid.uuid4().hex[:8]}"
            final.rename(trash)
            shutil.rmtree(trash, ignore_errors=True)
        staging.rename(final)
        seconds = time.monotonic() - started
        return BuildResult(
            release, final, manifest, False, seconds, checks, parse, steps.seconds, tuple(steps.cached)
        )
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(staging)
