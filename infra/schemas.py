"""Schemas derived from a domain's columns: the Avro schema of its event, its tables' BigQuery schemas.

The columns come from the one contract parser, `platform_model.domain` (a `Column` has `name`, `type`,
`mode`, `description`, optional `pii` naming a policy tag by display name); nothing here reads a file.
The Pub/Sub schema of a domain's topic and the BigQuery schema of its raw table are built from the same
`event.columns`, so the two never drift apart; `staging` and `rejects` tables get their BigQuery schema
by the same code.

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

from collections.abc import Mapping, Sequence
from typing import Any

from platform_model.domain import PARTITION_TYPES, Column, Domain

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


def major_version(domain: Domain) -> str:
    """`1.0` -> `1`: what a breaking change bumps, so what names the Avro namespace."""
    return domain.version.split(".", 1)[0]


def avro_schema(domain: Domain) -> dict[str, Any]:
    """The Avro record Pub/Sub enforces on the domain's topic (the domain must declare an event)."""
    if domain.event is None:
        raise ValueError(f"domain {domain.domain!r} declares no event")
    fields: list[dict[str, Any]] = []
    for column in domain.event.columns:
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
        "name": f"{domain.domain}_event",
        "namespace": f"platform.{domain.domain}.v{major_version(domain)}",
        "doc": f"{domain.domain} event, contract version {domain.version}.",
        "fields": fields,
    }


def raw_partition_column(columns: Sequence[Column]) -> str | None:
    """The column the raw table is partitioned on by day: the event's first REQUIRED TIMESTAMP or DATE
    column (when the event happened); None when it has none (the table is then partitioned by
    ingestion time)."""
    for column in columns:
        if column.mode == "REQUIRED" and column.type in PARTITION_TYPES:
            return column.name
    return None
