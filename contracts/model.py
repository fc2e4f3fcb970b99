"""A small typed loader of `contracts/orders.yaml`.

The contract declares every column once: the Pub/Sub event (which infra turns into the topic schema and
the raw table), the staging table the Spark job writes, its rejects table and the dbt marts. Everything
else (the Spark job's schema test, the dbt model YAML, the GX suites' tests) is checked against it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

CONTRACTS_DIR = Path(__file__).resolve().parent
ORDERS_CONTRACT = CONTRACTS_DIR / "orders.yaml"

BigQueryType = Literal["STRING", "INT64", "NUMERIC", "FLOAT64", "BOOL", "DATE", "TIMESTAMP"]


class ContractError(ValueError):
    """The contract file cannot be used; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Column(_Strict):
    """One column: the format infra reads (name/type/mode/description/pii) plus optional dbt tests."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Column name (snake_case).")
    type: BigQueryType = Field(description="BigQuery standard SQL type.")
    mode: Literal["REQUIRED", "NULLABLE"] = Field(description="REQUIRED columns are never null.")
    description: str = Field(min_length=1, description="What the column holds.")
    pii: str | None = Field(
        default=None, description="Display name of the policy tag, when the column is PII."
    )
    tests: list[Any] = Field(default_factory=list, description="Extra dbt data tests, in dbt YAML syntax.")


class Event(_Strict):
    """The Pub/Sub event and the raw table it lands in."""

    topic: str = Field(description="Pub/Sub topic name (without prefix).")
    raw_table: str = Field(description="Raw table in the raw dataset.")
    columns: list[Column] = Field(min_length=1)


class Table(_Strict):
    """A table the Spark job writes, partitioned by day."""

    table: str = Field(description="Table name in the staging dataset.")
    partition_by: str = Field(description="DATE column the table is partitioned by.")
    columns: list[Column] = Field(min_length=1)


class Mart(_Strict):
    """A dbt mart: its contract columns."""

    columns: list[Column] = Field(min_length=1)


class Contract(_Strict):
    """The whole contract file."""

    domain: str
    version: int = Field(ge=1)
    event: Event
    staging: Table
    rejects: Table
    marts: dict[str, Mart]

    def column_names(self, section: str) -> list[str]:
        """Column names of `event`, `staging`, `rejects` or a mart, in contract order."""
        return [c.name for c in self.columns(section)]

    def columns(self, section: str) -> list[Column]:
        """Columns of `event`, `staging`, `rejects` or a mart by name."""
        if section in ("event", "staging", "rejects"):
            part: Event | Table = getattr(self, section)
            return part.columns
        if section in self.marts:
            return self.marts[section].columns
        raise ContractError(f"contract has no section or mart {section!r}")


def load_contract(path: Path = ORDERS_CONTRACT) -> Contract:
    """Parse and validate a contract file; raise ContractError naming the file and the field."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ContractError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise ContractError(f"{path}: invalid YAML: {str(exc).splitlines()[0]}") from None
    try:
        contract = Contract.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise ContractError(f"{path}: {where}: {err['msg']}") from None
    for section in ("event", "staging", "rejects", *contract.marts):
        names = contract.column_names(section)
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ContractError(f"{path}: {section}.columns: duplicate column names {dupes}")
    for section in ("staging", "rejects"):
        table: Table = getattr(contract, section)
        by_name = {c.name: c for c in table.columns}
        if by_name.get(table.partition_by) is None or by_name[table.partition_by].type != "DATE":
            raise ContractError(
                f"{path}: {section}.partition_by: {table.partition_by!r} is not a DATE column"
            )
    return contract
