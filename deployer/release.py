"""Releases: build once into an immutable bundle with a manifest; read and verify manifests.

A release is `manifest.json` + `files/<path>` where every path starts with one of `dags/`, `jobs/`,
`dbt/`, `gx/`, `contracts/`. The manifest lists each file's path, size, sha256 and md5, plus the git
commit, the builder and the creation time. The release id is `r-` + the first 12 hex digits of the
sha256 over the sorted `(path, sha256)` pairs: the same content always gets the same id, and no
timestamp enters it. Each component (jobs, dbt, gx) also gets a content digest, which names its
immutable path in the environment's buckets, so a release that changes one DAG re-uploads one DAG.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from deployer.dagbag import DagProbeError, run_dag_probe
from deployer.errors import ConfigError, Refused
from deployer.gcs import md5_b64

REPO_ROOT = Path(__file__).resolve().parent.parent
RELEASES_DIR_ENV = "DEPLOYER_RELEASES_DIR"
RELEASE_ID_RE = re.compile(r"^r-[0-9a-f]{12}$")
TOP_DIRS = ("dags", "jobs", "dbt", "gx", "contracts")
COMPONENTS = ("dags", "jobs", "dbt", "gx", "contracts")
MANIFEST_NAME = "manifest.json"
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
JOBS_FILE = "jobs/jobs.json"
CONTRACT_FILE = "contracts/orders.yaml"

# What never enters a release, wherever it appears in a source tree.
_ALWAYS_EXCLUDED_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
_ALWAYS_EXCLUDED_SUFFIXES = (".pyc", ".pyo")
_DBT_EXCLUDED_DIRS = {"target", "logs", "dbt_packages"}
_DBT_EXCLUDED_FILES = {".user.yml"}


def default_releases_dir() -> Path:
    """Where local releases live: `$DEPLOYER_RELEASES_DIR`, else `build/releases` in the repo."""
    return Path(os.environ.get(RELEASES_DIR_ENV) or REPO_ROOT / "build" / "releases")


def check_release_id(value: str) -> str:
    """`value` if it is a well-formed release id, else ConfigError naming the argument."""
    if not RELEASE_ID_RE.fullmatch(value or ""):
        raise ConfigError(
            f"release: {value!r} is not a release id (expected r- and 12 hex digits, e.g. r-0123456789ab)"
        )
    return value


def safe_path(path: str) -> str:
    """`path` if it is a safe release path (no `..`, not absolute, no backslash), else ConfigError."""
    if not path or "\\" in path or "\x00" in path:
        raise ConfigError(f"unsafe file name in release: {path!r} (empty, NUL or backslash)")
    pure = PurePosixPath(path)
    if pure.is_absolute() or path.startswith("/"):
        raise ConfigError(f"unsafe file name in release: {path!r} (absolute path)")
    if any(part in ("..", ".", "") for part in path.split("/")):
        raise ConfigError(f"unsafe file name in release: {path!r} (path traversal or empty segment)")
    if pure.parts[0] not in TOP_DIRS or len(pure.parts) < 2:
        raise ConfigError(
            f"unexpected file in release: {path!r} (must be under one of {', '.join(TOP_DIRS)})"
        )
    return path


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileEntry(_Model):
    """One file of a release."""

    path: str = Field(description="Path inside the release, e.g. dags/orders_daily.py.")
    size: int = Field(ge=0, description="Size in bytes.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="Hex sha256 of the content.")
    md5: str = Field(description="Base64 MD5 of the content, as GCS reports it (to compare with listings).")


class GitInfo(_Model):
    """Where the release was built from."""

    commit: str | None = Field(description="HEAD commit of the source tree, or null outside git.")
    dirty: bool | None = Field(description="Whether the tree had uncommitted changes.")


class Manifest(_Model):
    """The manifest of a release: every file with its digest, and where it came from."""

    format: Literal[1] = 1
    release: str = Field(pattern=RELEASE_ID_RE.pattern)
    created: str = Field(description="UTC time of the build (not part of the id).")
    builder: str = Field(description="Who built it (user@host, or the CI run).")
    git: GitInfo
    components: dict[str, str] = Field(
        description="Component (dags, jobs, dbt, gx, contracts) -> content digest."
    )
    files: list[FileEntry]

    def by_path(self) -> dict[str, FileEntry]:
        """Files by path."""
        return {f.path: f for f in self.files}

    def component_files(self, component: str) -> list[FileEntry]:
        """Files of one component (their paths start with `<component>/`)."""
        return [f for f in self.files if f.path.startswith(component + "/")]

    def to_bytes(self) -> bytes:
        """The canonical serialization (stable key order, trailing newline)."""
        return (json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n").encode()


def release_id_of(files: Iterable[FileEntry]) -> str:
    """The content id: `r-` + 12 hex of sha256 over the sorted (path, sha256) pairs."""
    return "r-" + _pairs_digest(files)[:12]


def component_digest(files: Iterable[FileEntry], component: str) -> str:
    """Content digest (16 hex) of one component: its files' paths relative to the component, and sha256."""
    prefix = component + "/"
    rel = [FileEntry(path=f.path[len(prefix) :], size=f.size, sha256=f.sha256, md5=f.md5) for f in files]
    return _pairs_digest(rel)[:16] if rel else "empty"


