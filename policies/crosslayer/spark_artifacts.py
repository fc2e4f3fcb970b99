"""`spark-artifacts`: the Spark jobs the domains declare are built, and the DAGs run what the release ships.

- Every Spark job a domain declares is in the release's `jobs/jobs.json`, with the domain's package,
  jars and connectors.
- The DAGs are loaded with Airflow's DagBag (`composer.dag_check.dag_reports`, one interpreter) once
  per GCP environment, with the runtime config `platform_model.runtime.render` renders for it from the
  release, so the DAGs resolve their jobs exactly as on Composer. Every DAG file loads; every DAG a
  deployed domain declares exists; every artifact URI of every Dataproc task is a file of the release
  (or a connector jar the environment file names); every job of jobs.json and every file of `jobs/`
  is used by some task. Inside `deployer release build` the loads of its DAG parse are reused (same
  DAG folder, same runtime config bytes); standalone the check loads them itself. Loading the DAGs
  is the robust way: job names travel through the runtime config, so reading DAG sources for names
  would miss indirection and accept dead code.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from composer.dag_check import dag_reports
from platform_model.environment import Environment
from platform_model.errors import ConfigError, PlatformError
from platform_model.manifest import JOBS_FILE, jobs_prefix, parse_jobs
from platform_model.runtime import RUNTIME_CONFIG_NAME, render, to_bytes
from policies.crosslayer.view import Finding, ReleaseView, shown_path

CHECK = "spark-artifacts"
_URI_FIELD = re.compile(r"(_uri|_uris)$")
_ENVS = "{envs}"


def artifact_uris(spec: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(field path, URI) of every artifact field (`*_uri`, `*_uris`) of a Dataproc job or batch."""
    if isinstance(spec, dict):
        for key, value in spec.items():
            here = f"{path}.{key}" if path else str(key)
            if _URI_FIELD.search(str(key)):
                for uri in value if isinstance(value, list) else [value]:
                    if isinstance(uri, str):
                        yield here, uri
            else:
                yield from artifact_uris(value, here)


class _PerEnvironment:
    """Findings that recur in several environments, reported once naming all of them."""

    def __init__(self) -> None:
        self._envs: dict[tuple[str, str], list[str]] = {}

    def add(self, where: str, message: str, env: str) -> None:
        """Record `message` (with `{envs}` where the environment names go) for `env`."""
        self._envs.setdefault((where, message), []).append(env)

    def findings(self) -> list[Finding]:
        """One finding per (where, message), naming every environment it was seen in."""
        return [
            Finding(CHECK, where, message.replace(_ENVS, ", ".join(envs)))
            for (where, message), envs in self._envs.items()
        ]


def read_jobs(view: ReleaseView) -> tuple[dict[str, dict[str, Any]], list[Finding]]:
    """The release's jobs.json index, or the findings that make it unusable."""
    job_files = [p for p in view.files if p.startswith("jobs/") and p != JOBS_FILE]
    if JOBS_FILE not in view.files:
        if job_files:
            return {}, [Finding(CHECK, JOBS_FILE, "missing, but the release has Spark artifacts")]
        return {}, []
    try:
        return parse_jobs(view.read(JOBS_FILE)), []
    except ConfigError as exc:
        return {}, [Finding(CHECK, JOBS_FILE, str(exc))]


def check_declared_jobs(view: ReleaseView, jobs: dict[str, dict[str, Any]]) -> list[Finding]:
    """Every job a domain declares is built into jobs.json with the domain's package, jars, connectors."""
    findings: list[Finding] = []
    for name, domain in sorted(view.domains.items()):
        where = view.domain_file(name)
        for job, declared in domain.spark_jobs.items():
            built = jobs.get(job)
            if built is None:
                has = ", ".join(sorted(jobs)) or "none"
                findings.append(
                    Finding(
                        CHECK, where, f"spark_jobs.{job}: not in {JOBS_FILE} of the release (it has: {has})"
                    )
                )
                continue
            package = f"{domain.job_package(job)}.zip"
            if package not in built["py_files"]:
                findings.append(
                    Finding(
                        CHECK,
                        where,
                        f"spark_jobs.{job}: {JOBS_FILE} ships {built['py_files']}, not the package {package}",
                    )
                )
            for jar in declared.jars:
                if f"{jar}.jar" not in built["jars"]:
                    findings.append(
                        Finding(CHECK, where, f"spark_jobs.{job}.jars: {jar}.jar is not a jar of {JOBS_FILE}")
                    )
            for connector in declared.connectors:
                if connector not in built["connectors"]:
                    findings.append(
                        Finding(
                            CHECK,
                            where,
                            f"spark_jobs.{job}.connectors: {connector} is not a connector of {JOBS_FILE}",
                        )
                    )
    return findings


def dag_report_key(dag_folder: Path, runtime_config: bytes) -> str:
    """The key of a DagBag report of `dag_folder` loaded with the runtime config `runtime_config`."""
    digest = hashlib.sha256(str(dag_folder.resolve()).encode() + b"\n")
    digest.update(runtime_config)
    return digest.hexdigest()


