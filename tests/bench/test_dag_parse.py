"""DAG parse benchmark: importtime parsing, the rendered runtime configs, a smoke run."""

from __future__ import annotations

import json

import pytest

from bench import dag_parse
from platform_model.domain import load_domains, load_for
from platform_model.environment import load_environment

IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       100 |        100 |     tiny
import time:     16000 |    2699888 |           airflow
import time:        27 |    2699915 |         airflow.providers
import time:       224 |    2700139 |       airflow.providers.google
import time:      6106 |     356121 |       airflow.providers.google.cloud.hooks.dataproc
import time:     50000 |    3100000 |     airflow.providers.google.cloud.operators.dataproc
import time:       500 |    3100400 |   pipelines
"""


def test_importtime_ranks_the_modules_that_do_the_work() -> None:
    rows = dag_parse.parse_importtime(IMPORTTIME)
    names = [name for name, _ms, _depth in rows]
    # Pass-through packages (nested import costs all but < 1 ms of theirs) are left out.
    assert names == [
        "airflow.providers.google.cloud.operators.dataproc",
        "airflow",
        "airflow.providers.google.cloud.hooks.dataproc",
        "tiny",
    ]
    assert rows[0][1] == pytest.approx(3100.0)


@pytest.mark.parametrize(("env_name", "platform"), [("staging", "gcp"), ("local", "local")])
def test_runtime_config_is_built_for_the_environment(env_name: str, platform: str) -> None:
    config = json.loads(dag_parse.runtime_config_bytes(env_name))
    assert config["env"] == env_name and config["platform"] == platform and config["schema_version"] == 2
    domains = load_for(load_environment(env_name))
    assert list(config["domains"]) == list(domains)
    assert sorted(config["spark"]["jobs"]) == sorted(job for d in domains.values() for job in d.spark_jobs)


def test_every_dag_file_of_the_repo_is_measured() -> None:
    assert dag_parse.dag_files() == sorted(p.name for p in dag_parse.DAGS.glob("*.py"))
    assert len(dag_parse.dag_files()) == len(load_domains())  # one per domain


@pytest.mark.slow
def test_smoke_run_on_one_dag_file() -> None:
    dag_file = dag_parse.dag_files()[0]
    expected = sorted(json.loads(dag_parse.runtime_config_bytes("staging"))["domains"][dag_file[:-3]]["dags"])
    figures = dag_parse.run(repeats=1, files=[dag_file], top=3)
    parses = [f for f in figures if f.name.startswith("DAG parse")]
    assert len(parses) == 2  # gcp and local configs
    for fig in parses:
        assert fig.details["errors"] == {}
        assert fig.details["dags"] == expected
        assert fig.value > 0 and fig.met is not None
    imports = [f for f in figures if f.name.startswith("import cost")]
    assert len(imports) == 3 and all(f.value > 0 for f in imports)
