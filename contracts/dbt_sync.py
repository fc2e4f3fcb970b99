"""Generate the `columns:` of every domain's dbt YAML from its domain file, so columns are declared once.

    python -m contracts.dbt_sync [--check]   # exit 1 and name the files that are out of date
    python -m contracts.dbt_sync --write     # rewrite them; create the files a new domain lacks

For every domain (`domains/<d>.yaml`, read by platform_model.domain) the sync owns, under
`dbt/models/<d>/`:
- `_sources.yml`: source `<d>_raw` (the event's raw table) and `<d>_staging` (its staging and rejects
  tables): documentation and types;
- `staging/stg_<staging table>.yml`: the staging model, a view;
- `marts/<mart>.yml`: each mart, with its enforced contract (types, not-null constraints, data tests,
  policy tags from `pii` through `var('policy_tags')`) and the mart's description;
and the columns of each snapshot in `dbt/snapshots/<d>/*.yml` whose `relation` is one of those models or
source tables (documentation, types and policy tags: a snapshot keeps the PII of what it copies).

Only those parts are generated; everything else in the files (descriptions, freshness, configs, unit
tests) is kept as written. A file or entry that does not exist yet is created from a skeleton that
follows the platform's conventions (datasets from PLATFORM_DATASET_*, the local warehouse layout), so a
new domain's dbt YAML appears without editing anything here. Folders under `models/`, `snapshots/` and
`tests/` that belong to no domain are reported.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn

import yaml

from platform_model import REPO_ROOT
from platform_model.domain import DOMAINS_DIR, Column, Dag, Domain, Event, Table, load_domains
from platform_model.errors import ConfigError, PlatformError
from platform_model.yamlfile import load_yaml_mapping

DBT_DIR = REPO_ROOT / "dbt"
DOMAIN_FOLDERS = ("models", "snapshots", "tests")
"""The dbt folders laid out by domain: `<folder>/<domain>/`."""

ERROR_AFTER_TARGETS = 4
"""A raw source errors when its newest event is older than this many freshness targets (it warns at one)."""

_LOCAL_WAREHOUSE = "{{ env_var('PLATFORM_LOCAL_WAREHOUSE', 'target/warehouse') }}"
_REF = re.compile(r"^\s*ref\(\s*['\"](\w+)['\"]\s*\)\s*$")
_SOURCE = re.compile(r"^\s*source\(\s*['\"](\w+)['\"]\s*,\s*['\"](\w+)['\"]\s*\)\s*$")


def header(domain: str) -> str:
    """The comment that opens every generated file."""
    return (
        f"# The `columns:` lists (and the marts' descriptions) come from domains/{domain}.yaml\n"
        "# (python -m contracts.dbt_sync --write): change the domain file, not them. Everything else in\n"
        "# this file is written by hand.\n"
    )


@dataclass(frozen=True)
class Target:
    """One generated entry: a model, or a table of a source, in a dbt YAML file of a domain."""

    path: str
    """File under dbt/."""
    kind: Literal["model", "source"]
    name: str
    """Model name, or source name (then `table` names the table)."""
    columns: list[dict[str, Any]]
    """The generated `columns:` list."""
    table: str | None = None
    """Source table name (sources only)."""
    owned: Mapping[str, Any] | None = None
    """Other keys the sync owns (set on every run), e.g. a mart's description."""
    skeleton: Mapping[str, Any] | None = None
    """The entry as created when missing (a source's skeleton also holds the source's own keys)."""


# -- columns -----------------------------------------------------------------------------------------


def policy_tag_ref(display_name: str) -> str:
    """The dbt expression resolving a policy tag's id per environment from the `policy_tags` var."""
    return "{{ var('policy_tags')['" + display_name + "'] }}"


def source_columns(columns: list[Column]) -> list[dict[str, Any]]:
    """Columns of a source table: documentation and types only (sources carry no contract)."""
    return [{"name": c.name, "description": c.description, "data_type": c.type.lower()} for c in columns]


