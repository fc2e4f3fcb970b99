"""Schemas derived from the core's columns: every type maps, PII columns (and only they) carry a tag,
Avro types and nullability follow the columns. Parsing the domain files is `platform_model`'s; how a bad
file fails a synth is in test_synth."""

from __future__ import annotations

from typing import Any, get_args

import pytest

from infra.domains import load_all
from infra.schemas import TYPES, avro_schema, bigquery_schema
from platform_model.domain import DOMAINS_DIR, BigQueryType, Column, Domain


def column(name: str, type_: str, mode: str = "NULLABLE", pii: str | None = None) -> Column:
    return Column.model_validate({"name": name, "type": type_, "mode": mode, "description": name, "pii": pii})


def domain_with(columns: list[Column]) -> Domain:
    """The first sample domain with an event, its event's columns replaced."""
    base = next(d for _, d in sorted(load_all(DOMAINS_DIR).items()) if d.event is not None)
    assert base.event is not None
    return base.model_copy(update={"event": base.event.model_copy(update={"columns": columns})})


def test_every_type_of_the_model_maps() -> None:
    assert set(TYPES) == set(get_args(BigQueryType))


def test_bigquery_schema_tags_exactly_the_pii_columns() -> None:
    checked = 0
    for domain in load_all(DOMAINS_DIR).values():
        for section, columns in domain.sections().items():
            ids = {c.pii: f"tag/{c.pii}" for c in columns if c.pii}
            fields = bigquery_schema(columns, ids)
            assert [f["name"] for f in fields] == [c.name for c in columns], section
            for field, col in zip(fields, columns, strict=True):
                assert field["mode"] == col.mode
                assert field["description"] == col.description
                assert field["type"] == TYPES[col.type][0]
                if col.pii:
                    assert field["policyTags"] == {"names": [f"tag/{col.pii}"]}
                    checked += 1
                else:
                    assert "policyTags" not in field
    assert checked >= 5


def test_bigquery_types_use_the_canonical_names() -> None:
    # what the API returns: a schema written with the standard SQL names would plan a diff forever
    fields = bigquery_schema([column(t.lower(), t) for t in ("INT64", "FLOAT64", "BOOL", "TIMESTAMP")], {})
    assert [f["type"] for f in fields] == ["INTEGER", "FLOAT", "BOOLEAN", "TIMESTAMP"]


@pytest.mark.parametrize(
    ("type_", "avro"),
    [
        ("STRING", "string"),
        ("INT64", "long"),
        ("FLOAT64", "double"),
        ("NUMERIC", {"type": "bytes", "logicalType": "decimal", "precision": 38, "scale": 9}),
        ("BOOL", "boolean"),
        ("TIMESTAMP", {"type": "long", "logicalType": "timestamp-micros"}),
        ("DATE", {"type": "int", "logicalType": "date"}),
        ("BYTES", "bytes"),
        ("JSON", "string"),
    ],
)
def test_avro_types_and_nullability(type_: str, avro: Any) -> None:
    domain = domain_with(
        [column("a", type_, "REQUIRED"), column("b", type_, "NULLABLE"), column("c", type_, "REPEATED")]
    )
    fields = {f["name"]: f for f in avro_schema(domain)["fields"]}
    assert fields["a"]["type"] == avro and "default" not in fields["a"]
    assert fields["b"]["type"] == ["null", avro] and fields["b"]["default"] is None
    assert fields["c"]["type"] == {"type": "array", "items": avro} and fields["c"]["default"] == []


def test_avro_record_is_named_for_the_domain_and_its_major_version() -> None:
    domain = domain_with([column("a", "STRING")]).model_copy(update={"version": "3.2"})
    schema = avro_schema(domain)
    assert schema["type"] == "record"
    assert schema["name"] == f"{domain.domain}_event"
    assert schema["namespace"] == f"platform.{domain.domain}.v3"  # a minor change keeps the namespace
    assert schema["doc"] == f"{domain.domain} event, contract version 3.2."


def test_a_domain_without_an_event_has_no_avro_schema() -> None:
    combining = next(d for d in load_all(DOMAINS_DIR).values() if d.event is None)
    with pytest.raises(ValueError, match=f"domain {combining.domain!r} declares no event"):
        avro_schema(combining)
