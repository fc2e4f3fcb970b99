"""The GX suites in gx/expectations/<domain>/: one folder per domain holding exactly the suites its domain
file declares, well-formed GX 1.x suites naming only columns of the table the domain declares for them;
they pass on good data, fail on bad data (with the DAG library's validator) and write Data Docs."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from platform_model import REPO_ROOT
from platform_model.domain import load_domains

GX = REPO_ROOT / "gx"
EXPECTATIONS = GX / "expectations"
DOMAINS = load_domains()
sys.path.insert(0, str(REPO_ROOT / "composer" / "dags"))

from pipelines.gx_validate import SuiteError, SuiteSpec, TableRef, load_suite, validate  # noqa: E402

COLUMN_KWARGS = ("column", "column_A", "column_B")
HASH = "0123456789abcdef" * 4


def _declared() -> list[tuple[str, str, TableRef]]:
    """(domain, suite, what it validates) for every suite the domains declare."""
    return [
        (name, suite, TableRef(layer=s.layer, table=s.table, window_column=s.window_column))
        for name, domain in DOMAINS.items()
        for suite, s in domain.gx_suites.items()
    ]


def _suites(root: Path = GX) -> list[SuiteSpec]:
    return [load_suite(root / "expectations" / d / f"{s}.json", ref) for d, s, ref in _declared()]


def _body(domain: str, suite: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((EXPECTATIONS / domain / f"{suite}.json").read_text())
    return body


def test_one_folder_per_domain_with_exactly_the_declared_suites() -> None:
    assert not list(EXPECTATIONS.glob("*.json")), "suites live in their domain's folder"
    folders = {p.name for p in EXPECTATIONS.iterdir() if p.is_dir()}
    assert folders == {name for name, d in DOMAINS.items() if d.gx_suites}
    for name in folders:
        files = {p.stem for p in (EXPECTATIONS / name).iterdir()}
        assert files == set(DOMAINS[name].gx_suites), name
        assert all(p.suffix == ".json" for p in (EXPECTATIONS / name).iterdir()), name


def test_suites_are_well_formed_gx_suites() -> None:
    import great_expectations as gx

    for domain, suite, _ in _declared():
        body = _body(domain, suite)
        assert body["name"] == suite
        assert "orders_table" not in body.get("meta", {}), "the domain file declares what a suite validates"
        built = gx.ExpectationSuite(**{k: v for k, v in body.items() if k != "id"})
        assert len(built.expectations) == len(body["expectations"]) > 2, suite  # none dropped as invalid
        assert body["expectations"][0]["type"] == "expect_table_columns_to_match_set", suite


def _columns_named(expectation: dict[str, Any]) -> set[str]:
    kwargs = expectation["kwargs"]
    named = {kwargs[k] for k in COLUMN_KWARGS if k in kwargs}
    named |= set(kwargs.get("column_list", []))
    condition = kwargs.get("row_condition")
    if isinstance(condition, dict):
        named.add(condition["column"]["name"])
    return named


def test_suites_name_the_columns_of_their_declared_table() -> None:
    for domain, suite, ref in _declared():
        columns = DOMAINS[domain].table_columns(ref.layer, ref.table)
        assert columns is not None, suite
        names = [c.name for c in columns]
        body = _body(domain, suite)
        (column_set,) = [
            e["kwargs"]["column_set"]
            for e in body["expectations"]
            if e["type"] == "expect_table_columns_to_match_set"
        ]
        assert column_set == names, suite
        for expectation in body["expectations"]:
            assert _columns_named(expectation) <= set(names), (suite, expectation)
        required = {c.name for c in columns if c.mode == "REQUIRED"}
        checked = {
            e["kwargs"]["column"]
            for e in body["expectations"]
            if e["type"] == "expect_column_values_to_not_be_null"
        }
        assert checked <= required, suite  # a NULLABLE column is never held to not-null
        if ref.window_column is not None:
            assert ref.window_column in names, suite


def _frames() -> dict[str, Any]:
    import pandas as pd

    day, next_day = dt.date(2026, 1, 14), dt.date(2026, 1, 15)
    orders_staging = pd.DataFrame(
        {
            "event_id": ["e1", "e2", "e3"],
            "order_id": ["o1", "o2", "o2"],
            "customer_id": ["c1", "c2", "c2"],
            "customer_email_hash": [HASH, None, HASH],
            "customer_name": ["Ada", "Alan", "Alan"],
            "shipping_country": ["GB", "GB", None],
            "status": ["paid", "created", "refunded"],
            "amount_cents": [1050, 450, 450],
            "currency": ["EUR", "USD", "USD"],
            "amount_eur": [10.5, 4.14, 4.14],
            "event_time": pd.to_datetime(["2026-01-15 10:00", "2026-01-15 11:00", "2026-01-15 12:00"]),
            "event_date": [next_day] * 3,
        }
    )
    daily = pd.DataFrame(
        {
            "revenue_date": [day, next_day],
            "orders_paid": [3, 1],
            "orders_refunded": [0, 1],
            "paying_customers": [2, 1],
            "gross_revenue_eur": [30.0, 10.5],
            "refunds_eur": [0.0, 4.14],
            "net_revenue_eur": [30.0, 6.36],
        }
    )
    clv = pd.DataFrame(
        {
            "customer_id": ["c1", "c2"],
            "customer_email_hash": [HASH, None],
            "customer_name": ["Ada", "Alan"],
            "shipping_country": ["GB", None],
            "first_order_date": [day, next_day],
            "last_order_date": [next_day, next_day],
            "orders_paid": [2, 0],
            "orders_refunded": [0, 1],
            "lifetime_value_eur": [20.5, -4.14],
        }
    )
    orders = pd.DataFrame(
        {
            "order_id": ["o1", "o2", "o3"],
            "customer_id": ["c1", "c2", "c1"],
            "status": ["refunded", "paid", "created"],
            "amount_eur": [10.5, 4.5, 99.0],
            "first_event_at": pd.to_datetime(["2026-01-14 09:00", "2026-01-14 10:00", "2026-01-15 08:00"]),
            "paid_at": pd.to_datetime(["2026-01-14 10:00", "2026-01-14 11:00", None]),
            "paid_eur": [10.5, 4.5, 0.0],
            "refunded_at": pd.to_datetime(["2026-01-15 11:00", None, None]),
            "refunded_eur": [10.5, 0.0, 0.0],
        }
    )
    customers_staging = pd.DataFrame(
        {
            "event_id": ["p1", "p2", "p3"],
            "customer_id": ["c1", "c2", "c1"],
            "email_hash": [HASH, None, HASH],
            "full_name": ["Grace Hopper", "Alan Turing", "Grace Hopper"],
            "street_address": ["1 Main Street", None, "2 High Street"],
            "postal_code": ["10115", None, "10117"],
            "country": ["DE", None, "DE"],
            "segment": ["consumer", "business", "vip"],
            "marketing_opt_in": [True, False, True],
            "updated_at": pd.to_datetime(["2026-01-14 08:00", "2026-01-14 09:00", "2026-01-15 09:00"]),
            "event_date": [day, day, next_day],
        }
    )
    dim = pd.DataFrame(
        {
            "customer_version_id": ["v1", "v2", "v3"],
            "customer_id": ["c1", "c1", "c2"],
            "email_hash": [HASH, HASH, None],
            "full_name": ["Grace Hopper", "Grace Hopper", "Alan Turing"],
            "country": ["DE", "DE", None],
            "segment": ["consumer", "vip", "business"],
            "valid_from": pd.to_datetime(["2026-01-14 08:00", "2026-01-15 09:00", "2026-01-14 09:00"]),
            "valid_to": pd.to_datetime(["2026-01-15 09:00", None, None]),
            "is_current": [False, True, True],
        }
    )
    by_segment = pd.DataFrame(
        {
            "revenue_date": [day, day, next_day, next_day],
            "segment": ["consumer", "unknown", "consumer", "vip"],
            "orders_paid": [1, 1, 0, 1],
            "paying_customers": [1, 1, 0, 1],
            "net_revenue_eur": [10.5, 7.0, -10.5, 20.0],
        }
    )
    return {
        "orders_staging": orders_staging,
        "fct_daily_revenue": daily,
        "customer_lifetime_value": clv,
        "fct_orders": orders,
        "customers_staging": customers_staging,
        "dim_customers": dim,
        "fct_revenue_by_segment": by_segment,
    }


def test_good_data_passes_bad_data_fails_and_docs_are_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    suites = _suites()
    frames = _frames()
    assert sorted(frames) == sorted(s.name for s in suites)

    good = validate(frames, suites, docs_dir=tmp_path / "docs")
    assert [(r.suite, r.success, r.unsuccessful) for r in good] == [(s.name, True, 0) for s in suites]
    assert all(r.evaluated >= 6 for r in good)
    assert (tmp_path / "docs" / "index.html").is_file()
    assert list((tmp_path / "docs" / "validations").rglob("*.html"))

    bad = {k: v.copy() for k, v in frames.items()}
    bad["fct_daily_revenue"].loc[1, "revenue_date"] = bad["fct_daily_revenue"].loc[0, "revenue_date"]
    bad["orders_staging"].loc[0, "customer_email_hash"] = "ada@example.com"  # clear-text PII
    bad["orders_staging"].loc[1, "status"] = "shipped"
    bad["fct_orders"].loc[0, "refunded_at"] = bad["fct_orders"].loc[0, "paid_at"] - dt.timedelta(hours=1)
    bad["customers_staging"].loc[0, "country"] = "Germany"
    bad["customers_staging"].loc[1, "segment"] = "gold"
    bad["dim_customers"].loc[0, "is_current"] = True  # c1 with two current versions
    bad["dim_customers"].loc[2, "valid_to"] = bad["dim_customers"].loc[2, "valid_from"]  # ends as it starts
    bad["fct_revenue_by_segment"].loc[1, "segment"] = "consumer"  # (day, consumer) twice
    results = {r.suite: r for r in validate(bad, suites)}
    assert {name: sorted(r.failed_expectations) for name, r in results.items()} == {
        "customer_lifetime_value": [],
        "customers_staging": [
            "expect_column_values_to_be_in_set(segment)",
            "expect_column_values_to_match_regex(country)",
        ],
        "dim_customers": [
            "expect_column_pair_values_a_to_be_greater_than_b()",
            "expect_column_values_to_be_unique(customer_id)",
        ],
        "fct_daily_revenue": ["expect_column_values_to_be_unique(revenue_date)"],
        "fct_orders": ["expect_column_pair_values_a_to_be_greater_than_b()"],
        "fct_revenue_by_segment": ["expect_compound_columns_to_be_unique()"],
        "orders_staging": [
            "expect_column_values_to_be_in_set(status)",
            "expect_column_values_to_match_regex(customer_email_hash)",
        ],
    }
    assert [name for name, r in results.items() if r.success] == ["customer_lifetime_value"]

    lines = [
        json.loads(r.getMessage())
        for r in caplog.records
        if r.getMessage().startswith('{"event": "gx_validation"')
    ]
    assert len(lines) == 2 * len(suites)
    assert {line["suite"] for line in lines if not line["success"]} == set(results) - {
        "customer_lifetime_value"
    }


def test_suite_files_are_checked(tmp_path: Path) -> None:
    shutil.copytree(GX, tmp_path / "gx")
    path = tmp_path / "gx" / "expectations" / "orders" / "fct_daily_revenue.json"
    ref = TableRef(layer="marts", table="fct_daily_revenue")
    body = json.loads(path.read_text())
    path.write_text(json.dumps({**body, "name": "other"}))
    with pytest.raises(SuiteError, match=r"fct_daily_revenue\.json: name is 'other'"):
        load_suite(path, ref)
    path.write_text(json.dumps({**body, "expectations": []}))
    with pytest.raises(SuiteError, match="expectations: expected a non-empty list"):
        load_suite(path, ref)
    path.write_text("{")
    with pytest.raises(SuiteError, match="not valid JSON"):
        load_suite(path, ref)


def test_an_invalid_expectation_is_refused_not_dropped(tmp_path: Path) -> None:
    shutil.copytree(GX, tmp_path / "gx")
    path = tmp_path / "gx" / "expectations" / "orders" / "fct_daily_revenue.json"
    body = json.loads(path.read_text())
    body["expectations"].append({"type": "expect_column_values_to_be_between", "kwargs": {}})
    path.write_text(json.dumps(body))
    suite = load_suite(path, TableRef(layer="marts", table="fct_daily_revenue"))
    with pytest.raises(SuiteError, match=r"invalid expectation.*ExpectColumnValuesToBeBetween"):
        validate(_frames(), [suite])
