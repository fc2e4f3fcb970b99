"""Build the shippable Spark artifacts of every job into OUTDIR.

    python -m dataproc_jobs.build OUTDIR

Writes, for Dataproc's `pyspark_job`: each job's entry point (`<job>.py`), one zip of the
`dataproc_jobs` package (`py_files`), the jars compiled from the Java sources in this repo with the
machine's JDK (`javac --release <env.dataproc.java_release>`, then `jar`), and `jobs.json`:

    {"jobs": {"<job>": {"main": "<job>.py", "py_files": [...], "jars": [...], "connectors": [...]}}}

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
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from deployer.errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent

# Zip entries get this timestamp (the earliest a zip can hold); jars the same instant in ISO form.
FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
FIXED_JAR_TIME = "1980-01-01T00:00:02Z"
PY_ZIP_NAME = "dataproc_jobs.zip"
JOBS_JSON = "jobs.json"


class BuildError(Exception):
    """The build cannot proceed; the message says what to fix (exit 2)."""


@dataclass(frozen=True)
class JarSpec:
    """A jar compiled from Java sources in this repo."""

    name: str
    """File name without `.jar`."""
    sources: Path
    """Folder of `.java` files (package folders below it)."""
    classpath: tuple[str, ...]
    """Glob patterns of pyspark's bundled jars the sources compile against (provided at run time)."""


@dataclass(frozen=True)
class JobSpec:
    """A Spark job: its entry point, the jars it registers UDFs from, the connectors it needs on GCP."""

    entry_point: Path
    jars: tuple[str, ...] = ()
    connectors: tuple[str, ...] = ()


JARS: dict[str, JarSpec] = {
    "orders-udfs": JarSpec(
        name="orders-udfs",
        sources=PACKAGE_DIR / "java" / "orders-udfs" / "src",
        classpath=("spark-sql-api_*.jar",),
    ),
}

JOBS: dict[str, JobSpec] = {
    "orders_clean": JobSpec(
        entry_point=PACKAGE_DIR / "entrypoints" / "orders_clean.py",
        jars=("orders-udfs",),
        connectors=("spark-bigquery",),
    ),
}


@dataclass
class BuildResult:
    """What a build wrote: file name (relative to OUTDIR) -> sha256."""

    outdir: Path
    files: dict[str, str] = field(default_factory=dict)
    java_release: int = 0


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def java_release_from_environments() -> int:
    """The Java release every environment's Dataproc image runs (they must agree: one build for all)."""
    from deployer.config import load_all

    releases = {name: env.dataproc.java_release for name, env in load_all().items()}
    if not releases:
        raise BuildError("no environment files found under environments/")
    if len(set(releases.values())) > 1:
        raise BuildError(f"environments disagree on the Dataproc Java release: {releases}")
    return next(iter(releases.values()))


def connectors_from_environments() -> set[str]:
    """Connector keys every environment defines (a job may only use these)."""
    from deployer.config import load_all

    envs = load_all().values()
    keys = [set(env.dataproc.connectors) for env in envs]
    return set.intersection(*keys) if keys else set()


def _python_files() -> list[Path]:
    files = [PACKAGE_DIR / "__init__.py", *sorted((PACKAGE_DIR / "orders").rglob("*.py"))]
    return [f for f in files if "__pycache__" not in f.parts]


def build_zip(target: Path) -> None:
    """Zip the job package (`dataproc_jobs/__init__.py`, `dataproc_jobs/orders/**`) deterministically."""
    with zipfile.ZipFile(target, "w") as zf:
        for path in sorted(_python_files(), key=lambda p: p.relative_to(REPO_ROOT).as_posix()):
            info = zipfile.ZipInfo(path.relative_to(REPO_ROOT).as_posix(), date_time=FIXED_ZIP_TIME)
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            zf.writestr(info, path.read_bytes(), compresslevel=9)


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
    """Compile `spec.sources` for `java_release` and pack the classes into `target` deterministically."""
    sources = sorted(spec.sources.rglob("*.java"))
    if not sources:
        raise BuildError(f"{spec.sources}: no .java files")
    jars_dir = _pyspark_jars_dir()
    classpath: list[str] = []
    for pattern in spec.classpath:
        matches = sorted(jars_dir.glob(pattern))
        if not matches:
            raise BuildError(f"{jars_dir}: no jar matching {pattern} to compile {spec.name} against")
        classpath.append(str(matches[-1]))
    with tempfile.TemporaryDirectory(prefix=f"{spec.name}-") as tmp:
        classes = Path(tmp) / "classes"
        classes.mkdir()
        javac = [_tool("javac"), "--release", str(java_release), "-encoding", "UTF-8", "-implicit:none"]
        javac += ["-nowarn", "-cp", ":".join(classpath), "-d", str(classes), *map(str, sources)]
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


def build(outdir: Path, java_release: int | None = None) -> BuildResult:
    """Build every job's artifacts into `outdir` (created if missing; it must be empty)."""
    if outdir.exists() and (not outdir.is_dir() or any(outdir.iterdir())):
        raise BuildError(f"OUTDIR: {outdir} exists and is not an empty folder")
    release = java_release if java_release is not None else java_release_from_environments()
    known_connectors = connectors_from_environments()
    outdir.mkdir(parents=True, exist_ok=True)
    result = BuildResult(outdir=outdir, java_release=release)

    build_zip(outdir / PY_ZIP_NAME)
    for jar_name in sorted({j for job in JOBS.values() for j in job.jars}):
        build_jar(JARS[jar_name], outdir / f"{jar_name}.jar", release)

    index: dict[str, dict[str, object]] = {}
    for job_name, job in sorted(JOBS.items()):
        unknown = sorted(set(job.connectors) - known_connectors)
        if unknown:
            raise BuildError(
                f"job {job_name}: connectors {unknown} are not in every environment's dataproc.connectors"
            )
        main = f"{job_name}.py"
        shutil.copyfile(job.entry_point, outdir / main)
        index[job_name] = {
            "main": main,
            "py_files": [PY_ZIP_NAME],
            "jars": [f"{j}.jar" for j in job.jars],
            "connectors": list(job.connectors),
        }
    (outdir / JOBS_JSON).write_text(
        json.dumps({"jobs": index}, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    result.files = {p.name: _sha256(p) for p in sorted(outdir.iterdir())}
    return result


def _javac_major() -> int | None:
    done = subprocess.run([_tool("javac"), "-version"], capture_output=True, text=True, check=False)
    match = re.search(r"javac (\d+)", done.stdout + done.stderr)
    return int(match.group(1)) if match else None


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
    except (BuildError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    javac = f"javac {_javac_major()} --release {result.java_release}"
    print(f"built {len(result.files)} files into {result.outdir} ({javac})")
    for name, digest in result.files.items():
        print(f"  {digest}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
