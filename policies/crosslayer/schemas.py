"""`schema-agreement`: what infra synthesizes and what dbt declares agree with the domains' contracts.

- In every synthesized stack, for every domain its environment deploys: the topic enforces a
  Pub/Sub schema (Avro) with the event's columns; the raw, staging and rejects tables exist with the
  contract's columns (names, types, modes), the policy tag of every PII column and none on the others,
  and the staging and rejects tables are partitioned by the declared column.
- In the dbt project: the source tables (raw, staging, rejects) and the models (`stg_<staging table>`
  when present, every mart) have the contract's columns and types.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from platform_model.domain import Column, Domain, Table
from policies.crosslayer.dbt_yaml import DbtNode, bq_type, nodes
from policies.crosslayer.view import Finding, ReleaseView, shown_path

CHECK = "schema-agreement"
_REFERENCE = re.compile(r"\$\{\s*([a-z][a-z0-9_]*)\.([A-Za-z0-9_-]+)")
# Avro encodings (type, logicalType) accepted for each contract type.
_AVRO: dict[str, set[tuple[str, str | None]]] = {
    "STRING": {("string", None)},
    "INT64": {("long", None), ("int", None)},
    "FLOAT64": {("double", None), ("float", None)},
    "NUMERIC": {("bytes", "decimal"), ("string", None)},
    "BOOL": {("boolean", None)},
    "BYTES": {("bytes", None)},
    "JSON": {("string", None)},
    "DATE": {("int", "date"), ("string", None)},
    "TIMESTAMP": {("long", "timestamp-micros"), ("long", "timestamp-millis"), ("string", None)},
}
Actual = dict[str, tuple[str, str | None]]
"""Column name -> (type, mode, or None where the layer has no modes)."""


def compare(where: str, what: str, source: str, expected: list[Column], actual: Actual) -> list[Finding]:
    """Findings where `actual` differs from the contract's `expected` columns (named `source`)."""
    findings: list[Finding] = []
    want = {c.name: c for c in expected}
    for name in sorted(set(want) - set(actual)):
        findings.append(Finding(CHECK, where, f"{what}: lacks column {name} of {source}"))
    for name in sorted(set(actual) - set(want)):
        findings.append(Finding(CHECK, where, f"{what}: column {name} is not in {source}"))
    for name in sorted(set(actual) & set(want)):
        got_type, got_mode = actual[name]
        if got_type != want[name].type:
            findings.append(
                Finding(CHECK, where, f"{what}: column {name} is {got_type}, {source} says {want[name].type}")
            )
        if got_mode is not None and got_mode != want[name].mode:
            findings.append(
                Finding(CHECK, where, f"{what}: column {name} is {got_mode}, {source} says {want[name].mode}")
            )
    return findings


# -- the stacks ------------------------------------------------------------------------------------


