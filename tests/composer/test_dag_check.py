"""`composer.dag_check.dag_reports`: one interpreter loads a DAG folder once per runtime config, each load
in its own fresh module state (a fork of the process that imported Airflow), so what one runtime config
declares never leaks into the load with the next; each report is the one `dag_report` gives alone."""

from __future__ import annotations

import json
from pathlib import Path

from composer.dag_check import dag_report, dag_reports
from composer.runtime_config import write
from platform_model.environment import DomainOverride
from tests.composer.conftest import DAG_FILES, runtime_config, stage_dags


def _config_file(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True)
    path = folder / "runtime_config.json"
    path.write_text(text, encoding="utf-8")
    return path


def test_one_interpreter_loads_each_runtime_config_afresh(tmp_path: Path) -> None:
    dags = stage_dags(tmp_path / "release", None)  # no runtime config beside the files
    full = runtime_config("gcp")
    (tmp_path / "full").mkdir()
    full_file = write(full, tmp_path / "full")
    off = runtime_config("gcp", revenue=DomainOverride(enabled=False))
    (tmp_path / "off").mkdir()
    off_file = write(off, tmp_path / "off")
    broken = full.model_dump(mode="json")
    del broken["domains"]["orders"]["dbt_select"]
    broken_file = _config_file(tmp_path / "broken", json.dumps(broken))

    home = tmp_path / "airflow-home"
    loaded, switched_off, refused, without = dag_reports(
        dags, [full_file, off_file, broken_file, None], airflow_home=home
    )

    assert loaded["import_errors"] == {}
    assert {"orders_daily", "customers_daily", "revenue_daily"} <= set(loaded["dags"])
    # revenue's DAGs of the load before do not survive into the load without revenue
    assert switched_off["import_errors"] == {}
    assert not any(dag_id.startswith("revenue") for dag_id in switched_off["dags"])
    assert "orders_daily" in switched_off["dags"]
    assert sorted(Path(f).name for f in refused["import_errors"]) == DAG_FILES  # each reads the config
    assert all("domains.orders.dbt_select: is required" in e for e in refused["import_errors"].values())
    assert refused["dags"] == {}
    assert without["import_errors"] == {} and without["dags"] == {}
    for report in (loaded, switched_off, refused, without):
        assert sorted(Path(s["file"]).name for s in report["stats"]) == DAG_FILES
        assert report["heavy_modules"] == [] and report["repo_modules"] == []
        assert report["pre_imported"] is True

    # after a broken load and one without config, the full config declares what it declares alone
    (again,) = dag_reports(dags, [full_file], airflow_home=home)
    alone = dag_report(dags, airflow_home=home, runtime_config=full_file)
    assert again["dags"] == alone["dags"] == loaded["dags"]
