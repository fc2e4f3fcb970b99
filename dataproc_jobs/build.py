"""Build the shippable Spark artifacts of every domain's jobs into OUTDIR.

    python -m dataproc_jobs.build OUTDIR [--java-release N]

The jobs come from the domain declarations (`domains/*.yaml`, `spark_jobs`): job `<job>` of a domain
has its entry point `dataproc_jobs/entrypoints/<job>.py` and its package `dataproc_jobs/<package>/`
(the domain's name unless it says otherwise). Writes, for Dataproc's `pyspark_job`:

- each job's entry point (`<job>.py`);
- one zip per job package (`<package>.zip`: `dataproc_jobs/__init__.py`, the shared
  `dataproc_jobs/common/`, the package's own modules and `dataproc_jobs/<package>/contract.json`, its
  domain's contract as the job reads it on Dataproc), so a change to one domain changes only its
  artifacts;
- every jar whose Java sources it finds under `dataproc_jobs/java/<jar>/src`, compiled with the machine's
  JDK (`javac --release <env.dataproc.java_release>` against pyspark's jars, then `jar`);
- `jobs.json`: `{"jobs": {"<job>": {"main": "<job>.py", "py_files": ["<package>.zip"], "jars": [...],
  "connectors": [...]}}}`.

Paths in jobs.json are relative to OUTDIR; connectors are keys of env.dataproc.connectors (their jars
are referenced by URI from the environment file, never copied). The build is deterministic: the same
sources give byte-identical files (fixed timestamps and permissions, sorted entries), because the
release id is derived from the content.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from dataproc_jobs.common.contract import CONTRACT_FILE, document, to_bytes
from platform_model.domain import Domain, load_domains
from platform_model.environment import load_all
from platform_model.errors import ConfigError, PlatformError

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent

# Zip entries get this timestamp (the earliest a zip can hold); jars the same instant in ISO form.
FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
FIXED_JAR_TIME = "1980-01-01T00:00:02Z"
JOBS_JSON = "jobs.json"
SHARED_PACKAGES = ("common",)
"""Packages under dataproc_jobs/ every job's zip carries beside its own."""
NOT_SHIPPED = ("sample.py",)
"""Modules of a job package that stay out of its zip: the local sample-data generator."""


class BuildError(PlatformError):
    """The build cannot proceed; the message says what to fix (exit 2)."""


@dataclass(frozen=True)
class JarSpec:
    """A jar compiled from Java sources in this repo (`dataproc_jobs/java/<name>/src`)."""

    name: str
    """File name without `.jar`."""
    sources: Path
    """Folder of `.java` files (package folders below it)."""


@dataclass(frozen=True)
class JobSpec:
    """A Spark job as a domain declares it, with the files it is built from."""

    name: str
    domain_file: str
    """`domains/<domain>.yaml`, for messages."""
    package: str
    """The Python package under dataproc_jobs/ its zip holds."""
    entry_point: Path
    contract: bytes
    """Its domain's contract.json (see `dataproc_jobs.common.contract`)."""
    jars: tuple[str, ...] = ()
    connectors: tuple[str, ...] = ()

    @property
    def zip_name(self) -> str:
        """The zip of its package (`py_files`)."""
        return f"{self.package}.zip"


@dataclass
class BuildResult:
    """What a build wrote: file name (relative to OUTDIR) -> sha256, and the jobs.json index."""

    outdir: Path
    files: dict[str, str] = field(default_factory=dict)
    java_release: int = 0
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def java_release_from_environments(root: Path = REPO_ROOT) -> int:
    """The Java release every environment's Dataproc image runs (they must agree: one build for all)."""
    releases = {name: env.dataproc.java_release for name, env in load_all(root / "environments").items()}
    if not releases:
        raise BuildError(f"no environment files found under {root / 'environments'}")
    if len(set(releases.values())) > 1:
        raise BuildError(f"environments disagree on the Dataproc Java release: {releases}")
    return next(iter(releases.values()))


def connectors_from_environments(root: Path = REPO_ROOT) -> set[str]:
    """Connector keys every environment defines (a job may only use these)."""
    keys = [set(env.dataproc.connectors) for env in load_all(root / "environments").values()]
    return set.intersection(*keys) if keys else set()