def _pairs_digest(files: Iterable[FileEntry]) -> str:
    digest = hashlib.sha256()
    for path, sha in sorted((f.path, f.sha256) for f in files):
        digest.update(path.encode() + b"\0" + sha.encode() + b"\n")
    return digest.hexdigest()


def manifest_digest(data: bytes) -> str:
    """The digest approvals bind to: sha256 of the manifest's bytes as stored."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def parse_manifest(data: bytes, where: str, expected_id: str | None = None) -> Manifest:
    """Parse and check a manifest: ConfigError when unreadable, Refused when it contradicts itself
    (its id does not match its files, a file name is unsafe, or it is not the release asked for)."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise ConfigError(f"{where}: manifest is {len(data)} bytes, larger than {MAX_MANIFEST_BYTES}")
    try:
        raw = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{where}: manifest is not valid JSON ({exc.msg if hasattr(exc, 'msg') else exc})"
        ) from None
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise ConfigError(f"{where}: manifest field {loc}: {err['msg']}") from None
    for entry in manifest.files:
        try:
            safe_path(entry.path)
        except ConfigError as exc:
            raise Refused(f"{where}: {exc}") from None
    paths = [f.path for f in manifest.files]
    if len(set(paths)) != len(paths):
        raise Refused(f"{where}: manifest lists a file twice")
    actual = release_id_of(manifest.files)
    if actual != manifest.release:
        raise Refused(
            f"{where}: manifest says {manifest.release} but its files hash to {actual} (tampered manifest)"
        )
    if expected_id is not None and manifest.release != expected_id:
        raise Refused(f"{where}: manifest is for {manifest.release}, not {expected_id}")
    for component, digest in manifest.components.items():
        if component_digest(manifest.component_files(component), component) != digest:
            raise Refused(
                f"{where}: component digest of {component} does not match its files (tampered manifest)"
            )
    return manifest


def file_entry(path: str, data: bytes) -> FileEntry:
    """The manifest entry of `data` stored at `path`."""
    return FileEntry(path=path, size=len(data), sha256=hashlib.sha256(data).hexdigest(), md5=md5_b64(data))


def verify_bytes(entry: FileEntry, data: bytes, where: str) -> bytes:
    """`data` if it matches the manifest entry (size and sha256), else Refused naming the file."""
    if len(data) != entry.size or hashlib.sha256(data).hexdigest() != entry.sha256:
        raise Refused(
            f"{where}: {entry.path} does not match the manifest's sha256 (tampered or corrupted file)"
        )
    return data


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
    add("contracts", root / "contracts")
    return sources


def _build_jobs(root: Path, out: Path) -> Path | None:
    """Run the Spark build (`python -m dataproc_jobs.build OUT`) of the source tree, if it has one."""
    if not (root / "dataproc_jobs" / "build.py").is_file():
        return None
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "dataproc_jobs.build", str(out)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        raise ConfigError(
            f"dataproc_jobs.build failed (exit {proc.returncode}): {lines[-1] if lines else 'no output'}"
        )
    return out


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


def parse_jobs(data: bytes) -> dict[str, dict[str, Any]]:
    """The `jobs` mapping of a jobs.json: name -> {main, py_files, jars, connectors}."""
    try:
        raw = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ConfigError("not valid JSON") from None
    jobs = raw.get("jobs") if isinstance(raw, dict) else None
    if not isinstance(jobs, dict):
        raise ConfigError('expected {"jobs": {name: {...}}}')
    out: dict[str, dict[str, Any]] = {}
    for name, job in jobs.items():
        if not isinstance(job, dict) or not isinstance(job.get("main"), str):
            raise ConfigError(f"job {name!r}: needs a `main` file")
        lists = {k: job.get(k, []) for k in ("py_files", "jars", "connectors")}
        for key, value in lists.items():
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"job {name!r}: `{key}` must be a list of strings")
        out[str(name)] = {"main": job["main"], **lists}
    return out


