"""The GX suites in gx/: aligned with the contract, pass on good data, fail on bad data, write Data Docs."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from contracts.model import load_contract

REPO = Path(__file__).resolve().parents[2]
GX = REPO / "gx"
sys.path.insert(0, str(REPO / "composer" / "dags"))

from orders_platform.gx_validate import SuiteError, load_suites, validate  # noqa: E402


def _frames() -> dict[str, Any]:
    import pandas as pd

    hash_ = "0123456789abcdef" * 4
    staging = pd.DataFrame(
        {
            "event_id": ["e1", "e2", "e3"],
            "order_id": ["o1", "o2", "o2"],
            "customer_id": ["c1", "c2", "c2"],
            "customer_email_hash": [hash_, None, hash_],
            "customer_name": ["Ada", "Alan", "Alan"],
            "shipping_country": ["GB", "GB", None],
            "status": ["paid", "created", "refunded"],
            "amount_cents": [1050, 450, 450],
            "currency": ["EUR", "USD", "USD"],
            "amount_eur": [10.5, 4.14, 4.14],
            "event_time": pd.to_datetime(["2026-01-15 10:00", "2026-01-15 11:00", "2026-01-15 12:00"]),
            "event_date": [dt.date(2026, 1, 15)] * 3,
        }
    )
    revenue = pd.DataFrame(
        {
            "revenue_date": [dt.date(2026, 1, 14), dt.date(2026, 1, 15)],
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
            "customer_email_hash": [hash_, None],
            "customer_name": ["Ada", "Alan"],
            "shipping_country": ["GB", None],
            "first_order_date": [dt.date(2026, 1, 14), dt.date(2026, 1, 15)],
            "last_order_date": [dt.date(2026, 1, 15), dt.date(2026, 1, 15)],
            "orders_paid": [2, 0],
            "orders_refunded": [0, 1],
            "lifetime_value_eur": [20.5, -4.14],
        }
    )
    return {"orders_staging": staging, "fct_daily_revenue": revenue, "customer_lifetime_value": clv}


def test_suites_cover_the_contract_columns() -> None:
    contract = load_contract()
    sections = {"orders_staging": "staging", "fct_daily_revenue": "fct_daily_revenue"}
    sections["customer_lifetime_value"] = "customer_lifetime_value"
    suites = {s.name: s for s in load_suites(GX)}
    assert sorted(suites) == sorted(sections)
    for name, section in sections.items():
        column_set = next(
            e["kwargs"]["column_set"]
            for e in suites[name].body["expectations"]
            if e["type"] == "expect_table_columns_to_match_set"
        )
        assert column_set == contract.column_names(section), name
        used = {
            e["kwargs"][k]
            for e in suites[name].body["expectations"]
            for k in ("column", "column_A", "column_B")
            if k in e["kwargs"]
        }
        assert used <= set(column_set), name
    assert suites["orders_staging"].table.window_column == "event_date"


def test_good_data_passes_bad_data_fails_and_docs_are_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    suites = load_suites(GX)
    frames = _frames()
    bad_revenue = frames["fct_daily_revenue"].copy()
    bad_revenue.loc[1, "revenue_date"] = bad_revenue.loc[0, "revenue_date"]  # a duplicated day
    bad_staging = frames["orders_staging"].copy()
    bad_staging.loc[0, "customer_email_hash"] = "ada@example.com"  # clear-text PII
    bad_staging.loc[1, "status"] = "shipped"

    good = validate(frames, suites, docs_dir=tmp_path / "docs")
    assert [(r.suite, r.success) for r in good] == [(s.name, True) for s in suites]
    assert all(r.evaluated >= 6 and r.unsuccessful == 0 for r in good)
    assert (tmp_path / "docs" / "index.html").is_file()
    assert list((tmp_path / "docs" / "validations").rglob("*.html"))

    bad = {
        r.suite: r
        for r in validate({**frames, "fct_daily_revenue": bad_revenue, "orders_staging": bad_staging}, suites)
    }
    assert not bad["fct_daily_revenue"].success
    assert bad["fct_daily_revenue"].failed_expectations == ["expect_column_values_to_be_unique(revenue_date)"]
    assert sorted(bad["orders_staging"].failed_expectations) == [
        "expect_column_values_to_be_in_set(status)",
        "expect_column_values_to_match_regex(customer_email_hash)",
    ]
    assert bad["customer_lifetime_value"].success

    lines = [
        json.loads(r.getMessage())
        for r in caplog.records
        if r.getMessage().startswith('{"event": "gx_validation"')
    ]
    assert len(lines) == 2 * len(suites)
    assert {k: lines[-3][k] for k in ("event", "suite", "success", "unsuccessful")} == {
        "event": "gx_validation",
        "suite": "customer_lifetime_value",
        "success": True,
        "unsuccessful": 0,
    }
    failed = [line for line in lines if not line["success"]]
    assert {line["suite"] for line in failed} == {"fct_daily_revenue", "orders_staging"}
    assert all(line["evaluated"] > 0 for line in lines)


def test_suite_files_are_checked(tmp_path: Path) -> None:
    shutil.copytree(GX, tmp_path / "gx")
    path = tmp_path / "gx" / "expectations" / "fct_daily_revenue.json"
    body = json.loads(path.read_text())
    path.write_text(json.dumps({**body, "name": "other"}))
    with pytest.raises(SuiteError, match=r"fct_daily_revenue\.json: name is 'other'"):
        load_suites(tmp_path / "gx")
    path.write_text(json.dumps({**body, "meta": {}}))
    with pytest.raises(SuiteError, match=r"meta\.orders_table"):
        load_suites(tmp_path / "gx")
    path.write_text("{")
    with pytest.raises(SuiteError, match="not valid JSON"):
        load_suites(tmp_path / "gx")
    with pytest.raises(SuiteError, match="no suite files"):
        load_suites(tmp_path)


def test_an_invalid_expectation_is_refused_not_dropped(tmp_path: Path) -> None:
    shutil.copytree(GX, tmp_path / "gx")
    path = tmp_path / "gx" / "expectations" / "fct_daily_revenue.json"
    body = json.loads(path.read_text())
    body["expectations"].append({"type": "expect_column_values_to_be_between", "kwargs": {}})
    path.write_text(json.dumps(body))
    suites = [s for s in load_suites(tmp_path / "gx") if s.name == "fct_daily_revenue"]
    with pytest.raises(SuiteError, match=r"invalid expectation.*ExpectColumnValuesToBeBetween"):
        validate(_frames(), suites)