def discover_jars(root: Path = REPO_ROOT) -> dict[str, JarSpec]:
    """Every jar with sources: `dataproc_jobs/java/<jar>/src`, by name."""
    java = root / "dataproc_jobs" / "java"
    found = sorted(p.parent for p in java.glob("*/src") if p.is_dir()) if java.is_dir() else []
    return {d.name: JarSpec(name=d.name, sources=d / "src") for d in found}


def _job_spec(root: Path, domain: Domain, job: str, jars: dict[str, JarSpec]) -> JobSpec:
    where = f"domains/{domain.domain}.yaml: spark_jobs.{job}"
    declared = domain.spark_jobs[job]
    entry_point = root / "dataproc_jobs" / "entrypoints" / f"{job}.py"
    if not entry_point.is_file():
        raise BuildError(f"{where}: no entry point dataproc_jobs/entrypoints/{job}.py")
    package = domain.job_package(job)
    if not (root / "dataproc_jobs" / package / "__init__.py").is_file():
        raise BuildError(f"{where}: no package dataproc_jobs/{package}/ (with an __init__.py)")
    if domain.rejects is None:
        raise BuildError(f"{where}: the job sets records aside, so the domain declares `rejects`")
    for jar in declared.jars:
        if jar not in jars:
            raise BuildError(
                f"{where}.jars: no sources for jar {jar!r} under dataproc_jobs/java/{jar}/src "
                f"(found: {', '.join(sorted(jars)) or 'none'})"
            )
    return JobSpec(
        name=job,
        domain_file=f"domains/{domain.domain}.yaml",
        package=package,
        entry_point=entry_point,
        contract=to_bytes(document(domain)),
        jars=tuple(declared.jars),
        connectors=tuple(declared.connectors),
    )


def discover_jobs(root: Path = REPO_ROOT) -> dict[str, JobSpec]:
    """Every Spark job the domains of `root/domains` declare, by name, its files checked."""
    jars = discover_jars(root)
    domains = load_domains(root / "domains")
    jobs = [_job_spec(root, d, job, jars) for d in domains.values() for job in d.spark_jobs]
    owners: dict[str, str] = {}
    for job in jobs:
        owner = owners.setdefault(job.package, job.domain_file)
        if owner != job.domain_file:
            raise BuildError(
                f"{job.domain_file}: spark_jobs.{job.name}: package dataproc_jobs/{job.package}/ is "
                f"already the package of a job of {owner} (a package belongs to one domain)"
            )
    return {job.name: job for job in sorted(jobs, key=lambda j: j.name)}


def job_index(jobs: dict[str, JobSpec]) -> dict[str, dict[str, Any]]:
    """The `jobs` mapping of jobs.json for `jobs` (file names relative to the build's OUTDIR)."""
    return {
        name: {
            "main": f"{name}.py",
            "py_files": [job.zip_name],
            "jars": [f"{jar}.jar" for jar in job.jars],
            "connectors": list(job.connectors),
        }
        for name, job in sorted(jobs.items())
    }


def package_files(package: str, root: Path = REPO_ROOT) -> list[Path]:
    """The modules a package's zip holds, sorted by their path in the zip."""
    base = root / "dataproc_jobs"
    files = [base / "__init__.py"]
    for name in (*SHARED_PACKAGES, package):
        files += [
            p
            for p in (base / name).rglob("*.py")
            if "__pycache__" not in p.parts and p.relative_to(base / name).as_posix() not in NOT_SHIPPED
        ]
    unique = {p.relative_to(root).as_posix(): p for p in files}
    return [unique[name] for name in sorted(unique)]


def build_zip(target: Path, package: str, contract: bytes, root: Path = REPO_ROOT) -> None:
    """Zip one job package (see `package_files`) with its contract.json, deterministically."""
    entries = {p.relative_to(root).as_posix(): p.read_bytes() for p in package_files(package, root)}
    entries[f"dataproc_jobs/{package}/{CONTRACT_FILE}"] = contract
    with zipfile.ZipFile(target, "w") as zf:
        for name, data in sorted(entries.items()):
            info = zipfile.ZipInfo(name, date_time=FIXED_ZIP_TIME)
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            zf.writestr(info, data, compresslevel=9)


def _pyspark_jars_dir() -> Path:
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise BuildError("pyspark is not installed: run `make setup`")
    return Path(spec.origin).parent / "jars"


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise BuildError(
            f"{name} not found on PATH: install a JDK (make setup installs openjdk-17-jdk-headless)"
        )
    return found


