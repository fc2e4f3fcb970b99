"""The release manifest: every file of a release with its digests, its components and their paths.

A release is `manifest.json` + `files/<path>` where every path starts with one of `TOP_DIRS`. The
manifest lists each file's path, size, sha256 and md5, plus the git commit, the builder and the
creation time. The release id is `r-` + the first 12 hex digits of the sha256 over the sorted
`(path, sha256)` pairs: the same content always gets the same id, and no timestamp enters it. Each
component (jobs, dbt, gx, ...) also gets a content digest, which names its immutable path in the
environment's buckets (`jobs_prefix`, `dbt_prefix`, `gx_prefix`), so a release that changes one DAG
re-uploads one DAG. `jobs/jobs.json`, the Spark build's index of its jobs, is read here too.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from platform_model.errors import ConfigError, Refused

RELEASE_ID_RE = re.compile(r"^r-[0-9a-f]{12}$")
TOP_DIRS = ("dags", "jobs", "dbt", "gx", "domains")
COMPONENTS = ("dags", "jobs", "dbt", "gx", "domains")
MANIFEST_NAME = "manifest.json"
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
JOBS_FILE = "jobs/jobs.json"
DOMAINS_PREFIX = "domains/"


def md5_b64(data: bytes) -> str:
    """The MD5 of `data` as GCS reports it (base64 of the digest); an integrity check, not security."""
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def is_dag_file(name: str) -> bool:
    """A DAG file of a Composer bucket: a `.py` file directly in `dags/` (what imports the DAG library
    under `dags/<package>/`, reads `dags/runtime_config.json` and is parsed by Airflow)."""
    return name.startswith("dags/") and name.endswith(".py") and "/" not in name.removeprefix("dags/")


def dag_files_last(names: Iterable[str]) -> list[str]:
    """`names` sorted with the DAG files last: whoever writes the bucket (a promotion) or mirrors it (the
    local sync) makes what a DAG file imports visible before the DAG file, so that no parse sees a new
    DAG file without its library (a transient ModuleNotFoundError)."""
    return sorted(names, key=lambda name: (is_dag_file(name), name))


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

    path: str = Field(description="Path inside the release, e.g. dags/<domain>.py.")
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
        description="Component (dags, jobs, dbt, gx, domains) -> content digest."
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


def domain_paths(manifest: Manifest) -> list[str]:
    """The release paths of its domain files (`domains/<name>.yaml`), sorted."""
    return sorted(
        f.path
        for f in manifest.files
        if f.path.startswith(DOMAINS_PREFIX) and f.path.count("/") == 1 and f.path.endswith(".yaml")
    )


def jobs_prefix(manifest: Manifest) -> str:
    """Where the release's Spark artifacts live in the artifacts bucket: keyed by the jobs' content digest,
    so they are immutable and a release that does not change them does not re-upload them."""
    return f"jobs/{manifest.components['jobs']}/"


def dbt_prefix(manifest: Manifest) -> str:
    """Where the dbt project lives in the Composer bucket (content-addressed)."""
    return f"data/dbt/{manifest.components['dbt']}/"


def gx_prefix(manifest: Manifest) -> str:
    """Where the GX suites live in the Composer bucket (content-addressed)."""
    return f"data/gx/{manifest.components['gx']}/"
