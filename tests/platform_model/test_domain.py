"""The domain model: the committed domains load, bad declarations get one line naming file and field,
the set is checked together, and an environment's overrides resolve."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from platform_model.domain import (
    DOMAINS_DIR,
    Domain,
    input_order,
    load_domain_file,
    load_domains,
    parse_domain,
    resolve,
)
from platform_model.environment import ENVIRONMENTS_DIR, load_all, load_environment_file
from platform_model.errors import ConfigError


def _orders() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DOMAINS_DIR / "orders.yaml").read_text())
    return data


def test_committed_domains_load_in_input_order() -> None:
    domains = load_domains()
    assert set(domains) >= {"orders", "customers", "revenue"}
    order = input_order(domains)
    assert order.index("revenue") > order.index("orders")
    assert order.index("revenue") > order.index("customers")
    assert domains["revenue"].inputs == ["orders", "customers"]
    assert (
        domains["revenue"].event is None
        and "schedule" not in domains["revenue"].dags["daily"].model_fields_set
    )


def test_what_follows_from_the_name() -> None:
    orders = load_domains()["orders"]
    assert orders.dag_ids() == ["orders_daily", "orders_freshness"]
    assert orders.subscription == "orders-events-raw"
    assert orders.dead_letter_topic == "orders-events-dlq"
    assert orders.dbt_select == "path:models/orders"
    assert orders.job_package("orders_clean") == "orders"
    assert "staging.orders" in orders.tables() and "raw.orders_events" in orders.tables()
    assert orders.version == "1.0"


def test_integer_version_means_major() -> None:
    data = _orders() | {"version": 2}
    assert parse_domain(data, "x.yaml").version == "2.0"


BAD: list[tuple[str, Any, str]] = [
    (
        "unknown key on a column",
        ("staging", "columns", 0, "piii"),
        r"staging\.columns\.0\.piii: Extra inputs",
    ),
    ("unknown type", ("event", "columns", 1, "type"), r"event\.columns\.1\.type: Input should be"),
    ("no description", ("event", "columns", 1, "description"), r"event\.columns\.1\.description"),
    ("partition on a string", ("staging", "partition_by"), r"staging: partition_by: 'order_id'"),
    ("cron typo", ("dags", "daily", "schedule"), r"dags\.daily\.schedule: '0 2 \* \*'"),
    ("suite on a table not declared", ("gx_suites", "orders_staging", "table"), r"gx_suites\.orders_staging"),
]
VALUES = {
    "unknown key on a column": "PII Email",
    "unknown type": "VARCHAR",
    "no description": None,
    "partition on a string": "order_id",
    "cron typo": "0 2 * *",
    "suite on a table not declared": "payments",
}


@pytest.mark.parametrize(("case", "path", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_declarations_name_file_and_field(case: str, path: tuple[Any, ...], message: str) -> None:
    data = _orders()
    node = data
    for key in path[:-1]:
        node = node[key]
    if VALUES[case] is None:
        del node[path[-1]]
    else:
        node[path[-1]] = VALUES[case]
    with pytest.raises(ConfigError) as err:
        parse_domain(data, "domains/orders.yaml")
    line = str(err.value)
    assert line.startswith("domains/orders.yaml: ") and "\n" not in line
    assert __import__("re").search(message, line), line


def test_duplicate_column_refused() -> None:
    data = _orders()
    data["staging"]["columns"].append(dict(data["staging"]["columns"][0]))
    with pytest.raises(ConfigError, match=r"staging\.columns: duplicate column names \['event_id'\]"):
        parse_domain(data, "domains/orders.yaml")


def test_file_name_must_match(tmp_path: Path) -> None:
    target = tmp_path / "shop.yaml"
    shutil.copy(DOMAINS_DIR / "orders.yaml", target)
    with pytest.raises(ConfigError, match=r"shop\.yaml: domain: is 'orders' but the file is named 'shop'"):
        load_domain_file(target)


def test_yaml_aliases_and_duplicate_keys_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("domain: a\ndomain: b\n")
    with pytest.raises(ConfigError, match=r"a\.yaml: line 2: invalid YAML: key 'domain' is given twice"):
        load_domain_file(tmp_path / "a.yaml")
    (tmp_path / "b.yaml").write_text("x: &x [1]\ny: *x\n")
    with pytest.raises(ConfigError, match="YAML aliases"):
        load_domain_file(tmp_path / "b.yaml")


def _copy_domains(tmp_path: Path) -> Path:
    target = tmp_path / "domains"
    shutil.copytree(DOMAINS_DIR, target)
    return target


def test_set_refuses_a_topic_declared_twice(tmp_path: Path) -> None:
    target = _copy_domains(tmp_path)
    text = (target / "customers.yaml").read_text().replace("domain: customers", "domain: clients")
    (target / "clients.yaml").write_text(text)
    with pytest.raises(
        ConfigError,
        match=r"topic 'customers-events' is declared by both domains/clients\.yaml and "
        r"domains/customers\.yaml",
    ):
        load_domains(target)


def test_set_refuses_unknown_input_and_cycles(tmp_path: Path) -> None:
    target = _copy_domains(tmp_path)
    text = (target / "revenue.yaml").read_text()
    (target / "revenue.yaml").write_text(
        text.replace("inputs: [orders, customers]", "inputs: [orders, payments]")
    )
    with pytest.raises(ConfigError, match=r"revenue\.yaml: inputs: no domain 'payments'"):
        load_domains(target)
    a = yaml.safe_load(text) | {"domain": "alpha", "inputs": ["beta"], "marts": {}, "gx_suites": {}}
    b = yaml.safe_load(text) | {"domain": "beta", "inputs": ["alpha"], "marts": {}, "gx_suites": {}}
    a["dags"]["daily"] = b["dags"]["daily"] = {"retries": 1}
    (target / "revenue.yaml").write_text(text)
    (target / "alpha.yaml").write_text(yaml.safe_dump(a))
    (target / "beta.yaml").write_text(yaml.safe_dump(b))
    with pytest.raises(ConfigError, match=r"alpha\.yaml: inputs form a cycle: alpha -> beta -> alpha"):
        load_domains(target)


def test_shape_rules() -> None:
    data = _orders()
    data["inputs"] = ["customers"]
    with pytest.raises(ConfigError, match="either ingests an event or combines"):
        parse_domain(data, "d.yaml")
    revenue = yaml.safe_load((DOMAINS_DIR / "revenue.yaml").read_text())
    revenue["dags"]["daily"]["schedule"] = "0 3 * * *"
    with pytest.raises(ConfigError, match="runs on their assets, not a cron"):
        parse_domain(revenue, "d.yaml")
    revenue["dags"] = {"freshness": {"schedule": "0 * * * *"}}
    with pytest.raises(ConfigError, match=r"dags\.freshness: measures raw events"):
        parse_domain(revenue, "d.yaml")


# -- an environment's view -------------------------------------------------------------------------


def _env_with(tmp_path: Path, overrides: dict[str, Any], name: str = "dev") -> Any:
    data = yaml.safe_load((ENVIRONMENTS_DIR / f"{name}.yaml").read_text())
    data["domains"] = overrides
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_environment_file(path)


def test_every_environment_gets_every_domain_without_naming_it() -> None:
    domains = load_domains()
    for name, env in load_all().items():
        assert set(resolve(env, domains)) == set(domains), name


def test_override_applies_to_one_environment(tmp_path: Path) -> None:
    domains = load_domains()
    env = _env_with(
        tmp_path,
        {"orders": {"owner": "shop-team", "dags": {"freshness": {"freshness_target_seconds": 1800}}}},
    )
    resolved = resolve(env, domains)
    assert resolved["orders"].dags["freshness"].freshness_target_seconds == 1800
    assert resolved["orders"].dags["freshness"].schedule == domains["orders"].dags["freshness"].schedule
    assert resolved["orders"].owner == "shop-team"
    assert domains["orders"].dags["freshness"].freshness_target_seconds == 900  # declaration untouched


def test_switched_off_domain_is_not_deployed(tmp_path: Path) -> None:
    domains = load_domains()
    env = _env_with(tmp_path, {"revenue": {"enabled": False}})
    assert set(resolve(env, domains)) == {"orders", "customers"}
    env = _env_with(tmp_path, {"customers": {"enabled": False}})
    with pytest.raises(
        ConfigError, match=r"dev\.yaml: domains\.customers\.enabled: is false, but domain 'revenue' reads it"
    ):
        resolve(env, domains)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"payments": {"enabled": False}}, r"dev\.yaml: domains\.payments: no such domain in domains/"),
        (
            {"revenue": {"dags": {"freshness": {"retries": 1}}}},
            r"domains\.revenue\.dags\.freshness: domain 'revenue' declares no 'freshness' DAG",
        ),
        (
            {"orders": {"dags": {"daily": {"schedule": "every day"}}}},
            r"dev\.yaml: domains\.orders\.dags\.daily: schedule: .every day. is not a cron",
        ),
    ],
)
def test_bad_overrides_name_the_environment_file(
    tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    env = _env_with(tmp_path, overrides)
    with pytest.raises(ConfigError, match=message):
        resolve(env, load_domains())


def test_pii_tag_must_exist_in_the_taxonomy(tmp_path: Path) -> None:
    data = yaml.safe_load((ENVIRONMENTS_DIR / "dev.yaml").read_text())
    data["bigquery"]["taxonomy"]["policy_tags"] = [
        t for t in data["bigquery"]["taxonomy"]["policy_tags"] if t["display_name"] != "PII Address"
    ]
    path = tmp_path / "dev.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(
        ConfigError,
        match=r"domains/customers\.yaml: event\.columns\.street_address\.pii: policy tag 'PII Address' "
        r"is not in the taxonomy of environments/dev\.yaml",
    ):
        resolve(load_environment_file(path), load_domains())


def test_domain_is_frozen() -> None:
    orders: Domain = load_domains()["orders"]
    with pytest.raises(Exception):
        orders.owner = "x"  # type: ignore[misc]