def build_jar(spec: JarSpec, target: Path, java_release: int) -> None:
    """Compile `spec.sources` for `java_release` against pyspark's jars (provided at run time) and pack
    the classes into `target` deterministically."""
    sources = sorted(spec.sources.rglob("*.java"))
    if not sources:
        raise BuildError(f"{spec.sources}: no .java files")
    classpath = str(_pyspark_jars_dir() / "*")
    with tempfile.TemporaryDirectory(prefix=f"{spec.name}-") as tmp:
        classes = Path(tmp) / "classes"
        classes.mkdir()
        javac = [_tool("javac"), "--release", str(java_release), "-encoding", "UTF-8", "-implicit:none"]
        javac += ["-nowarn", "-cp", classpath, "-d", str(classes), *map(str, sources)]
        done = subprocess.run(javac, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            first = (done.stderr or done.stdout).strip().splitlines()[0:1] or ["(no output)"]
            raise BuildError(f"javac failed for {spec.name}: {first[0]}")
        entries = sorted(p.relative_to(classes).as_posix() for p in classes.rglob("*.class"))
        jar = [_tool("jar"), "--create", "--no-manifest", f"--date={FIXED_JAR_TIME}", "--file", str(target)]
        jar += [arg for entry in entries for arg in ("-C", str(classes), entry)]
        done = subprocess.run(jar, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BuildError(f"jar failed for {spec.name}: {(done.stderr or done.stdout).strip()}")


def _check_connectors(jobs: dict[str, JobSpec], known: set[str]) -> None:
    for job in jobs.values():
        unknown = sorted(set(job.connectors) - known)
        if unknown:
            raise BuildError(
                f"{job.domain_file}: spark_jobs.{job.name}.connectors: {unknown} are not in every "
                f"environment's dataproc.connectors (all have: {', '.join(sorted(known)) or 'none'})"
            )


def build(outdir: Path, java_release: int | None = None, root: Path = REPO_ROOT) -> BuildResult:
    """Build the artifacts of every job the domains of `root` declare into `outdir` (created if
    missing; it must be empty). Everything is checked before anything is compiled."""
    if outdir.exists() and (not outdir.is_dir() or any(outdir.iterdir())):
        raise BuildError(f"OUTDIR: {outdir} exists and is not an empty folder")
    jobs = discover_jobs(root)
    jars = discover_jars(root)
    release = java_release if java_release is not None else java_release_from_environments(root)
    _check_connectors(jobs, connectors_from_environments(root))
    outdir.mkdir(parents=True, exist_ok=True)

    for package, contract in sorted({(job.package, job.contract) for job in jobs.values()}):
        build_zip(outdir / f"{package}.zip", package, contract, root)
    for name, spec in sorted(jars.items()):
        build_jar(spec, outdir / f"{name}.jar", release)
    for job in jobs.values():
        shutil.copyfile(job.entry_point, outdir / f"{job.name}.py")
    index = job_index(jobs)
    (outdir / JOBS_JSON).write_text(
        json.dumps({"jobs": index}, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    files = {p.name: _sha256(p) for p in sorted(outdir.iterdir())}
    return BuildResult(outdir=outdir, files=files, java_release=release, jobs=index)


def _javac_major() -> int | None:
    done = subprocess.run([_tool("javac"), "-version"], capture_output=True, text=True, check=False)
    match = re.search(r"javac (\d+)", done.stdout + done.stderr)
    return int(match.group(1)) if match else None


def build_tree(root: Path, out: Path) -> Path:
    """Run the Spark build of the source tree `root` (its own `python -m dataproc_jobs.build OUT`, in a
    fresh interpreter with `root` first on the path) into `out`, as a release build does; ConfigError
    with the build's last line when it fails."""
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


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    """CLI: build into OUTDIR and print each file with its sha256."""
    parser = _Parser(prog="python -m dataproc_jobs.build", description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path, help="empty or new folder to write the artifacts into")
    parser.add_argument("--java-release", type=int, default=None, help="override env.dataproc.java_release")
    args = parser.parse_args(argv)
    try:
        result = build(args.outdir, args.java_release)
    except PlatformError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    javac = f"javac {_javac_major()} --release {result.java_release}"
    print(f"built {len(result.files)} files for {len(result.jobs)} jobs into {result.outdir} ({javac})")
    for name, digest in result.files.items():
        print(f"  {digest}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
