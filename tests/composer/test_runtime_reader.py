"""The stdlib reader in composer/dags/pipelines reads what platform_model.runtime builds, field for field."""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any

import pytest
from pipelines import runtime as reader
from pydantic import BaseModel

from platform_model import runtime as model
from platform_model.runtime import to_bytes
from tests.composer.conftest import runtime_config


def _pydantic_fields(cls: type[BaseModel], prefix: str = "") -> set[str]:
    names = set()
    for name, info in cls.model_fields.items():
        names.add(prefix + name)
        stack = [info.annotation]
        while stack:  # dict[str, X] and X | None contribute X's fields
            arg = stack.pop()
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                names |= _pydantic_fields(arg, f"{prefix}{name}.")
            else:
                stack.extend(typing.get_args(arg))
    return names


def _dataclass_fields(cls: Any, prefix: str = "") -> set[str]:
    names = set()
    hints = typing.get_type_hints(cls, vars(reader))
    for f in dataclasses.fields(cls):
        names.add(prefix + f.name)
        stack = [hints[f.name]]
        while stack:
            arg = stack.pop()
            if dataclasses.is_dataclass(arg):
                names |= _dataclass_fields(arg, f"{prefix}{f.name}.")
            else:
                stack.extend(typing.get_args(arg))
    return names


@pytest.mark.parametrize("platform", ["gcp", "local"])
def test_a_built_config_is_read_back_whole(platform: str) -> None:
    built = runtime_config(platform)
    parsed = reader.parse(to_bytes(built).decode())
    assert dataclasses.asdict(parsed) == built.model_dump(mode="json")
    assert list(parsed.domains) == list(built.domains)  # input order kept


def test_reader_knows_every_field_of_the_contract() -> None:
    # Nested models count too: domains.<name>.gx_suites.<suite> contributes domains.gx_suites.layer etc.
    reader_fields = _dataclass_fields(reader.RuntimeConfig)
    assert reader_fields == _pydantic_fields(model.RuntimeConfig)
    assert {
        "spark.jobs.jar_file_uris",
        "domains.dags.retries",
        "domains.gx_suites.window_column",
    } <= reader_fields
    assert model.RuntimeConfig.model_fields["schema_version"].default == reader.SCHEMA_VERSION
    assert reader.RUNTIME_CONFIG_NAME == model.RUNTIME_CONFIG_NAME


def test_the_domain_helper_finds_a_dag_by_kind() -> None:
    parsed = reader.parse(to_bytes(runtime_config("gcp")).decode())
    found = parsed.domains["orders"].dag("freshness")
    assert found is not None and found[0] == "orders_freshness" and found[1].kind == "freshness"
    assert parsed.domains["revenue"].dag("freshness") is None


def _broken(mutate: Any) -> str:
    data = runtime_config("gcp").model_dump(mode="json")
    mutate(data)
    return json.dumps(data)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("project"), "project: is required"),
        (
            lambda d: d["spark"]["jobs"]["orders_clean"].update(jar_file_uris="x.jar"),
            "spark.jobs.orders_clean.jar_file_uris: expected a list",
        ),
        (lambda d: d.update(schema_version=1), "schema_version: is 1, but this DAG code reads version 2"),
        (lambda d: d.update(platform="aws"), "platform: expected gcp or local"),
        (lambda d: d["datasets"].pop("marts"), "datasets: lacks ['marts']"),
        (lambda d: d.update(spark=[]), "spark: expected an object"),
        (lambda d: d.pop("domains"), "domains: is required"),
        (
            lambda d: d["domains"]["orders"].update(lateness_days="2"),
            "domains.orders.lateness_days: expected an integer",
        ),
        (
            lambda d: d["domains"]["orders"]["dags"]["orders_daily"].update(paused="no"),
            "domains.orders.dags.orders_daily.paused: expected true or false",
        ),
        (
            lambda d: d["domains"]["orders"]["dags"]["orders_daily"].update(kind="hourly"),
            "domains.orders.dags.orders_daily.kind: expected daily or freshness",
        ),
        (
            lambda d: d["domains"]["customers"]["gx_suites"]["dim_customers"].update(layer="gold"),
            "domains.customers.gx_suites.dim_customers.layer: expected one of raw, staging, marts",
        ),
        (
            lambda d: d["spark"]["jobs"].pop("customers_clean"),
            "domains.customers.spark_jobs: names Spark job 'customers_clean', which spark.jobs lacks",
        ),
        (
            lambda d: d["domains"]["revenue"].update(raw_table=""),
            "domains.revenue.raw_table: expected a non-empty",
        ),
    ],
)
def test_unusable_configs_name_the_field(mutate: Any, message: str) -> None:
    with pytest.raises(reader.RuntimeConfigError) as exc:
        reader.parse(_broken(mutate), "dags/runtime_config.json")
    assert str(exc.value).startswith("dags/runtime_config.json: ")
    assert message in str(exc.value)


def test_invalid_json_and_unknown_keys() -> None:
    with pytest.raises(reader.RuntimeConfigError, match="not valid JSON"):
        reader.parse("{")
    # A newer deployer may add optional fields: older DAG code keeps working.
    parsed = reader.parse(_broken(lambda d: d.update(new_optional_field={"x": 1})))
    assert parsed.env == "staging"


def test_load_for_dag_without_a_config_returns_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(reader.CONFIG_ENV, raising=False)
    dag_file = tmp_path / "a_domain.py"
    dag_file.write_text("")
    assert reader.load_for_dag(str(dag_file)) is None
    assert "declares no DAG" in caplog.text
    (tmp_path / "runtime_config.json").write_bytes(to_bytes(runtime_config("local")))
    loaded = reader.load_for_dag(str(dag_file))
    assert loaded is not None and loaded.platform == "local"
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_bytes(to_bytes(runtime_config("gcp")))
    monkeypatch.setenv(reader.CONFIG_ENV, str(elsewhere))
    loaded = reader.load_for_dag(str(dag_file))
    assert loaded is not None and loaded.platform == "gcp"


def test_paths_resolve_against_the_bucket_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dags = tmp_path / "gcs" / "dags"
    dags.mkdir(parents=True)
    assert reader.bucket_path(dags, "data/dbt/abc") == tmp_path / "gcs" / "data" / "dbt" / "abc"
    monkeypatch.delenv("PLATFORM_LOCAL_WAREHOUSE", raising=False)
    assert reader.local_warehouse(dags) == tmp_path / "gcs" / "data" / "warehouse"
    monkeypatch.setenv("PLATFORM_LOCAL_WAREHOUSE", str(tmp_path / "wh"))
    assert reader.local_warehouse(dags) == tmp_path / "wh"