def model_columns(columns: list[Column], enforced: bool) -> list[dict[str, Any]]:
    """Columns of a model with a contract: type, not-null constraint (tables), policy tag, data tests."""
    out: list[dict[str, Any]] = []
    for c in columns:
        col: dict[str, Any] = {"name": c.name, "description": c.description, "data_type": c.type.lower()}
        if enforced and c.mode == "REQUIRED":
            col["constraints"] = [{"type": "not_null"}]
        if c.pii:
            col["policy_tags"] = [policy_tag_ref(c.pii)]
        tests: list[Any] = ["not_null"] if c.mode == "REQUIRED" else []
        tests.extend(t for t in c.tests if t not in tests)
        if tests:
            col["data_tests"] = tests
        out.append(col)
    return out


def snapshot_columns(columns: list[Column]) -> list[dict[str, Any]]:
    """Columns of a snapshot: documentation, types and policy tags of what it copies (no tests)."""
    out: list[dict[str, Any]] = []
    for c in columns:
        col: dict[str, Any] = {"name": c.name, "description": c.description, "data_type": c.type.lower()}
        if c.pii:
            col["policy_tags"] = [policy_tag_ref(c.pii)]
        out.append(col)
    return out


# -- what a domain generates ----------------------------------------------------------------------------


def staging_model(domain: Domain) -> str | None:
    """The name of the domain's staging model: `stg_<staging table>`."""
    return f"stg_{domain.staging.table}" if domain.staging else None


def targets(domain: Domain) -> list[Target]:
    """Every generated entry of one domain, in file order."""
    d = domain.domain
    sources = f"models/{d}/_sources.yml"
    out: list[Target] = []
    if domain.event is not None:
        event = domain.event
        out.append(
            Target(
                sources,
                "source",
                f"{d}_raw",
                source_columns(event.columns),
                table=event.raw_table,
                skeleton=_raw_source(domain, event),
            )
        )
    for table, what in ((domain.staging, "staging"), (domain.rejects, "rejects")):
        if table is not None:
            out.append(
                Target(
                    sources,
                    "source",
                    f"{d}_staging",
                    source_columns(table.columns),
                    table=table.table,
                    skeleton=_staging_source(domain, table, what),
                )
            )
    name = staging_model(domain)
    if domain.staging is not None and name is not None:
        out.append(
            Target(
                f"models/{d}/staging/{name}.yml",
                "model",
                name,
                model_columns(domain.staging.columns, enforced=False),
                owned={"config": {"materialized": "view"}},
                skeleton={
                    "name": name,
                    "description": f"The {d} domain's staging table {domain.staging.table}, typed by its "
                    "contract.",
                },
            )
        )
    for mart_name, mart in domain.marts.items():
        out.append(
            Target(
                f"models/{d}/marts/{mart_name}.yml",
                "model",
                mart_name,
                model_columns(mart.columns, enforced=True),
                owned={"description": mart.description} if mart.description else None,
                skeleton={"name": mart_name, "description": mart.description},
            )
        )
    return out


def _first_timestamp(columns: list[Column]) -> str | None:
    stamps = [c for c in columns if c.type == "TIMESTAMP"]
    stamps.sort(key=lambda c: c.mode != "REQUIRED")
    return stamps[0].name if stamps else None


def _raw_source(domain: Domain, event: Event) -> dict[str, Any]:
    source: dict[str, Any] = {
        "name": f"{domain.domain}_raw",
        "description": f"Events of topic {event.topic} as they land from Pub/Sub (a BigQuery "
        "subscription writes the event's columns).",
        "schema": "{{ env_var('PLATFORM_DATASET_RAW', 'raw') }}",
    }
    loaded_at = _first_timestamp(event.columns)
    if loaded_at is not None:
        freshness = domain.dags.get("freshness") or Dag()
        minutes = math.ceil(freshness.freshness_target_seconds / 60)
        source["config"] = {
            "loaded_at_field": loaded_at,
            "freshness": {
                "warn_after": {"count": minutes, "period": "minute"},
                "error_after": {"count": ERROR_AFTER_TARGETS * minutes, "period": "minute"},
            },
        }
    location = (
        f"read_json('{_LOCAL_WAREHOUSE}/raw/{event.raw_table}/*/*.jsonl', "
        "format = 'newline_delimited', ignore_errors = true)"
    )
    table = {
        "name": event.raw_table,
        "description": "One row per event received.",
        "config": {"meta": {"external_location": location}},
    }
    return {"source": source, "table": table}


