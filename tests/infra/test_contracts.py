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
    fields = bigquery_schema(contract, ids)
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
