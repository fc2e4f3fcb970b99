"""Contract evolution: breaking changes are named one per line, compatible ones listed, a major bump
with its migration passes."""

from __future__ import annotations

from typing import Any

import yaml

from platform_model.domain import DOMAINS_DIR, Domain, parse_domain
from platform_model.evolution import compare, refusals


def _orders(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DOMAINS_DIR / "orders.yaml").read_text())
    data.update(changes)
    return data


def _domain(data: dict[str, Any]) -> Domain:
    return parse_domain(data, "domains/orders.yaml")


def _drop(data: dict[str, Any], section: str, column: str) -> dict[str, Any]:
    data[section]["columns"] = [c for c in data[section]["columns"] if c["name"] != column]
    return data


def _column(data: dict[str, Any], section: str, column: str) -> dict[str, Any]:
    col: dict[str, Any] = next(c for c in data[section]["columns"] if c["name"] == column)
    return col


def test_unchanged_has_no_change() -> None:
    assert compare(_domain(_orders()), _domain(_orders())) == []


def test_breaking_changes_are_named() -> None:
    new = _drop(_orders(), "staging", "currency")
    _column(new, "staging", "customer_name")["mode"] = "REQUIRED"
    _column(new, "staging", "amount_cents")["type"] = "STRING"
    _column(new, "event", "customer_email").pop("pii")
    new["rejects"]["partition_by"] = "processing_date"  # unchanged: not reported
    changes = {str(c) for c in compare(_domain(_orders()), _domain(new)) if c.breaking}
    assert changes == {
        "domains/orders.yaml: staging.currency: column removed (or renamed) (breaking)",
        "domains/orders.yaml: staging.customer_name: mode NULLABLE -> REQUIRED (breaking)",
        "domains/orders.yaml: staging.amount_cents: type INT64 -> STRING (breaking)",
        "domains/orders.yaml: event.customer_email: PII tag 'PII Email' removed (breaking)",
    }


def test_compatible_changes_are_listed_not_refused() -> None:
    new = _orders()
    new["staging"]["columns"].append({"name": "coupon", "type": "STRING", "description": "Coupon code."})
    _column(new, "staging", "amount_cents")["type"] = "NUMERIC"
    _column(new, "staging", "status")["mode"] = "NULLABLE"
    refused, every = refusals({"orders": _domain(_orders())}, {"orders": _domain(new)}, set())
    assert refused == []
    assert {c.what for c in every} == {
        "column added (NULLABLE)",
        "type INT64 -> NUMERIC",
        "mode REQUIRED -> NULLABLE",
    }


def test_partitioning_and_required_column_added_break() -> None:
    new = _orders()
    new["staging"]["partition_by"] = "event_time"
    new["staging"]["columns"].append(
        {"name": "shop", "type": "STRING", "mode": "REQUIRED", "description": "x"}
    )
    whats = {c.what for c in compare(_domain(_orders()), _domain(new)) if c.breaking}
    assert whats == {"partitioning event_date -> event_time", "REQUIRED column added"}


def test_breaking_needs_major_bump_and_the_migration_in_the_release() -> None:
    live = {"orders": _domain(_orders())}
    dropped = _drop(_orders(), "staging", "currency")
    refused, _ = refusals(live, {"orders": _domain(dropped)}, set())
    assert refused == [
        "domains/orders.yaml: staging.currency: column removed (or renamed) (breaking) refused: "
        "bump the major version (live 1.0) and declare the migration (migration: {to_version, path})"
    ]
    bumped = _drop(_orders(version="2.0"), "staging", "currency")
    refused, _ = refusals(live, {"orders": _domain(bumped)}, set())
    assert refused and "needs a migration to 2.0" in refused[0]
    path = "dbt/models/orders/migrations/orders_v2_backfill.sql"
    bumped["migration"] = {"to_version": "2.0", "path": path}
    refused, _ = refusals(live, {"orders": _domain(bumped)}, set())
    assert refused == [
        f"domains/orders.yaml: migration.path: {path} is not in the release "
        "(the migration to 2.0 must ship with it)"
    ]
    refused, _ = refusals(live, {"orders": _domain(bumped)}, {path})
    assert refused == []


def test_a_domain_new_to_the_environment_has_nothing_to_compare() -> None:
    refused, every = refusals({}, {"orders": _domain(_drop(_orders(), "staging", "currency"))}, set())
    assert refused == [] and every == []


def test_a_live_domain_dropped_or_a_version_going_down_is_refused() -> None:
    live = {"orders": _domain(_orders(version="1.2"))}
    refused, _ = refusals(live, {}, set())
    assert refused and refused[0].startswith(
        "domains/orders.yaml: the domain is live but the release drops it"
    )
    refused, _ = refusals(live, {"orders": _domain(_orders(version="1.1"))}, set())
    assert refused == ["domains/orders.yaml: version: goes down from 1.2 to 1.1"]