def _staging_source(domain: Domain, table: Table, what: str) -> dict[str, Any]:
    source = {
        "name": f"{domain.domain}_staging",
        "description": "What the domain's daily Spark job writes (cleaned, deduplicated, PII hashed).",
        "schema": "{{ env_var('PLATFORM_DATASET_STAGING', 'staging') }}",
    }
    files = f"{_LOCAL_WAREHOUSE}/staging/{table.table}/*/*.parquet"
    location = f"read_parquet('{files}', hive_partitioning = true)"
    config: dict[str, Any] = {}
    if what == "staging":
        loaded_at = _first_timestamp(table.columns) or f"cast({table.partition_by} as timestamp)"
        config["loaded_at_field"] = loaded_at
        # A daily job: a day and some slack before a warning, two before an error.
        config["freshness"] = {
            "warn_after": {"count": 26, "period": "hour"},
            "error_after": {"count": 50, "period": "hour"},
        }
        description = f"The domain's records by UTC day (partitioned on {table.partition_by})."
    else:
        description = f"Records the daily job set aside, by day (partitioned on {table.partition_by})."
    config["meta"] = {"external_location": location}
    return {"source": source, "table": {"name": table.table, "description": description, "config": config}}


# -- rendering -----------------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Jinja in double quotes, multi-line text as literal blocks: the files read as if written by hand."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else '"' if "{{" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _dump(domain: str, doc: Mapping[str, Any]) -> str:
    text = yaml.dump(dict(doc), Dumper=_Dumper, sort_keys=False, width=1000, allow_unicode=True)
    return header(domain) + text


def _load(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"version": 2}
    return load_yaml_mapping(path)


