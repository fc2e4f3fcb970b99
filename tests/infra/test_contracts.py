"""The contract reader: the committed contract loads, schemas follow it, bad files get one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deployer.errors import ConfigError
from infra import REPO_ROOT
from infra.contracts import avro_schema, bigquery_schema, check_policy_tags, load_contract

ORDERS = REPO_ROOT / "contracts" / "orders.yaml"


def write(tmp_path: Path, mutate) -> Path:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(ORDERS.read_text())
    mutate(data)
    path = tmp_path / "orders.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_orders_contract_loads() -> None:
    contract = load_contract(ORDERS)
    raw = yaml.safe_load(ORDERS.read_text())
    assert contract.event.raw_table == raw["event"]["raw_table"]
    assert [c.name for c in contract.event.columns] == [c["name"] for c in raw["event"]["columns"]]
    assert {c.name: c.pii for c in contract.event.columns if c.pii} == {
        c["name"]: c["pii"] for c in raw["event"]["columns"] if c.get("pii")
    }


def test_bigquery_schema_tags_exactly_the_pii_columns() -> None:
    contract = load_contract(ORDERS)
    ids = {c.pii: f"tag/{c.pii}" for c in contract.event.columns if c.pii}
    fields = bigquery_schema(contract.event.columns, ids)
    by_name = {f["name"]: f for f in fields}
    for column in contract.event.columns:
        field = by_name[column.name]
        assert field["mode"] == column.mode
        if column.pii:
            assert field["policyTags"] == {"names": [f"tag/{column.pii}"]}
        else:
            assert "policyTags" not in field
    assert by_name["amount_cents"]["type"] == "INTEGER"  # canonical name: no perpetual diff
    assert by_name["event_time"]["type"] == "TIMESTAMP"


def test_staging_sections_load() -> None:
    contract = load_contract(ORDERS)
    raw = yaml.safe_load(ORDERS.read_text())
    assert contract.staging is not None and contract.rejects is not None
    assert [t.section for t in contract.staging_tables()] == ["staging", "rejects"]
    for table in contract.staging_tables():
        section = raw[table.section]
        assert table.table == section["table"]
        assert table.partition_by == section["partition_by"]
        assert [(c.name, c.type, c.mode, c.description, c.pii) for c in table.columns] == [
            (c["name"], c["type"], c["mode"], c["description"], c.get("pii")) for c in section["columns"]
        ]
    assert set(contract.sections()) == {"event", "staging", "rejects"}


def test_sections_are_optional(tmp_path: Path) -> None:
    def drop(d: dict) -> None:  # type: ignore[type-arg]
        d.pop("staging")
        d.pop("rejects")

    contract = load_contract(write(tmp_path, drop))
    assert contract.staging is None and contract.rejects is None
    assert contract.staging_tables() == ()


def test_avro_schema_types_and_nullability() -> None:
    contract = load_contract(ORDERS)
    schema = avro_schema(contract)
    assert schema["type"] == "record"
    fields = {f["name"]: f for f in schema["fields"]}
    assert list(fields) == [c.name for c in contract.event.columns]
    assert fields["event_id"]["type"] == "string"
    assert fields["amount_cents"]["type"] == "long"
    assert fields["event_time"]["type"] == {"type": "long", "logicalType": "timestamp-micros"}
    assert fields["customer_email"]["type"] == ["null", "string"]
    assert fields["customer_email"]["default"] is None


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (
            lambda d: d["event"]["columns"][3].update(piii="PII Email"),
            "event.columns.3: unknown keys ['piii']",
        ),
        (
            lambda d: d["event"]["columns"][0].update(type="VARCHAR"),
            "event.columns.0.type: unknown type 'VARCHAR'",
        ),
        (lambda d: d["event"]["columns"][0].update(mode="OPTIONAL"), "event.columns.0.mode"),
        (lambda d: d["event"]["columns"].append(dict(d["event"]["columns"][0])), "duplicate column names"),
        (lambda d: d["event"].pop("raw_table"), "event.raw_table: expected a non-empty string"),
        (lambda d: d["event"]["columns"][1].update(name="order id"), "event.columns.1.name"),
        (
            lambda d: d["staging"]["columns"][3].update(piii="PII Email"),
            "staging.columns.3: unknown keys ['piii']",
        ),
        (lambda d: d["staging"].update(partition_by="status"), "staging.partition_by: 'status' must name"),
        (lambda d: d["rejects"].update(partition_by="nope"), "rejects.partition_by: 'nope' must name"),
        (lambda d: d["rejects"].pop("table"), "rejects.table: expected a non-empty string"),
        (lambda d: d["rejects"].update(columns=[]), "rejects.columns: expected a non-empty list"),
        (lambda d: d.update(staging=["orders"]), "staging: expected a mapping"),
    ],
)
def test_bad_contract_names_file_and_field(tmp_path: Path, mutate, where: str) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, mutate)
    with pytest.raises(ConfigError) as err:
        load_contract(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ")
    assert where in message
    assert "\n" not in message


def test_unknown_policy_tag_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, lambda d: d["event"]["columns"][3].update(pii="PII Phone"))
    contract = load_contract(path)
    with pytest.raises(
        ConfigError, match=r"event.columns.3.pii: policy tag 'PII Phone' is not in the taxonomy"
    ):
        check_policy_tags(contract, ["PII Email", "PII Name", "PII Address"], "environments/dev.yaml")


def test_unknown_policy_tag_in_a_staging_section_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, lambda d: d["rejects"]["columns"][4].update(pii="PII Phone"))
    contract = load_contract(path)
    with pytest.raises(ConfigError, match=r"rejects.columns.4.pii: policy tag 'PII Phone'"):
        check_policy_tags(contract, ["PII Email", "PII Name", "PII Address"], "environments/dev.yaml")