# The DAG folder is on sys.path, as on Composer, so DAG files can import their helper packages.
_DAGBAG_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:
    from airflow.models.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
with open(sys.argv[2], "w") as fh:
    json.dump({"errors": dict(bag.import_errors), "dags": sorted(bag.dag_ids)}, fh)
"""


def check_dags_import(dag_folder: Path, shown_as: str = "composer/dags") -> list[str]:
    """Load the DAG folder with Airflow's DagBag in a subprocess; ConfigError naming the first broken file.
    Returns the DAG ids found."""
    with tempfile.TemporaryDirectory(prefix="deployer-dagbag-") as tmp:
        try:
            result = run_dag_probe(_DAGBAG_SCRIPT, dag_folder, Path(tmp))
        except DagProbeError as exc:
            raise ConfigError(f"{shown_as}: loading the DAG folder with Airflow failed: {exc}") from None
    errors: dict[str, str] = result["errors"]
    if errors:
        first = sorted(errors)[0]
        rel = Path(first).relative_to(dag_folder).as_posix() if first.startswith(str(dag_folder)) else first
        lines = [ln.strip() for ln in errors[first].splitlines() if ln.strip()]
        more = f" (and {len(errors) - 1} more broken DAG files)" if len(errors) > 1 else ""
        raise ConfigError(
            f"{shown_as}/{rel}: DAG import failed: {lines[-1] if lines else 'unknown error'}{more}"
        )
    return list(result["dags"])


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


def _run_crosslayer_checks(release_files: Path) -> list[str] | None:
    """`policies.crosslayer.run_checks(release_dir)` when that module exists; None when it does not."""
    try:
        from policies import crosslayer  # type: ignore[attr-defined, unused-ignore]
    except ImportError:
        return None
    run_checks: Callable[..., Any] | None = getattr(crosslayer, "run_checks", None)
    if run_checks is None:
        return None
    findings = run_checks(release_files)
    return [str(f) for f in findings or []]


def build_release(
    root: Path,
    out: Path,
    *,
    jobs_dir: Path | None = None,
    run_checks: bool = True,
    progress: Callable[[str], None] = lambda _msg: None,
) -> BuildResult:
    """Build the release of source tree `root` into `out/<release id>/` (reused when already there)."""
    started = time.monotonic()
    root = root.resolve()
    if not root.is_dir():
        raise ConfigError(f"--root: {root} is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    staging = out / f".staging-{uuid.uuid4().hex[:12]}"
    try:
        with tempfile.TemporaryDirectory(prefix="deployer-jobs-") as jobs_tmp:
            progress("collecting sources")
            built_jobs = jobs_dir
            if built_jobs is None:
                progress("building Spark artifacts (python -m dataproc_jobs.build)")
                built_jobs = _build_jobs(root, Path(jobs_tmp))
            sources = _collect(root, built_jobs)
            contents: dict[str, bytes] = {}
            for rel, src in sources.items():
                data = src.read_bytes()
                contents[rel] = data
                dest = staging / "files" / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(data)
        check_jobs(contents)
        progress("loading the DAGs with Airflow's DagBag")
        check_dags_import(staging / "files" / "dags")
        checks: list[str] = []
        if run_checks:
            progress("cross-layer checks")
            findings = _run_crosslayer_checks(staging / "files")
            if findings is None:
                checks = ["skipped: policies.crosslayer.run_checks is not available"]
            elif findings:
                more = f" (and {len(findings) - 1} more; run: deployer check)" if len(findings) > 1 else ""
                raise ConfigError(f"cross-layer check failed: {findings[0]}{more}")
            else:
                checks = ["passed"]
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
        final = out / release
        existing = find_local(release, out)
        if existing is not None and existing.manifest.files == manifest.files:
            try:
                for entry in existing.manifest.files:
                    existing.read_verified(entry)
                return BuildResult(
                    release, final, existing.manifest, True, time.monotonic() - started, checks
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
        return BuildResult(release, final, manifest, False, time.monotonic() - started, checks)
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(staging)
