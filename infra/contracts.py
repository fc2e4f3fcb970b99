"""A tiny typed reader of the data contracts (`contracts/*.yaml`), and the schemas infra derives from them.

A contract declares an event once: its Pub/Sub topic, its raw BigQuery table and its columns
(`name`, `type`, `mode`, `description`, optional `pii` naming a policy tag by display name). Infra turns
it into the Pub/Sub Avro schema and the raw table's BigQuery schema, so the two never drift apart.
It also declares the tables the daily Spark job writes into the staging dataset, sections `staging`
and `rejects` (each `table`, `partition_by`, `columns`); infra creates them with the same schema code.
Other sections (`marts`, ...) belong to dbt and are not read here.

Reading is strict: an unknown key on a column is an error (dbt `tests` aside), because a misspelt `pii` would
silently publish a PII column without its policy tag. Errors name the file and the field.

Type mapping (BigQuery standard SQL -> Avro; the table schema uses BigQuery's canonical legacy names,
which the API returns, so terraform plans stay clean):

| contract    | BigQuery table | Avro                                              |
| ----------- | -------------- | ------------------------------------------------- |
| STRING      | STRING         | string                                            |
| INT64       | INTEGER        | long                                              |
| FLOAT64     | FLOAT          | double                                            |
| NUMERIC     | NUMERIC        | bytes, logicalType decimal(38, 9)                 |
| BOOL        | BOOLEAN        | boolean                                           |
| TIMESTAMP   | TIMESTAMP      | long, logicalType timestamp-micros                |
| DATE        | DATE           | int, logicalType date                             |
| BYTES       | BYTES          | bytes                                             |
| JSON        | JSON           | string                                            |

NULLABLE columns become an Avro union `["null", T]` with default null; REPEATED ones an Avro array.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from deployer.errors import ConfigError

# contract type -> (BigQuery table type, Avro type)
TYPES: dict[str, tuple[str, Any]] = {
    "STRING": ("STRING", "string"),
    "INT64": ("INTEGER", "long"),
    "FLOAT64": ("FLOAT", "double"),
    "NUMERIC": ("NUMERIC", {"type": "bytes", "logicalType": "decimal", "precision": 38, "scale": 9}),
    "BOOL": ("BOOLEAN", "boolean"),
    "TIMESTAMP": ("TIMESTAMP", {"type": "long", "logicalType": "timestamp-micros"}),
    "DATE": ("DATE", {"type": "int", "logicalType": "date"}),
    "BYTES": ("BYTES", "bytes"),
    "JSON": ("JSON", "string"),
}
MODES = ("REQUIRED", "NULLABLE", "REPEATED")
PARTITION_TYPES = ("TIMESTAMP", "DATE")  # what BigQuery can partition by day
COLUMN_KEYS = {"name", "type", "mode", "description", "pii", "tests"}  # `tests`: dbt's, not infra's
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,299}$")


@dataclass(frozen=True)
class Column:
    """One column of an event."""

    name: str
    """Column name (a BigQuery and Avro identifier)."""
    type: str
    """BigQuery standard SQL type, one of `TYPES`."""
    mode: str
    """REQUIRED, NULLABLE or REPEATED."""
    description: str
    """What the column holds; becomes the BigQuery column description and the Avro `doc`."""
    pii: str | None
    """Display name of the policy tag that guards the column, or None."""


@dataclass(frozen=True)
class EventContract:
    """The event a contract declares."""

    topic: str
    """Pub/Sub topic the event is published to."""
    raw_table: str
    """Table in the raw dataset the event lands in."""
    columns: tuple[Column, ...]
    """The event's columns, in order."""


@dataclass(frozen=True)
class TableContract:
    """A table the pipeline writes (contract sections `staging`, `rejects`)."""

    section: str
    """The contract section it comes from (`staging`, `rejects`), for error messages."""
    table: str
    """Table id in the staging dataset."""
    partition_by: str
    """The DATE or TIMESTAMP column the table is partitioned on, by day."""
    columns: tuple[Column, ...]
    """The table's columns, in order."""


@dataclass(frozen=True)
class Contract:
    """One contract file."""

    path: Path
    """Where it was read from (for error messages)."""
    domain: str
    """Business domain, e.g. `orders`."""
    version: int
    """Contract version; bumped on breaking changes."""
    event: EventContract
    """The event the domain publishes."""
    staging: TableContract | None = None
    """The cleaned table the daily job writes, when the contract declares it."""
    rejects: TableContract | None = None
    """The table of records the daily job sets aside, when the contract declares it."""

    def sections(self) -> dict[str, tuple[Column, ...]]:
        """Columns of every section infra reads (`event`, `staging`, `rejects`), by section name."""
        out = {"event": self.event.columns}
        out.update({t.section: t.columns for t in self.staging_tables()})
        return out

    def staging_tables(self) -> tuple[TableContract, ...]:
        """The tables of the staging dataset the contract declares (`staging`, then `rejects`)."""
        return tuple(t for t in (self.staging, self.rejects) if t is not None)


def _fail(path: Path, where: str, problem: str) -> ConfigError:
    return ConfigError(f"{path}: {where}: {problem}")


def _text(path: Path, where: str, value: Any, *, pattern: re.Pattern[str] | None = None) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(path, where, f"expected a non-empty string, got {value!r}")
    if pattern and not pattern.match(value):
        raise _fail(path, where, f"{value!r} is not a valid identifier")
    return value


