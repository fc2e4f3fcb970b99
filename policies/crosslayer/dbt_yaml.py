"""The dbt project's property files as the checks need them: nodes (models, snapshots, seeds, source
tables) with their columns' types, policy tags and meta.

Only dbt's own YAML is read here (`dbt/**/*.yml`); the domains' contracts come from
`platform_model.domain`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from platform_model.errors import ConfigError
from policies.crosslayer.view import ReleaseView

# `{{ var('policy_tags')['PII Email'] }}` (quotes either way, spaces optional).
TAG_VAR = re.compile(r"""\{\{\s*var\(\s*['"]policy_tags['"]\s*\)\s*\[\s*['"]([^'"]+)['"]\s*\]\s*\}\}""")
_PROJECT_FILES = {"dbt_project.yml", "profiles.yml", "packages.yml", "dependencies.yml", "selectors.yml"}
# BigQuery type spellings -> the standard SQL name the contracts use.
_SYNONYMS = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "BIGDECIMAL": "BIGNUMERIC"}


def bq_type(value: Any) -> str:
    """A BigQuery type as the contracts spell it (`integer` -> `INT64`)."""
    name = str(value or "").upper()
    return _SYNONYMS.get(name, name)


@dataclass(frozen=True)
class DbtColumn:
    """One column of a dbt node."""

    name: str
    data_type: str
    """Upper-case standard SQL type, or empty when the YAML gives none."""
    policy_tags: tuple[str, ...]
    meta: dict[str, Any]


@dataclass(frozen=True)
class DbtNode:
    """A model, snapshot, seed or source table declared in a property file."""

    kind: str
    """`model`, `snapshot`, `seed` or `source table`."""
    name: str
    file: str
    """Release path of the property file, e.g. dbt/models/<domain>/staging/stg_<table>.yml."""
    columns: tuple[DbtColumn, ...]


def _column(raw: dict[str, Any]) -> DbtColumn:
    config: dict[str, Any] = raw["config"] if isinstance(raw.get("config"), dict) else {}
    tags = raw.get("policy_tags") or config.get("policy_tags") or []
    meta = raw.get("meta") or config.get("meta") or {}
    return DbtColumn(
        name=str(raw["name"]),
        data_type=bq_type(raw.get("data_type")),
        policy_tags=tuple(str(t) for t in (tags if isinstance(tags, list) else [tags])),
        meta=meta if isinstance(meta, dict) else {},
    )


def _columns(node: dict[str, Any]) -> tuple[DbtColumn, ...]:
    raw = node.get("columns") or []
    return tuple(_column(c) for c in raw if isinstance(c, dict) and isinstance(c.get("name"), str))


def nodes(view: ReleaseView) -> list[DbtNode]:
    """Every node of the release's dbt property files, in file order."""
    out: list[DbtNode] = []
    for rel in sorted(view.files):
        parts = rel.split("/")
        if parts[0] != "dbt" or not rel.endswith((".yml", ".yaml")) or len(parts) < 3:
            continue  # top-level files of the project (dbt_project.yml, profiles.yml) hold no nodes
        if parts[-1] in _PROJECT_FILES:
            continue
        try:
            data = yaml.safe_load(view.read(rel))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{view.shown(rel)}: invalid YAML: {str(exc).splitlines()[0]}") from None
        if not isinstance(data, dict):
            continue
        for kind in ("models", "snapshots", "seeds"):
            for node in data.get(kind) or []:
                if isinstance(node, dict) and node.get("name"):
                    out.append(DbtNode(kind[:-1], str(node["name"]), rel, _columns(node)))
        for source in data.get("sources") or []:
            for table in (source or {}).get("tables") or [] if isinstance(source, dict) else []:
                if isinstance(table, dict) and table.get("name"):
                    out.append(DbtNode("source table", str(table["name"]), rel, _columns(table)))
    return out