def _resources(stack: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    entries = (stack.get("resource") or {}).get(rtype) or {}
    return {n: c for n, c in entries.items() if n != "//" and isinstance(c, dict)}


def _refs(value: Any, rtype: str) -> list[str]:
    return [name for t, name in _REFERENCE.findall(str(value or "")) if t == rtype]


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


class _Stack:
    """One synthesized stack, with what the checks look up in it."""

    def __init__(self, path: Path) -> None:
        self.data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        self.shown = shown_path(path)
        self.topics = _resources(self.data, "google_pubsub_topic")
        self.schemas = _resources(self.data, "google_pubsub_schema")
        self.tables = _resources(self.data, "google_bigquery_table")
        self.datasets = {
            n: str(d.get("dataset_id")) for n, d in _resources(self.data, "google_bigquery_dataset").items()
        }
        self.tags = {
            n: str(t.get("display_name"))
            for n, t in _resources(self.data, "google_data_catalog_policy_tag").items()
        }

    def table(self, table_id: str, dataset: str | None) -> list[dict[str, Any]]:
        """The tables named `table_id` (in `dataset` when their dataset id can be read)."""
        out = []
        for table in self.tables.values():
            if table.get("table_id") != table_id:
                continue
            value = table.get("dataset_id")
            refs = _refs(value, "google_bigquery_dataset")
            literal = self.datasets.get(refs[0]) if refs else (str(value) if value else None)
            if dataset is None or literal is None or literal == dataset:
                out.append(table)
        return out


def _check_topic(stack: _Stack, domain: Domain, source: str) -> list[Finding]:
    assert domain.event is not None
    topic = domain.event.topic
    found = [t for t in stack.topics.values() if t.get("name") == topic]
    if not found:
        return [Finding(CHECK, stack.shown, f"no Pub/Sub topic {topic} ({source})")]
    findings: list[Finding] = []
    for config in found:
        settings = config["schema_settings"] if isinstance(config.get("schema_settings"), dict) else {}
        refs = _refs(settings.get("schema"), "google_pubsub_schema")
        if not refs or refs[0] not in stack.schemas:
            findings.append(Finding(CHECK, stack.shown, f"topic {topic} enforces no schema of the stack"))
            continue
        try:
            avro = json.loads(stack.schemas[refs[0]].get("definition", ""))
        except ValueError:
            findings.append(Finding(CHECK, stack.shown, f"schema of topic {topic} is not JSON"))
            continue
        expected = {c.name: c for c in domain.event.columns}
        actual: Actual = {}
        for field in avro.get("fields", []) if isinstance(avro, dict) else []:
            (base, logical), nullable, repeated = _avro_type(field.get("type"))
            want = expected.get(str(field.get("name")))
            ok = want is not None and (base, logical) in _AVRO.get(want.type, set())
            mode = "REPEATED" if repeated else "NULLABLE" if nullable else "REQUIRED"
            actual[str(field.get("name"))] = (want.type if ok and want else f"avro {base}/{logical}", mode)
        findings += compare(
            stack.shown, f"Pub/Sub schema of topic {topic}", source, domain.event.columns, actual
        )
    return findings


def _check_table(
    stack: _Stack, table_id: str, dataset: str | None, columns: list[Column], table: Table | None, source: str
) -> list[Finding]:
    found = stack.table(table_id, dataset)
    if not found:
        return [Finding(CHECK, stack.shown, f"no table {dataset or '?'}.{table_id} ({source})")]
    findings: list[Finding] = []
    for config in found:
        try:
            schema = json.loads(config.get("schema") or "[]")
        except ValueError:
            findings.append(Finding(CHECK, stack.shown, f"schema of table {table_id} is not literal JSON"))
            continue
        cols = [c for c in schema if isinstance(c, dict)]
        actual: Actual = {
            str(c.get("name")): (bq_type(c.get("type")), str(c.get("mode") or "NULLABLE").upper())
            for c in cols
        }
        findings += compare(stack.shown, f"table {table_id}", source, columns, actual)
        pii = {c.name: c.pii for c in columns}
        for col in cols:
            if col.get("name") not in pii:
                continue
            names = (col.get("policyTags") or {}).get("names") or []
            carried = {
                stack.tags.get(n, f"?{n}")
                for n in _refs(" ".join(map(str, names)), "google_data_catalog_policy_tag")
            }
            want = pii[str(col["name"])]
            if want and want not in carried:
                findings.append(
                    Finding(
                        CHECK,
                        stack.shown,
                        f"table {table_id}: column {col['name']} lacks policy tag {want!r}",
                    )
                )
            if not want and names:
                findings.append(
                    Finding(
                        CHECK,
                        stack.shown,
                        f"table {table_id}: column {col['name']} carries a policy tag "
                        "the contract does not ask for",
                    )
                )
        partition = (
            (config.get("time_partitioning") or {})
            if isinstance(config.get("time_partitioning"), dict)
            else {}
        )
        if table is not None and partition.get("field") != table.partition_by:
            findings.append(
                Finding(
                    CHECK,
                    stack.shown,
                    f"table {table_id}: partitioned by {partition.get('field') or 'nothing'}, "
                    f"{source} says {table.partition_by}",
                )
            )
    return findings


def check_stack(view: ReleaseView, name: str, path: Path) -> list[Finding]:
    """One stack against the domains its environment deploys (every domain for a stack of no environment)."""
    stack = _Stack(path)
    env = view.envs.get(name)
    domains: dict[str, Domain] | str = view.domains if env is None else view.deployed(env)
    if isinstance(domains, str):
        return [Finding(CHECK, stack.shown, f"the release's domains cannot be deployed to {name}: {domains}")]
    datasets = {layer: ds.id for layer, ds in env.bigquery.datasets.items()} if env else {}
    findings: list[Finding] = []
    for domain_name, domain in domains.items():
        if domain.event is None:
            continue
        file = view.domain_file(domain_name)
        findings += _check_topic(stack, domain, f"the contract ({file} event)")
        findings += _check_table(
            stack,
            domain.event.raw_table,
            datasets.get("raw"),
            domain.event.columns,
            None,
            f"the contract ({file} event)",
        )
        for section, table in (("staging", domain.staging), ("rejects", domain.rejects)):
            if table is not None:
                findings += _check_table(
                    stack,
                    table.table,
                    datasets.get("staging"),
                    table.columns,
                    table,
                    f"the contract ({file} {section})",
                )
    return findings


# -- the dbt project -------------------------------------------------------------------------------


def _dbt_targets(domain: Domain, models: set[str]) -> list[tuple[str, str, str, list[Column]]]:
    """(contract section, node kind, node name, columns) dbt must declare for one domain."""
    out: list[tuple[str, str, str, list[Column]]] = []
    if domain.event is not None:
        out.append(("event", "source table", domain.event.raw_table, domain.event.columns))
    for section, table in (("staging", domain.staging), ("rejects", domain.rejects)):
        if table is not None:
            out.append((section, "source table", table.table, table.columns))
    if domain.staging is not None and f"stg_{domain.staging.table}" in models:
        out.append(("staging", "model", f"stg_{domain.staging.table}", domain.staging.columns))
    for mart, declared in domain.marts.items():
        out.append((f"marts.{mart}", "model", mart, declared.columns))
    return out


def check_dbt(view: ReleaseView) -> list[Finding]:
    """dbt's source tables and models agree with the contracts."""
    declared: dict[tuple[str, str], DbtNode] = {}
    for each in nodes(view):
        declared.setdefault((each.kind, each.name), each)
    models = {name for kind, name in declared if kind == "model"}
    findings: list[Finding] = []
    for name, domain in sorted(view.domains.items()):
        file = view.domain_file(name)
        for section, kind, relation, columns in _dbt_targets(domain, models):
            node = declared.get((kind, relation))
            if node is None:
                findings.append(Finding(CHECK, file, f"{section}: the dbt project has no {kind} {relation}"))
                continue
            actual: Actual = {c.name: (c.data_type or "(no data_type)", None) for c in node.columns}
            findings += compare(
                view.shown(node.file),
                f"{kind} {relation}",
                f"the contract ({file} {section})",
                columns,
                actual,
            )
    return findings


def check_schema_agreement(view: ReleaseView, stacks: dict[str, Path]) -> list[Finding]:
    """The `schema-agreement` findings of a release against the synthesized `stacks` (name -> file)."""
    findings: list[Finding] = []
    for name, path in sorted(stacks.items()):
        findings += check_stack(view, name, path)
    return findings + check_dbt(view)