def load_dags(
    view: ReleaseView, envs: list[Environment], loaded: Mapping[str, dict[str, Any]] | None = None
) -> dict[str, dict[str, Any] | str]:
    """Per environment of `envs`: DagBag's report on the release's DAGs with its runtime config, or why
    that config cannot be rendered. A report of `loaded` with the same DAG folder and runtime config
    (`dag_report_key`) is used as it is; the others are loaded together, in one interpreter
    (`composer.dag_check.dag_reports`)."""
    out: dict[str, dict[str, Any] | str] = {}
    configs: dict[str, bytes] = {}
    for env in envs:
        try:
            config = render(
                env,
                view.manifest,
                view.read,
                artifacts_bucket=env.buckets.artifacts.name,
                policy_tags=env.local_policy_tag_ids(),
            )
        except ConfigError as exc:
            out[env.name] = str(exc)
            continue
        data = to_bytes(config)
        known = (loaded or {}).get(dag_report_key(view.root / "dags", data))
        if known is not None:
            out[env.name] = known
        else:
            configs[env.name] = data
    if configs:
        with tempfile.TemporaryDirectory(prefix="crosslayer-runtime-") as tmp:
            paths = []
            for name, data in configs.items():
                path = Path(tmp) / name / RUNTIME_CONFIG_NAME
                path.parent.mkdir()
                path.write_bytes(data)
                paths.append(path)
            try:
                reports = dag_reports(view.root / "dags", paths)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                raise PlatformError(f"loading the DAGs with Airflow failed: {exc}") from None
        out.update(zip(configs, reports, strict=True))
    return {env.name: out[env.name] for env in envs}


def _dag_files(view: ReleaseView) -> dict[str, str]:
    """DAG id -> the release path of the file that should define it (`dags/<domain>.py`)."""
    return {dag_id: f"dags/{name}.py" for name, d in view.domains.items() for dag_id in d.dag_ids()}


def _check_loaded(
    view: ReleaseView, env: Environment, report: dict[str, Any], seen: _PerEnvironment, used: set[str]
) -> None:
    """Import errors, missing DAGs and the artifacts of every Dataproc task of one environment's load."""
    dags_dir = (view.root / "dags").resolve()
    failed: set[str] = set()
    for file, error in sorted(report["import_errors"].items()):
        rel = "dags/" + Path(file).resolve().relative_to(dags_dir).as_posix()
        failed.add(rel)
        lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
        seen.add(
            view.shown(rel),
            f"does not load with the runtime config of {_ENVS}: {lines[-1] if lines else 'error'}",
            env.name,
        )
    files = _dag_files(view)
    deployed = view.deployed(env)
    for name, domain in deployed.items() if isinstance(deployed, dict) else []:
        for kind in domain.dags:
            dag_id = domain.dag_id(kind)
            if dag_id not in report["dags"] and files[dag_id] not in failed:
                seen.add(
                    view.domain_file(name),
                    f"dags.{kind}: no DAG file of the release defines DAG {dag_id} "
                    f"(loaded with the runtime config of {_ENVS})",
                    env.name,
                )
    base = f"gs://{env.buckets.artifacts.name}/{jobs_prefix(view.manifest)}"
    connectors = {c.uri for c in env.dataproc.connectors.values()}
    for dag_id, dag in sorted(report["dags"].items()):
        where = view.shown(files.get(dag_id, "dags/"))
        for task_id, task in sorted(dag["tasks"].items()):
            for field, uri in artifact_uris(task.get("rendered_job") or task.get("job")):
                if uri in connectors:
                    continue
                if uri.startswith(base):
                    rel = "jobs/" + uri.removeprefix(base)
                    if rel in view.files:
                        used.add(rel)
                        continue
                    problem = f"{rel}, which the release does not contain"
                else:
                    problem = f"{uri}, which is neither a release artifact nor a connector of {_ENVS}"
                seen.add(where, f"DAG {dag_id}, task {task_id}: {field} is {problem}", env.name)


def check_spark_artifacts(
    view: ReleaseView, loaded: Mapping[str, dict[str, Any]] | None = None
) -> list[Finding]:
    """The `spark-artifacts` findings of a release; `loaded`: DagBag reports already made (see
    `load_dags`)."""
    jobs, findings = read_jobs(view)
    if findings:
        return findings
    findings = check_declared_jobs(view, jobs)
    if any(job not in jobs for d in view.domains.values() for job in d.spark_jobs):
        return [
            *findings,
            Finding(
                CHECK,
                view.shown("dags/"),
                f"not loaded with Airflow: no runtime config renders while a declared job is missing "
                f"from {JOBS_FILE}",
            ),
        ]
    gcp = [env for _, env in sorted(view.envs.items()) if env.platform == "gcp"]
    if not gcp:
        where = shown_path(view.env_dir) + "/"
        return [*findings, Finding(CHECK, where, "no gcp environment to load the DAGs for")]
    seen = _PerEnvironment()
    used: set[str] = set()
    reports = load_dags(view, gcp, loaded)
    for env in gcp:
        report = reports[env.name]
        if isinstance(report, str):
            where = JOBS_FILE if report.startswith(JOBS_FILE) else view.env_file(env.name)
            findings.append(
                Finding(CHECK, where, f"cannot render the runtime config of {env.name}: {report}")
            )
            continue
        _check_loaded(view, env, report, seen, used)
    findings += seen.findings()
    if any(f.message.startswith("cannot render") for f in findings):
        return findings  # what no loaded DAG used may be used by the DAGs of the missing environments
    for name, job in sorted(jobs.items()):
        if f"jobs/{job['main']}" not in used:
            findings.append(Finding(CHECK, JOBS_FILE, f"job {name!r} is run by no DAG task"))
    for rel in sorted(view.files):
        if rel.startswith("jobs/") and rel != JOBS_FILE and rel not in used:
            findings.append(Finding(CHECK, rel, "in the release, but no DAG task uses it"))
    return findings
