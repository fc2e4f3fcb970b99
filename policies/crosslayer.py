"""Checks that span the layers: what no single tool sees.

`run_checks(root, ...)` returns a list of `Finding`s (empty when everything agrees). `root` is either
a release's `files/` folder (`dags/`, `jobs/`, `dbt/`, `contracts/`, what `deployer release build`
passes) or the repository (then the Spark artifacts are built into a temporary folder first, exactly
as a release build does). Environment files and the synthesized stacks are not part of a release:
they are read from the repository (`environments/`, `cdktf.out/stacks/`).

The checks:

- `pii-tags`: every dbt column marked PII (by the contract's `pii:` for a column of that name, or by
  its own `meta.pii`) carries a policy tag, the one the contract names; every policy tag referenced
  (`{{ var('policy_tags')['PII Email'] }}`) and every contract `pii:` exists in the taxonomy of EVERY
  environment file.
- `spark-artifacts`: the DAGs are loaded with Airflow's DagBag and a runtime config rendered for a GCP
  environment by the deployer itself (so the DAGs resolve jobs exactly as on Composer); every
  artifact URI of every Dataproc task must be a file of the release (or a connector jar the
  environment file names), and every file of `jobs/` and every job of `jobs/jobs.json` must be used
  by some task. Loading the DAGs is the robust way: job names travel through constants and the
  runtime config, so reading DAG source for names would miss indirection and accept dead code.
- `contract-evolution` (with a previous release): a contract column removed, renamed, retyped or
  made REQUIRED, or a REQUIRED column added without `default`, is refused unless the new contract
  version is higher and `contracts/migrations/<domain>-<version>.yaml` declares that change.
- `schema-agreement`: the synthesized Pub/Sub schema (Avro) and raw table schema of every stack, and
  the dbt sources and models, agree with the contract column by column (names, types, modes and,
  for the raw table, policy tags).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from deployer.config import Environment, load_all
from deployer.dagbag import DagProbeError, run_dag_probe
from deployer.errors import ConfigError, DeployerError

REPO_ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENTS_DIR = REPO_ROOT / "environments"
STACKS_DIR = REPO_ROOT / "cdktf.out" / "stacks"
CHECKS = ("pii-tags", "spark-artifacts", "contract-evolution", "schema-agreement")
MIGRATIONS_DIR = "contracts/migrations"
JOBS_FILE = "jobs/jobs.json"
STACK_FILE = "cdk.tf.json"

# `{{ var('policy_tags')['PII Email'] }}` (quotes either way, spaces optional).
_TAG_VAR = re.compile(r"""\{\{\s*var\(\s*['"]policy_tags['"]\s*\)\s*\[\s*['"]([^'"]+)['"]\s*\]\s*\}\}""")
_REFERENCE = re.compile(r"\$\{\s*([a-z][a-z0-9_]*)\.([A-Za-z0-9_-]+)")
_URI_FIELD = re.compile(r"(_uri|_uris)$")
# BigQuery type spellings -> the standard SQL name the contract uses.
_BQ_SYNONYMS = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "BIGDECIMAL": "BIGNUMERIC"}
# Avro encodings (type, logicalType) accepted for each contract type.
_AVRO: dict[str, set[tuple[str, str | None]]] = {
    "STRING": {("string", None)},
    "INT64": {("long", None), ("int", None)},
    "FLOAT64": {("double", None), ("float", None)},
    "NUMERIC": {("bytes", "decimal"), ("string", None)},
    "BIGNUMERIC": {("bytes", "decimal"), ("string", None)},
    "BOOL": {("boolean", None)},
    "BYTES": {("bytes", None)},
    "JSON": {("string", None)},
    "DATE": {("int", "date"), ("string", None)},
    "DATETIME": {("string", None), ("long", "local-timestamp-micros")},
    "TIME": {("long", "time-micros"), ("string", None)},
    "TIMESTAMP": {("long", "timestamp-micros"), ("long", "timestamp-millis"), ("string", None)},
}


@dataclass(frozen=True)
class Finding:
    """One disagreement between layers: which check, which file, and what is wrong."""

    check: str
    """One of CHECKS."""
    where: str
    """The file the finding is about (release- or repository-relative), or a stack file."""
    message: str
    """What is wrong, naming the column, DAG, job or tag."""

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class _Column:
    name: str
    type: str
    mode: str
    pii: str | None
    has_default: bool


@dataclass(frozen=True)
class _Contract:
    path: str
    """Release-relative path, e.g. contracts/orders.yaml."""
    domain: str
    version: int
    raw: dict[str, Any]
    sections: dict[str, list[_Column]]
    """`event`, `staging`, `marts.<name>`, ... -> columns."""

    def section(self, key: str) -> dict[str, Any]:
        value = self.raw.get(key)
        return value if isinstance(value, dict) else {}


# -- loading ---------------------------------------------------------------------------------------


def _yaml(path: Path, shown: str) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{shown}: invalid YAML: {str(exc).splitlines()[0]}") from None


def _sections(node: Any, prefix: str = "") -> Iterator[tuple[str, list[Any]]]:
    """Every mapping with a `columns` list, by dotted path (`event`, `marts.fct_daily_revenue`)."""
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if not isinstance(value, dict):
            continue
        path = f"{prefix}{key}"
        if isinstance(value.get("columns"), list):
            yield path, value["columns"]
        else:
            yield from _sections(value, path + ".")


def _parse_contract(raw: Any, shown: str) -> _Contract | None:
    """A contract file (`domain` + `version` + sections with columns), or None for other YAML."""
    if not isinstance(raw, dict) or "domain" not in raw or "version" not in raw:
        return None
    if not isinstance(raw["version"], int):
        raise ConfigError(f"{shown}: version: expected an integer, got {raw['version']!r}")
    sections: dict[str, list[_Column]] = {}
    for key, columns in _sections(raw):
        parsed: list[_Column] = []
        for i, col in enumerate(columns):
            if not isinstance(col, dict) or not isinstance(col.get("name"), str) or "type" not in col:
                raise ConfigError(f"{shown}: {key}.columns[{i}]: needs name and type")
            parsed.append(
                _Column(
                    name=col["name"],
                    type=str(col["type"]).upper(),
                    mode=str(col.get("mode") or "NULLABLE").upper(),
                    pii=str(col["pii"]) if col.get("pii") else None,
                    has_default="default" in col,
                )
            )
        sections[key] = parsed
    return _Contract(shown, str(raw["domain"]), raw["version"], raw, sections)


def load_contracts(contracts_dir: Path, prefix: str = "contracts") -> list[_Contract]:
    """The contract files directly in `contracts_dir` (migrations and other YAML are not contracts)."""
    out: list[_Contract] = []
    for path in sorted([*contracts_dir.glob("*.yaml"), *contracts_dir.glob("*.yml")]):
        shown = f"{prefix}/{path.name}"
        contract = _parse_contract(_yaml(path, shown), shown)
        if contract is not None:
            out.append(contract)
    return out


def _dbt_files(dbt_dir: Path) -> Iterator[tuple[str, Any]]:
    """(release-relative path, parsed YAML) of the dbt project's property files."""
    skip = {"target", "dbt_packages", "logs"}
    for path in sorted([*dbt_dir.rglob("*.yml"), *dbt_dir.rglob("*.yaml")]):
        rel = path.relative_to(dbt_dir)
        if rel.parts[0] in skip or path.name in ("dbt_project.yml", "profiles.yml", "packages.yml"):
            continue
        shown = f"dbt/{rel.as_posix()}"
        yield shown, _yaml(path, shown)


def _column_meta(col: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """(policy_tags, meta) of a dbt column, top level or under `config:` (newer dbt)."""
    config: dict[str, Any] = col["config"] if isinstance(col.get("config"), dict) else {}
    tags = col.get("policy_tags") or config.get("policy_tags") or []
    meta = col.get("meta") or config.get("meta") or {}
    return (tags if isinstance(tags, list) else [tags]), (meta if isinstance(meta, dict) else {})


# -- pii-tags --------------------------------------------------------------------------------------


def check_pii_tags(view: Path, envs: dict[str, Environment], env_dir: Path) -> list[Finding]:
    """dbt PII columns carry the contract's policy tag; every tag exists in every env's taxonomy."""
    findings: list[Finding] = []
    taxonomies = {name: set(env.policy_tag_names()) for name, env in envs.items()}

    def missing_in(tag: str) -> list[str]:
        return [_env_file(env_dir, name) for name, tags in sorted(taxonomies.items()) if tag not in tags]

    pii_of: dict[str, set[str]] = {}
    for contract in load_contracts(view / "contracts"):
        for section, columns in contract.sections.items():
            for col in columns:
                if col.pii is None:
                    continue
                pii_of.setdefault(col.name, set()).add(col.pii)
                for env_file in missing_in(col.pii):
                    findings.append(
                        Finding(
                            "pii-tags",
                            contract.path,
                            f"{section}.{col.name}: policy tag {col.pii!r} is not in the taxonomy "
                            f"of {env_file}",
                        )
                    )

    for shown, data in _dbt_files(view / "dbt"):
        if not isinstance(data, dict):
            continue
        for kind in ("models", "seeds", "snapshots"):
            for node in data.get(kind) or []:
                if not isinstance(node, dict):
                    continue
                for col in node.get("columns") or []:
                    if not isinstance(col, dict) or not isinstance(col.get("name"), str):
                        continue
                    where = f"{kind[:-1]} {node.get('name')}, column {col['name']}"
                    findings += _check_dbt_column(shown, where, col, pii_of, missing_in)
    return findings


def _check_dbt_column(
    shown: str,
    where: str,
    col: dict[str, Any],
    pii_of: dict[str, set[str]],
    missing_in: Any,
) -> list[Finding]:
    findings: list[Finding] = []
    tags, meta = _column_meta(col)
    carried: list[str] = []
    for tag in tags:
        match = _TAG_VAR.search(str(tag))
        if match:
            carried.append(match.group(1))
        else:
            findings.append(
                Finding(
                    "pii-tags",
                    shown,
                    f"{where}: policy tag {tag!r} is not referenced by display name "
                    "({{ var('policy_tags')['<display name>'] }}), so no environment can resolve it",
                )
            )
    marked = set(pii_of.get(col["name"], set()))
    declared = meta.get("pii")
    if isinstance(declared, str) and declared:
        marked.add(declared)
    flagged = bool(declared is True or meta.get("contains_pii") is True)
    if (marked or flagged) and not tags:
        why = f"{' / '.join(sorted(marked))} in the contract" if marked else "meta marks it PII"
        findings.append(Finding("pii-tags", shown, f"{where}: PII ({why}) but carries no policy tag"))
    elif marked and carried and not marked & set(carried):
        findings.append(
            Finding(
                "pii-tags",
                shown,
                f"{where}: carries {', '.join(repr(t) for t in carried)} but the contract marks it "
                f"{' / '.join(repr(t) for t in sorted(marked))}",
            )
        )
    for tag in carried:
        for env_file in missing_in(tag):
            findings.append(
                Finding(
                    "pii-tags", shown, f"{where}: policy tag {tag!r} is not in the taxonomy of {env_file}"
                )
            )
    return findings


def _env_file(env_dir: Path, name: str) -> str:
    path = env_dir / f"{name}.yaml"
    with contextlib.suppress(ValueError):
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    return str(path)


# -- spark-artifacts -------------------------------------------------------------------------------

_DAG_PROBE = r"""
import json, sys
try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:
    from airflow.models.dagbag import DagBag
kinds = []
try:
    from airflow.providers.google.cloud.operators.dataproc import (
        DataprocCreateBatchOperator, DataprocSubmitJobOperator)
    kinds = [(DataprocSubmitJobOperator, "job"), (DataprocCreateBatchOperator, "batch")]
except ImportError:
    pass
bag = DagBag(dag_folder=sys.argv[1])
dags = {}
for dag_id, dag in sorted(bag.dags.items()):
    tasks = []
    for task in dag.tasks:
        for kind, attr in kinds:
            if isinstance(task, kind):
                tasks.append({"task": task.task_id, "operator": type(task).__name__,
                              "spec": getattr(task, attr, None)})
    dags[dag_id] = {"file": dag.fileloc, "tasks": tasks}
with open(sys.argv[2], "w") as fh:
    json.dump({"errors": dict(bag.import_errors), "dags": dags}, fh, default=str)
"""


def _artifact_uris(spec: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(field path, URI) of every artifact field (`*_uri`, `*_uris`) of a Dataproc job or batch."""
    if isinstance(spec, dict):
        for key, value in spec.items():
            here = f"{path}.{key}" if path else str(key)
            if _URI_FIELD.search(str(key)):
                for uri in value if isinstance(value, list) else [value]:
                    if isinstance(uri, str):
                        yield here, uri
            else:
                yield from _artifact_uris(value, here)


def _load_dags(dag_folder: Path, runtime_config: bytes) -> dict[str, Any]:
    """Load a copy of `dag_folder` with `runtime_config` beside it; DagBag's view of DAGs and tasks."""
    with tempfile.TemporaryDirectory(prefix="crosslayer-dags-") as tmp:
        dags = Path(tmp) / "dags"
        shutil.copytree(dag_folder, dags, ignore=shutil.ignore_patterns("__pycache__", "runtime_config.json"))
        config = dags / "runtime_config.json"
        config.write_bytes(runtime_config)
        extra = {
            "ORDERS_RUNTIME_CONFIG": str(config),
            # Composer puts the DAG folder on sys.path; so must we, for the DAGs' shared modules.
            "PYTHONPATH": os.pathsep.join(p for p in (str(dags), os.environ.get("PYTHONPATH", "")) if p),
        }
        try:
            data: dict[str, Any] = run_dag_probe(_DAG_PROBE, dags, Path(tmp), extra)
        except DagProbeError as exc:
            raise DeployerError(f"loading the DAGs with Airflow failed: {exc}") from None
        prefix = str(dags) + "/"
        data["errors"] = {k.removeprefix(prefix): v for k, v in data["errors"].items()}
        for dag in data["dags"].values():
            dag["file"] = str(dag["file"]).removeprefix(prefix)
        return data


def check_spark_artifacts(view: Path, envs: dict[str, Environment], dag_prefix: str) -> list[Finding]:
    """Every artifact a DAG's Dataproc task uses is in the release; every release artifact is used."""
    from deployer.release import GitInfo, Manifest, component_digest, file_entry, parse_jobs, release_id_of
    from deployer.render import jobs_prefix, render, to_bytes

    findings: list[Finding] = []
    files = {
        p.relative_to(view).as_posix(): p
        for p in sorted(view.rglob("*"))
        if p.is_file() and p.relative_to(view).parts[0] in ("dags", "jobs", "dbt", "gx", "contracts")
    }
    job_files = sorted(p for p in files if p.startswith("jobs/") and p != JOBS_FILE)
    jobs: dict[str, dict[str, Any]] = {}
    if JOBS_FILE in files:
        try:
            jobs = parse_jobs(files[JOBS_FILE].read_bytes())
        except ConfigError as exc:
            return [Finding("spark-artifacts", JOBS_FILE, str(exc))]
    elif job_files:
        return [Finding("spark-artifacts", JOBS_FILE, "missing, but the release has Spark artifacts")]

    gcp = {name: env for name, env in sorted(envs.items()) if env.platform == "gcp"}
    if not gcp:
        return [Finding("spark-artifacts", "environments/", "no gcp environment to load the DAGs for")]
    entries = [file_entry(rel, path.read_bytes()) for rel, path in files.items()]
    components = {
        c: component_digest([e for e in entries if e.path.startswith(c + "/")], c)
        for c in ("dags", "jobs", "dbt", "gx", "contracts")
    }
    manifest = Manifest(
        release=release_id_of(entries),
        created="",
        builder="crosslayer",
        git=GitInfo(commit=None, dirty=None),
        components=components,
        files=entries,
    )

    def read(rel: str) -> bytes:
        return files[rel].read_bytes()

    configs: dict[str, bytes] = {}
    for name, env in gcp.items():
        try:
            configs[name] = to_bytes(
                render(env, manifest, read, artifacts_bucket=env.buckets.artifacts.name, policy_tags={})
            )
        except ConfigError as exc:
            findings.append(Finding("spark-artifacts", JOBS_FILE, f"cannot render for {name}: {exc}"))
    if not configs:
        return findings

    env_name = next(iter(configs))
    env = gcp[env_name]
    base = f"gs://{env.buckets.artifacts.name}/{jobs_prefix(manifest)}"
    connectors = {c.uri for c in env.dataproc.connectors.values()}
    loaded = _load_dags(view / "dags", configs[env_name])
    for file, error in sorted(loaded["errors"].items()):
        lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
        findings.append(
            Finding(
                "spark-artifacts",
                f"{dag_prefix}/{file}",
                f"does not load with the runtime config of {env_name}: {lines[-1] if lines else 'error'}",
            )
        )

    used: set[str] = set()
    for dag_id, dag in sorted(loaded["dags"].items()):
        for task in dag["tasks"]:
            for field, uri in _artifact_uris(task["spec"]):
                where = f"{dag_prefix}/{dag['file']}"
                if uri in connectors:
                    continue
                if uri.startswith(base):
                    rel = "jobs/" + uri.removeprefix(base)
                    if rel in files:
                        used.add(rel)
                        continue
                    problem = f"{rel}, which the release does not contain"
                else:
                    problem = f"{uri}, which is neither a release artifact nor a connector of {env_name}"
                findings.append(
                    Finding(
                        "spark-artifacts", where, f"DAG {dag_id}, task {task['task']}: {field} is {problem}"
                    )
                )
    for name, job in sorted(jobs.items()):
        if f"jobs/{job['main']}" not in used:
            findings.append(Finding("spark-artifacts", JOBS_FILE, f"job {name!r} is run by no DAG task"))
    for rel in job_files:
        if rel not in used:
            findings.append(Finding("spark-artifacts", rel, "in the release, but no DAG task uses it"))
    return findings


# -- contract-evolution ----------------------------------------------------------------------------


def _previous_contracts(previous: Path) -> tuple[str, list[_Contract]]:
    """(release id, contracts) of the previous release, each file verified against its manifest."""
    from deployer.release import MANIFEST_NAME, parse_manifest, verify_bytes

    manifest_path = previous / MANIFEST_NAME if previous.is_dir() else previous
    if not manifest_path.is_file():
        raise ConfigError(f"--previous: {previous} is not a manifest.json nor a release folder with one")
    manifest = parse_manifest(manifest_path.read_bytes(), str(manifest_path))
    files_dir = manifest_path.parent / "files"
    contracts: list[_Contract] = []
    for entry in manifest.component_files("contracts"):
        name = entry.path.removeprefix("contracts/")
        if "/" in name or not name.endswith((".yaml", ".yml")):
            continue
        try:
            data = (files_dir / entry.path).read_bytes()
        except OSError:
            raise ConfigError(
                f"--previous: {files_dir / entry.path} is missing (the previous release's files)"
            ) from None
        data = verify_bytes(entry, data, str(manifest_path))
        shown = f"{entry.path} of {manifest.release}"
        try:
            raw = yaml.safe_load(data)
        except yaml.YAMLError:
            raise ConfigError(f"{shown}: invalid YAML") from None
        contract = _parse_contract(raw, shown)
        if contract is not None:
            contracts.append(contract)
    return manifest.release, contracts


def _changes(old: _Contract, new: _Contract) -> list[tuple[str, str, str, str]]:
    """Breaking changes as (section, column, change, detail).

    `change` is removed, retyped, required (NULLABLE -> REQUIRED) or added_required.
    """
    out: list[tuple[str, str, str, str]] = []
    for section, old_cols in old.sections.items():
        new_by_name = {c.name: c for c in new.sections.get(section, [])}
        for col in old_cols:
            now = new_by_name.get(col.name)
            if now is None:
                out.append((section, col.name, "removed", f"was {col.type} {col.mode}"))
            elif now.type != col.type or (now.mode == "REPEATED") != (col.mode == "REPEATED"):
                out.append((section, col.name, "retyped", f"{col.type} {col.mode} -> {now.type} {now.mode}"))
            elif col.mode == "NULLABLE" and now.mode == "REQUIRED":
                out.append((section, col.name, "required", "NULLABLE -> REQUIRED"))
    for section, new_cols in new.sections.items():
        old_names = {c.name for c in old.sections.get(section, [])}
        for col in new_cols:
            if col.name not in old_names and col.mode == "REQUIRED" and not col.has_default:
                out.append(
                    (section, col.name, "added_required", f"new {col.type} REQUIRED column without default")
                )
    return out


def _migration(
    view: Path, domain: str, version: int
) -> tuple[str, dict[tuple[str, str], set[str]], list[Finding]]:
    """(path, (section, column) -> declared changes, problems) of the migration file of a version."""
    shown = f"{MIGRATIONS_DIR}/{domain}-{version}.yaml"
    path = view / shown
    declared: dict[tuple[str, str], set[str]] = {}
    if not path.is_file():
        return shown, declared, []
    data = _yaml(path, shown)
    changes = data.get("changes") if isinstance(data, dict) else None
    if not isinstance(changes, list):
        return shown, declared, [Finding("contract-evolution", shown, "changes: expected a list")]
    problems: list[Finding] = []
    allowed = {"removed", "renamed", "retyped", "required", "added_required"}
    for i, change in enumerate(changes):
        ok = isinstance(change, dict) and all(
            isinstance(change.get(k), str) for k in ("section", "column", "change")
        )
        if not ok or change["change"] not in allowed:
            problems.append(
                Finding(
                    "contract-evolution",
                    shown,
                    f"changes[{i}]: needs section, column and change (one of {', '.join(sorted(allowed))})",
                )
            )
            continue
        key = (change["section"], change["column"])
        if change["change"] == "renamed":
            if not isinstance(change.get("to"), str):
                problems.append(Finding("contract-evolution", shown, f"changes[{i}]: renamed needs `to`"))
                continue
            declared.setdefault(key, set()).add("removed")
            declared.setdefault((change["section"], change["to"]), set()).add("added_required")
        else:
            declared.setdefault(key, set()).add(change["change"])
    return shown, declared, problems


def check_contract_evolution(view: Path, previous: Path) -> list[Finding]:
    """Breaking contract changes since `previous` need a version bump and a declared migration."""
    findings: list[Finding] = []
    previous_id, old_contracts = _previous_contracts(previous)
    new_by_domain = {c.domain: c for c in load_contracts(view / "contracts")}
    for old in old_contracts:
        new = new_by_domain.get(old.domain)
        if new is None:
            findings.append(
                Finding(
                    "contract-evolution", old.path, f"contract {old.domain!r} was removed since {previous_id}"
                )
            )
            continue
        if new.version < old.version:
            findings.append(
                Finding("contract-evolution", new.path, f"version went down: {old.version} -> {new.version}")
            )
        changes = _changes(old, new)
        if not changes:
            continue
        bumped = new.version > old.version
        shown, declared, problems = _migration(view, new.domain, new.version)
        if not bumped:
            shown = f"{MIGRATIONS_DIR}/{new.domain}-{old.version + 1}.yaml"
        findings += problems
        for section, column, change, detail in changes:
            if bumped and change in declared.get((section, column), set()):
                continue
            bump = "" if bumped else f"bump version to {old.version + 1} and "
            findings.append(
                Finding(
                    "contract-evolution",
                    new.path,
                    f"{section}.{column}: {change.replace('_', ' ')} ({detail}) since {previous_id}: "
                    f"{bump}declare it in {shown} (change: {change}) or undo it",
                )
            )
    return findings


# -- schema-agreement ------------------------------------------------------------------------------


def _bq_type(value: Any) -> str:
    name = str(value or "").upper()
    return _BQ_SYNONYMS.get(name, name)


def _avro_type(value: Any) -> tuple[tuple[str, str | None], bool, bool]:
    """((type, logicalType), nullable, repeated) of an Avro field type."""
    nullable = isinstance(value, list) and "null" in value
    if isinstance(value, list):
        rest = [v for v in value if v != "null"]
        value = rest[0] if len(rest) == 1 else rest
    repeated = isinstance(value, dict) and value.get("type") == "array"
    if repeated:
        value = value["items"]
    if isinstance(value, dict):
        return (str(value.get("type")), value.get("logicalType")), nullable, repeated
    return (str(value), None), nullable, repeated


def _compare(
    check_where: str, what: str, contract: _Contract, section: str, actual: dict[str, tuple[str, str | None]]
) -> list[Finding]:
    """Compare `actual` (column -> (type, mode or None)) with the contract section's columns."""
    findings: list[Finding] = []
    expected = {c.name: c for c in contract.sections.get(section, [])}
    source = f"the contract ({contract.path} {section})"
    for name in sorted(set(expected) - set(actual)):
        findings.append(Finding("schema-agreement", check_where, f"{what}: lacks column {name} of {source}"))
    for name in sorted(set(actual) - set(expected)):
        findings.append(Finding("schema-agreement", check_where, f"{what}: column {name} is not in {source}"))
    for name in sorted(set(actual) & set(expected)):
        got_type, got_mode = actual[name]
        want = expected[name]
        if got_type != want.type:
            findings.append(
                Finding(
                    "schema-agreement",
                    check_where,
                    f"{what}: column {name} is {got_type}, {source} says {want.type}",
                )
            )
        if got_mode is not None and got_mode != want.mode:
            findings.append(
                Finding(
                    "schema-agreement",
                    check_where,
                    f"{what}: column {name} is {got_mode}, {source} says {want.mode}",
                )
            )
    return findings


def _stack_resources(stack: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    entries = (stack.get("resource") or {}).get(rtype) or {}
    return {n: c for n, c in entries.items() if n != "//" and isinstance(c, dict)}


def _check_stack(shown: str, stack: dict[str, Any], contract: _Contract) -> list[Finding]:
    findings: list[Finding] = []
    event = contract.section("event")
    topic_name, raw_table = event.get("topic"), event.get("raw_table")
    topics = [
        t for t in _stack_resources(stack, "google_pubsub_topic").values() if t.get("name") == topic_name
    ]
    schemas = _stack_resources(stack, "google_pubsub_schema")
    if not topics:
        findings.append(
            Finding("schema-agreement", shown, f"no Pub/Sub topic {topic_name} (contract {contract.path})")
        )
    for topic in topics:
        settings: dict[str, Any] = (
            topic["schema_settings"] if isinstance(topic.get("schema_settings"), dict) else {}
        )
        refs = [
            n for t, n in _REFERENCE.findall(str(settings.get("schema", ""))) if t == "google_pubsub_schema"
        ]
        if not refs or refs[0] not in schemas:
            findings.append(
                Finding("schema-agreement", shown, f"topic {topic_name} enforces no schema of the stack")
            )
            continue
        try:
            avro = json.loads(schemas[refs[0]].get("definition", ""))
        except ValueError:
            findings.append(Finding("schema-agreement", shown, f"schema of topic {topic_name} is not JSON"))
            continue
        actual: dict[str, tuple[str, str | None]] = {}
        for field in avro.get("fields", []) if isinstance(avro, dict) else []:
            (base, logical), nullable, repeated = _avro_type(field.get("type"))
            expected = next(
                (c for c in contract.sections.get("event", []) if c.name == field.get("name")), None
            )
            accepted = _AVRO.get(expected.type, set()) if expected else set()
            type_ = expected.type if expected and (base, logical) in accepted else f"avro {base}/{logical}"
            actual[str(field.get("name"))] = (
                type_,
                "REPEATED" if repeated else "NULLABLE" if nullable else "REQUIRED",
            )
        findings += _compare(shown, f"Pub/Sub schema of topic {topic_name}", contract, "event", actual)

    tables = [
        t for t in _stack_resources(stack, "google_bigquery_table").values() if t.get("table_id") == raw_table
    ]
    if not tables:
        findings.append(
            Finding("schema-agreement", shown, f"no raw table {raw_table} (contract {contract.path})")
        )
    tags = {
        n: str(t.get("display_name"))
        for n, t in _stack_resources(stack, "google_data_catalog_policy_tag").items()
    }
    for table in tables:
        try:
            columns = json.loads(table.get("schema") or "[]")
        except ValueError:
            findings.append(
                Finding("schema-agreement", shown, f"schema of table {raw_table} is not literal JSON")
            )
            continue
        actual = {
            str(c.get("name")): (_bq_type(c.get("type")), str(c.get("mode") or "NULLABLE").upper())
            for c in columns
            if isinstance(c, dict)
        }
        findings += _compare(shown, f"raw table {raw_table}", contract, "event", actual)
        pii = {c.name: c.pii for c in contract.sections.get("event", [])}
        for col in columns:
            if not isinstance(col, dict) or col.get("name") not in pii:
                continue
            names = (col.get("policyTags") or {}).get("names") or []
            carried = {
                tags.get(n, f"?{n}")
                for t, n in _REFERENCE.findall(" ".join(map(str, names)))
                if t == "google_data_catalog_policy_tag"
            }
            want = pii[col["name"]]
            if want and want not in carried:
                findings.append(
                    Finding(
                        "schema-agreement",
                        shown,
                        f"raw table {raw_table}: column {col['name']} lacks policy tag {want!r}",
                    )
                )
            if not want and names:
                findings.append(
                    Finding(
                        "schema-agreement",
                        shown,
                        f"raw table {raw_table}: column {col['name']} carries a policy tag the contract "
                        "does not ask for",
                    )
                )
    return findings


def _dbt_relations(view: Path) -> tuple[dict[str, tuple[str, list[Any]]], dict[str, tuple[str, list[Any]]]]:
    """(source table name -> (file, columns), model name -> (file, columns)) of the dbt project."""
    sources: dict[str, tuple[str, list[Any]]] = {}
    models: dict[str, tuple[str, list[Any]]] = {}
    for shown, data in _dbt_files(view / "dbt"):
        if not isinstance(data, dict):
            continue
        for source in data.get("sources") or []:
            for table in (source or {}).get("tables") or []:
                if isinstance(table, dict) and table.get("name"):
                    sources[str(table["name"])] = (shown, table.get("columns") or [])
        for model in data.get("models") or []:
            if isinstance(model, dict) and model.get("name"):
                models[str(model["name"])] = (shown, model.get("columns") or [])
    return sources, models


def _dbt_actual(columns: list[Any]) -> dict[str, tuple[str, str | None]]:
    return {
        str(c["name"]): (_bq_type(c.get("data_type")) or "(no data_type)", None)
        for c in columns
        if isinstance(c, dict) and c.get("name")
    }


def check_schema_agreement(view: Path, stacks: dict[str, Path]) -> list[Finding]:
    """Pub/Sub schema, raw table and dbt sources/models agree with the contract."""
    findings: list[Finding] = []
    contracts = [c for c in load_contracts(view / "contracts") if c.section("event")]
    for _, path in sorted(stacks.items()):
        stack = json.loads(path.read_text(encoding="utf-8"))
        shown = _repo_relative(path)
        for contract in contracts:
            findings += _check_stack(shown, stack, contract)
    sources, models = _dbt_relations(view)
    for contract in load_contracts(view / "contracts"):
        targets: list[tuple[str, dict[str, tuple[str, list[Any]]], str, str]] = []
        if contract.section("event").get("raw_table"):
            targets.append(("event", sources, str(contract.section("event")["raw_table"]), "source table"))
        for section in ("staging", "rejects"):
            table = contract.section(section).get("table")
            if table:
                targets.append((section, sources, str(table), "source table"))
        staging = contract.section("staging").get("table")
        if staging and f"stg_{staging}" in models:
            targets.append(("staging", models, f"stg_{staging}", "model"))
        for mart in contract.section("marts"):
            targets.append((f"marts.{mart}", models, str(mart), "model"))
        for section, relations, relation, kind in targets:
            if relation not in relations:
                findings.append(
                    Finding(
                        "schema-agreement",
                        contract.path,
                        f"{section}: the dbt project has no {kind} {relation}",
                    )
                )
                continue
            shown, columns = relations[relation]
            findings += _compare(shown, f"{kind} {relation}", contract, section, _dbt_actual(columns))
    return findings


def _repo_relative(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    return str(path)


# -- entry point -----------------------------------------------------------------------------------


_NOT_RELEASED = shutil.ignore_patterns("__pycache__", "*.pyc", "target", "logs", "dbt_packages", ".user.yml")


@contextlib.contextmanager
def release_view(root: Path) -> Iterator[tuple[Path, str]]:
    """(release-shaped folder, how DAG files are named) for a release's files/ or a source tree.

    A source tree (with composer/dags) gets a temporary view: its DAGs, dbt, GX and contracts copied
    in (without build output), and its Spark artifacts built by `python -m dataproc_jobs.build`, as a
    release build does.
    """
    root = root.resolve()
    if (root / "dags").is_dir():
        yield root, "dags"
        return
    if not (root / "composer" / "dags").is_dir():
        raise ConfigError(f"{root}: neither a release's files/ (dags/) nor a source tree (composer/dags/)")
    with tempfile.TemporaryDirectory(prefix="crosslayer-release-") as tmp:
        view = Path(tmp)
        for name, src in (
            ("dags", "composer/dags"),
            ("dbt", "dbt"),
            ("gx", "gx"),
            ("contracts", "contracts"),
        ):
            if (root / src).is_dir():
                shutil.copytree(root / src, view / name, ignore=_NOT_RELEASED)
        if (root / "dataproc_jobs" / "build.py").is_file():
            env = {**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}
            proc = subprocess.run(
                [sys.executable, "-m", "dataproc_jobs.build", str(view / "jobs")],
                cwd=root,
                env=env,
                capture_output=True,
                text=True,
                check=False,
                timeout=900,
            )
            if proc.returncode != 0:
                lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
                raise ConfigError(f"dataproc_jobs.build failed: {lines[-1] if lines else 'no output'}")
        yield view, "composer/dags"


def find_stacks(stacks_dir: Path | None) -> dict[str, Path]:
    """stack -> cdk.tf.json under `stacks_dir` (default cdktf.out/stacks; empty when not synthesized)."""
    base = stacks_dir or STACKS_DIR
    return {p.parent.name: p for p in sorted(base.glob(f"*/{STACK_FILE}"))}


def run_checks(
    root: Path,
    *,
    previous: Path | None = None,
    environments_dir: Path | None = None,
    stacks_dir: Path | None = None,
    only: Iterable[str] | None = None,
) -> list[Finding]:
    """Every cross-layer finding for `root` (a release's files/ or a source tree); empty when all agree.

    `previous`: the previous release (its manifest.json or folder) for the contract-evolution check,
    which is not run without it. `stacks_dir`: synthesized stacks (default cdktf.out/stacks; the stack
    half of schema-agreement is not run when there are none). `only`: a subset of CHECKS.
    """
    selected = set(only or CHECKS)
    unknown = selected - set(CHECKS)
    if unknown:
        raise ConfigError(
            f"--only: unknown check(s) {', '.join(sorted(unknown))} (known: {', '.join(CHECKS)})"
        )
    env_dir = environments_dir or ENVIRONMENTS_DIR
    envs = load_all(env_dir)
    if not envs:
        raise ConfigError(f"{env_dir}: no environment files")
    findings: list[Finding] = []
    with release_view(root) as (view, dag_prefix):
        if "pii-tags" in selected:
            findings += check_pii_tags(view, envs, env_dir)
        if "spark-artifacts" in selected and (view / "dags").is_dir():
            findings += check_spark_artifacts(view, envs, dag_prefix)
        if "contract-evolution" in selected and previous is not None:
            findings += check_contract_evolution(view, previous)
        if "schema-agreement" in selected:
            findings += check_schema_agreement(view, find_stacks(stacks_dir))
    return findings


def format_findings(findings: Sequence[Finding]) -> list[str]:
    """One line per finding, grouped by check."""
    return [f"[{f.check}] {f}" for f in sorted(findings, key=lambda f: (CHECKS.index(f.check), f.where))]
