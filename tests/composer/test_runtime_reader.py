"""The stdlib reader in composer/dags/orders_platform reads what deployer.runtime renders, field for field."""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any

import pytest
from orders_platform import runtime as reader
from pydantic import BaseModel

from deployer.runtime import RUNTIME_CONFIG_NAME as DEPLOYER_RUNTIME_CONFIG_NAME
from deployer.runtime import RuntimeConfig as DeployerConfig
from deployer.runtime import SparkJob as DeployerSparkJob
from tests.composer.conftest import runtime_config


def _pydantic_fields(model: type[BaseModel], prefix: str = "") -> set[str]:
    names = set()
    for name, info in model.model_fields.items():
        names.add(prefix + name)
        annotation = info.annotation
        args = typing.get_args(annotation) or (annotation,)
        for arg in args:
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                names |= _pydantic_fields(arg, f"{prefix}{name}.")
    return names


def _dataclass_fields(cls: Any, prefix: str = "") -> set[str]:
    names = set()
    hints = typing.get_type_hints(cls, vars(reader))
    for f in dataclasses.fields(cls):
        names.add(prefix + f.name)
        for arg in typing.get_args(hints[f.name]) or (hints[f.name],):
            if dataclasses.is_dataclass(arg):
                names |= _dataclass_fields(arg, f"{prefix}{f.name}.")
    return names


@pytest.mark.parametrize("platform", ["gcp", "local"])
def test_a_rendered_config_is_read_back_whole(platform: str) -> None:
    rendered = runtime_config(platform)
    parsed = reader.parse(rendered.model_dump_json())
    assert dataclasses.asdict(parsed) == rendered.model_dump(mode="json")


def test_reader_knows_every_field_of_the_contract() -> None:
    # Nested models count too: spark.jobs.<name> contributes spark.jobs.main_python_file_uri etc.
    reader_fields = _dataclass_fields(reader.RuntimeConfig)
    assert reader_fields == _pydantic_fields(DeployerConfig)
    assert "spark.jobs.jar_file_uris" in reader_fields
    assert _dataclass_fields(reader.SparkJob) == _pydantic_fields(DeployerSparkJob)
    assert DeployerConfig.model_fields["schema_version"].default == reader.SCHEMA_VERSION
    assert reader.RUNTIME_CONFIG_NAME == DEPLOYER_RUNTIME_CONFIG_NAME


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
            "jar_file_uris: expected a list",
        ),
        (lambda d: d.update(schema_version=2), "schema_version: is 2, but this DAG code reads version 1"),
        (lambda d: d.update(platform="aws"), "platform: expected gcp or local"),
        (lambda d: d["datasets"].pop("marts"), "datasets: lacks ['marts']"),
        (lambda d: d.update(freshness_target_seconds="900"), "freshness_target_seconds: expected an integer"),
        (lambda d: d.update(spark=[]), "spark: expected an object"),
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


def test_load_for_dag_without_a_config_returns_none(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    dag_file = tmp_path / "orders_daily.py"
    dag_file.write_text("")
    assert reader.load_for_dag(str(dag_file)) is None
    assert "declares no DAG" in caplog.text
    (tmp_path / "runtime_config.json").write_text(runtime_config("local").model_dump_json())
    loaded = reader.load_for_dag(str(dag_file))
    assert loaded is not None and loaded.platform == "local"


def test_paths_resolve_against_the_bucket_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dags = tmp_path / "gcs" / "dags"
    dags.mkdir(parents=True)
    assert reader.bucket_path(dags, "data/dbt/abc") == tmp_path / "gcs" / "data" / "dbt" / "abc"
    monkeypatch.delenv("ORDERS_LOCAL_WAREHOUSE", raising=False)
    assert reader.local_warehouse(dags) == tmp_path / "gcs" / "data" / "warehouse"
    monkeypatch.setenv("ORDERS_LOCAL_WAREHOUSE", str(tmp_path / "wh"))
    assert reader.local_warehouse(dags) == tmp_path / "wh"
