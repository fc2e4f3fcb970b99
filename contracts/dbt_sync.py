"""Generate the `columns:` of the dbt YAML from `contracts/orders.yaml`, so columns are declared once.

    python -m contracts.dbt_sync            # exit 1 and name the files that are out of date
    python -m contracts.dbt_sync --write    # rewrite them

Only the `columns` of the models and source tables listed in `TARGETS` are generated; everything else
in those files (descriptions, configs, unit tests) is kept as written.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn

import yaml

from contracts.model import Column, Contract, ContractError, load_contract

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_DIR = REPO_ROOT / "dbt"

HEADER = (
    "# The `columns:` lists come from contracts/orders.yaml (python -m contracts.dbt_sync --write):\n"
    "# change the contract, not them. Everything else in this file is written by hand.\n"
)


@dataclass(frozen=True)
class Target:
    """One generated `columns:` list: a model, or a table of a source, in a dbt YAML file."""

    path: str
    """File under dbt/."""
    kind: Literal["model", "source"]
    name: str
    """Model name, or source name (then `table` names the table)."""
    section: str
    """Contract section the columns come from: event, staging, rejects or a mart name."""
    table: str | None = None
    """Source table name (sources only)."""
    enforced: bool = False
    """Whether not-null constraints go into the model contract (tables; views cannot enforce them)."""


TARGETS: tuple[Target, ...] = (
    Target("models/staging/_sources.yml", "source", "orders_raw", "event", table="orders_events"),
    Target("models/staging/_sources.yml", "source", "orders_staging", "staging", table="orders"),
    Target("models/staging/_sources.yml", "source", "orders_staging", "rejects", table="orders_rejects"),
    Target("models/staging/stg_orders.yml", "model", "stg_orders", "staging"),
    Target(
        "models/marts/fct_daily_revenue.yml", "model", "fct_daily_revenue", "fct_daily_revenue", enforced=True
    ),
    Target(
        "models/marts/customer_lifetime_value.yml",
        "model",
        "customer_lifetime_value",
        "customer_lifetime_value",
        enforced=True,
    ),
)


def policy_tag_ref(display_name: str) -> str:
    """The dbt expression resolving a policy tag's id per environment from the `policy_tags` var."""
    return "{{ var('policy_tags')['" + display_name + "'] }}"


def source_columns(columns: list[Column]) -> list[dict[str, Any]]:
    """Columns of a source table: documentation and types only (sources carry no contract)."""
    return [{"name": c.name, "description": c.description, "data_type": c.type.lower()} for c in columns]


def model_columns(columns: list[Column], enforced: bool) -> list[dict[str, Any]]:
    """Columns of a model with an enforced contract: type, not-null, policy tag and data tests."""
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


def _entry(doc: dict[str, Any], target: Target, path: Path) -> dict[str, Any]:
    key = "models" if target.kind == "model" else "sources"
    for item in doc.get(key) or []:
        if item.get("name") != target.name:
            continue
        if target.kind == "model":
            entry: dict[str, Any] = item
            return entry
        for table in item.get("tables") or []:
            if table.get("name") == target.table:
                found: dict[str, Any] = table
                return found
    what = target.name if target.kind == "model" else f"{target.name}.{target.table}"
    raise ContractError(f"{path}: no {target.kind} {what!r} to put the contract's columns in")


class _Dumper(yaml.SafeDumper):
    """Jinja in double quotes, multi-line text as literal blocks: the files read as if written by hand."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else '"' if "{{" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render(contract: Contract, dbt_dir: Path = DBT_DIR) -> dict[Path, str]:
    """The generated text of every target file (files not yet written included)."""
    docs: dict[Path, dict[str, Any]] = {}
    for target in TARGETS:
        path = dbt_dir / target.path
        if path not in docs:
            try:
                docs[path] = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            except FileNotFoundError:
                raise ContractError(f"{path}: file not found") from None
        entry = _entry(docs[path], target, path)
        columns = contract.columns(target.section)
        entry["columns"] = (
            source_columns(columns) if target.kind == "source" else model_columns(columns, target.enforced)
        )
    return {
        path: HEADER + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=1000, allow_unicode=True)
        for path, doc in docs.items()
    }


def stale_files(contract: Contract, dbt_dir: Path = DBT_DIR) -> list[Path]:
    """Target files whose text differs from what the contract generates."""
    return [p for p, text in render(contract, dbt_dir).items() if p.read_text(encoding="utf-8") != text]


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    """CLI: check (default) or `--write` the generated dbt YAML."""
    parser = _Parser(prog="python -m contracts.dbt_sync", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the files instead of checking them")
    parser.add_argument(
        "--contract", type=Path, default=None, help="contract file (default contracts/orders.yaml)"
    )
    args = parser.parse_args(argv)
    try:
        contract = load_contract(args.contract) if args.contract else load_contract()
        if args.write:
            for path, text in render(contract).items():
                path.write_text(text, encoding="utf-8")
                print(f"wrote {path.relative_to(REPO_ROOT)}")
            return 0
        stale = stale_files(contract)
    except ContractError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in stale:
        print(f"out of date: {path.relative_to(REPO_ROOT)} (run python -m contracts.dbt_sync --write)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