def _column(path: Path, section: str, index: int, raw: Any) -> Column:
    where = f"{section}.columns.{index}"
    if not isinstance(raw, Mapping):
        raise _fail(path, where, f"expected a mapping, got {type(raw).__name__}")
    unknown = set(raw) - COLUMN_KEYS
    if unknown:
        raise _fail(path, where, f"unknown keys {sorted(unknown)} (allowed: {sorted(COLUMN_KEYS)})")
    name = _text(path, f"{where}.name", raw.get("name"), pattern=_IDENT)
    type_ = _text(path, f"{where}.type", raw.get("type"))
    if type_ not in TYPES:
        raise _fail(path, f"{where}.type", f"unknown type {type_!r} (known: {', '.join(TYPES)})")
    mode = raw.get("mode", "NULLABLE")
    if mode not in MODES:
        raise _fail(path, f"{where}.mode", f"{mode!r} is not one of {', '.join(MODES)}")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise _fail(path, f"{where}.description", "expected a string")
    pii = raw.get("pii")
    if pii is not None:
        pii = _text(path, f"{where}.pii", pii)
    return Column(name=name, type=type_, mode=mode, description=description, pii=pii)


def _columns(path: Path, section: str, raw_columns: Any) -> tuple[Column, ...]:
    if not isinstance(raw_columns, list) or not raw_columns:
        raise _fail(path, f"{section}.columns", "expected a non-empty list")
    columns = tuple(_column(path, section, i, c) for i, c in enumerate(raw_columns))
    names = [c.name for c in columns]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise _fail(path, f"{section}.columns", f"duplicate column names {dupes}")
    return columns


def _table(path: Path, section: str, raw: Any) -> TableContract | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise _fail(path, section, "expected a mapping with table, partition_by and columns")
    columns = _columns(path, section, raw.get("columns"))
    partition_by = _text(path, f"{section}.partition_by", raw.get("partition_by"), pattern=_IDENT)
    types = {c.name: c.type for c in columns}
    if types.get(partition_by) not in PARTITION_TYPES:
        raise _fail(
            path,
            f"{section}.partition_by",
            f"{partition_by!r} must name a {' or '.join(PARTITION_TYPES)} column of {section}.columns",
        )
    return TableContract(
        section=section,
        table=_text(path, f"{section}.table", raw.get("table"), pattern=_IDENT),
        partition_by=partition_by,
        columns=columns,
    )


def load_contract(path: Path) -> Contract:
    """Read and check one contract file; raise ConfigError naming the file and field on bad input."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: contract file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, Mapping):
        raise _fail(path, "(top level)", "expected a mapping")
    event = data.get("event")
    if not isinstance(event, Mapping):
        raise _fail(path, "event", "expected a mapping with topic, raw_table and columns")
    columns = _columns(path, "event", event.get("columns"))
    version = data.get("version", 1)
    if not isinstance(version, int):
        raise _fail(path, "version", "expected an integer")
    return Contract(
        path=path,
        domain=_text(path, "domain", data.get("domain"), pattern=_IDENT),
        version=version,
        event=EventContract(
            topic=_text(path, "event.topic", event.get("topic")),
            raw_table=_text(path, "event.raw_table", event.get("raw_table"), pattern=_IDENT),
            columns=columns,
        ),
        staging=_table(path, "staging", data.get("staging")),
        rejects=_table(path, "rejects", data.get("rejects")),
    )


def check_policy_tags(contract: Contract, known: list[str], env_file: str) -> None:
    """Refuse a contract whose `pii` (in any section infra reads) names a tag the taxonomy lacks."""
    for section, columns in contract.sections().items():
        for i, column in enumerate(columns):
            if column.pii is not None and column.pii not in known:
                raise _fail(
                    contract.path,
                    f"{section}.columns.{i}.pii",
                    f"policy tag {column.pii!r} is not in the taxonomy of {env_file} "
                    f"(known: {', '.join(known)})",
                )


def bigquery_schema(columns: Sequence[Column], policy_tag_ids: Mapping[str, str]) -> list[dict[str, Any]]:
    """A table's BigQuery schema (JSON fields) from contract columns, PII columns carrying their tag id."""
    fields: list[dict[str, Any]] = []
    for column in columns:
        field: dict[str, Any] = {
            "name": column.name,
            "type": TYPES[column.type][0],
            "mode": column.mode,
            "description": column.description,
        }
        if column.pii is not None:
            field["policyTags"] = {"names": [policy_tag_ids[column.pii]]}
        fields.append(field)
    return fields


def avro_schema(contract: Contract) -> dict[str, Any]:
    """The Avro record Pub/Sub enforces on the contract's topic."""
    fields: list[dict[str, Any]] = []
    for column in contract.event.columns:
        avro: Any = TYPES[column.type][1]
        field: dict[str, Any] = {"name": column.name, "doc": column.description}
        if column.mode == "REPEATED":
            field["type"] = {"type": "array", "items": avro}
            field["default"] = []
        elif column.mode == "NULLABLE":
            field["type"] = ["null", avro]
            field["default"] = None
        else:
            field["type"] = avro
        fields.append(field)
    return {
        "type": "record",
        "name": f"{contract.domain}_event",
        "namespace": f"platform.{contract.domain}.v{contract.version}",
        "doc": f"{contract.domain} event, contract version {contract.version}.",
        "fields": fields,
    }