def _items(doc: dict[str, Any], key: str, path: Path) -> list[dict[str, Any]]:
    items = doc.setdefault(key, [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ConfigError(f"{path}: {key}: expected a list of mappings")
    return items


def _entry(doc: dict[str, Any], target: Target, path: Path) -> dict[str, Any]:
    skeleton = dict(target.skeleton or {"name": target.name})
    if target.kind == "model":
        models = _items(doc, "models", path)
        for item in models:
            if item.get("name") == target.name:
                return item
        models.append(skeleton)
        return skeleton
    sources = _items(doc, "sources", path)
    source = next((s for s in sources if s.get("name") == target.name), None)
    if source is None:
        source = dict(skeleton["source"])
        sources.append(source)
    tables = _items(source, "tables", path)
    for table in tables:
        if table.get("name") == target.table:
            return table
    table = dict(skeleton["table"])
    tables.append(table)
    return table


def _set_owned(entry: dict[str, Any], owned: Mapping[str, Any]) -> None:
    for key, value in owned.items():
        if isinstance(value, Mapping):
            current = entry.get(key)
            if not isinstance(current, dict):
                current = entry[key] = {}
            _set_owned(current, value)
        else:
            entry[key] = value


def _snapshot_docs(
    domain: Domain, dbt_dir: Path, generated: dict[str, list[Column]]
) -> dict[Path, dict[str, Any]]:
    """The snapshot YAML files of the domain, their columns taken from the relation they snapshot."""
    docs: dict[Path, dict[str, Any]] = {}
    folder = dbt_dir / "snapshots" / domain.domain
    for path in sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")]):
        doc = load_yaml_mapping(path)
        for snapshot in _items(doc, "snapshots", path):
            relation = snapshot.get("relation")
            ref = _REF.match(relation) if isinstance(relation, str) else None
            src = _SOURCE.match(relation) if isinstance(relation, str) else None
            key = ref.group(1) if ref else f"{src.group(1)}.{src.group(2)}" if src else None
            if key in generated:
                snapshot["columns"] = snapshot_columns(generated[key])
        docs[path] = doc
    return docs


def _relations(domain: Domain) -> dict[str, list[Column]]:
    """What a snapshot of the domain may copy: its models and source tables, by ref name or source."""
    out: dict[str, list[Column]] = {}
    d = domain.domain
    if domain.event is not None:
        out[f"{d}_raw.{domain.event.raw_table}"] = domain.event.columns
    for table in (domain.staging, domain.rejects):
        if table is not None:
            out[f"{d}_staging.{table.table}"] = table.columns
    name = staging_model(domain)
    if domain.staging is not None and name is not None:
        out[name] = domain.staging.columns
    out.update({mart: m.columns for mart, m in domain.marts.items()})
    return out


def render_domain(domain: Domain, dbt_dir: Path = DBT_DIR) -> dict[Path, str]:
    """The generated text of every file of one domain (files not yet written included)."""
    docs: dict[Path, dict[str, Any]] = {}
    for target in targets(domain):
        path = dbt_dir / target.path
        if path not in docs:
            docs[path] = _load(path)
        entry = _entry(docs[path], target, path)
        entry["columns"] = target.columns
        if target.owned:
            _set_owned(entry, target.owned)
    docs.update(_snapshot_docs(domain, dbt_dir, _relations(domain)))
    return {path: _dump(domain.domain, doc) for path, doc in docs.items()}


def render(domains: Mapping[str, Domain], dbt_dir: Path = DBT_DIR) -> dict[Path, str]:
    """The generated text of every file of every domain."""
    out: dict[Path, str] = {}
    for domain in domains.values():
        out.update(render_domain(domain, dbt_dir))
    return out


def _differs(path: Path, text: str) -> bool:
    return not path.exists() or path.read_text(encoding="utf-8") != text


def stale_files(domains: Mapping[str, Domain], dbt_dir: Path = DBT_DIR) -> list[Path]:
    """Generated files whose text differs from what the domains generate, or that do not exist yet."""
    return [path for path, text in render(domains, dbt_dir).items() if _differs(path, text)]


def orphan_folders(domains: Mapping[str, Domain], dbt_dir: Path = DBT_DIR) -> list[Path]:
    """Folders `models/<x>/`, `snapshots/<x>/`, `tests/<x>/` whose `<x>` is no domain."""
    return sorted(
        p
        for folder in DOMAIN_FOLDERS
        if (dbt_dir / folder).is_dir()
        for p in (dbt_dir / folder).iterdir()
        if p.is_dir() and p.name not in domains
    )


# -- command line -------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message}\n")


def _shown(path: Path, dbt_dir: Path) -> str:
    try:
        return str(path.relative_to(dbt_dir.parent))
    except ValueError:
        return str(path)


def _write(files: Mapping[Path, str], show: Callable[[Path], str]) -> None:
    for path, text in files.items():
        if not _differs(path, text):
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {show(path)}")


def main(argv: list[str] | None = None) -> int:
    """CLI: `--check` (the default) or `--write` the generated dbt YAML of every domain."""
    parser = _Parser(prog="python -m contracts.dbt_sync", description=(__doc__ or "").splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="name the files that are out of date (default)")
    mode.add_argument("--write", action="store_true", help="rewrite the files instead of checking them")
    parser.add_argument("--domains-dir", type=Path, default=DOMAINS_DIR, help="default: domains/")
    parser.add_argument("--dbt-dir", type=Path, default=DBT_DIR, help="default: dbt/")
    args = parser.parse_args(argv)
    dbt_dir: Path = args.dbt_dir

    def show(path: Path) -> str:
        return _shown(path, dbt_dir)

    try:
        if not (dbt_dir / "dbt_project.yml").is_file():
            raise ConfigError(f"{dbt_dir}: no dbt_project.yml (--dbt-dir names the dbt project)")
        domains = load_domains(args.domains_dir)
        files = render(domains, dbt_dir)
        orphans = orphan_folders(domains, dbt_dir)
        if args.write:
            _write(files, show)
            stale: list[Path] = []
        else:
            stale = [p for p, text in files.items() if _differs(p, text)]
    except PlatformError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    for path in stale:
        what = "out of date" if path.exists() else "missing"
        print(f"{what}: {show(path)} (run python -m contracts.dbt_sync --write)")
    for folder in orphans:
        print(f"no domain: {show(folder)}/ (there is no {args.domains_dir.name}/{folder.name}.yaml)")
    return 1 if stale or orphans else 0


if __name__ == "__main__":
    sys.exit(main())
