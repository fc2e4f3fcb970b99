"""End to end on the local platform, every domain: build the release's artifacts, generate raw events for
every domain with an event, stage a DAG folder with the local runtime config (`platform_model.runtime.build`,
file:// URIs) and run each domain's daily DAG with `airflow dags test` (SQLite, temp AIRFLOW_HOME), a
domain after its inputs.

One shared run per session (the `pipeline` fixture): every daily DAG for the day before (so dbt's
snapshot has a first state), then for the day. The tests read its results and the warehouse it left;
only the re-run and the freshness checks run DAGs of their own.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from composer.local_run import (
    LocalRunError,
    RunResult,
    composer_local_run,
    main,
    prepare_local_release,
    run_dags,
    run_daily_dags,
    summary,
)

DAY = "2026-01-15"
DAY_BEFORE = "2026-01-14"
ROWS = 800

pytestmark = pytest.mark.slow(seconds=310)  # the session's run of every daily DAG for two days, and more


@dataclass
class Pipeline:
    """The staged release and the runs of the session."""

    dag_folder: Path
    config: dict[str, Any]
    before: dict[str, RunResult]
    """Every daily DAG for DAY_BEFORE, by DAG id, in the order they ran."""
    runs: dict[str, RunResult]
    """Every daily DAG for DAY, by DAG id, in the order they ran."""
    airflow_home: Path

    @property
    def warehouse(self) -> Path:
        return self.dag_folder.parent / "data" / "warehouse"

    def domain(self, name: str) -> dict[str, Any]:
        return dict(self.config["domains"][name])

    def query(self, sql: str) -> Any:
        import duckdb

        with duckdb.connect(str(self.warehouse / "warehouse.duckdb"), read_only=True) as con:
            con.execute("SET TimeZone = 'UTC'")
            return con.sql(sql).df()

    def marts(self, table: str) -> str:
        return f'"{self.config["datasets"]["marts"]}"."{table}"'


def _print(result: RunResult) -> None:
    print("\n" + "\n".join(summary(result)))


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    root = tmp_path_factory.mktemp("release")
    folder = prepare_local_release(root, DAY, rows=ROWS, days=2)
    home = root / "airflow-home"
    results = run_daily_dags(folder, DAY, airflow_home=home, days=2)
    for result in results:
        _print(result)
    before = {r.dag_id: r for r in results if r.logical_date == DAY_BEFORE}
    runs = {r.dag_id: r for r in results if r.logical_date == DAY}
    config = json.loads((folder / "runtime_config.json").read_text())
    return Pipeline(folder, config, before, runs, home)


def _daily(pipeline: Pipeline) -> dict[str, str]:
    """Domain -> its daily DAG id, in the runtime config's (input) order."""
    return {
        name: dag_id
        for name, d in pipeline.config["domains"].items()
        for dag_id, dag in d["dags"].items()
        if dag["kind"] == "daily"
    }


def test_every_daily_dag_succeeds_a_domain_after_its_inputs(pipeline: Pipeline) -> None:
    daily = _daily(pipeline)
    assert list(pipeline.before) == list(pipeline.runs) == list(daily.values())
    for dag_id, result in pipeline.before.items():
        assert result.success, f"{dag_id} {DAY_BEFORE}: {result.task_states}, see {result.log_path}"
    assert list(daily) == ["customers", "orders", "revenue"]
    for name, dag_id in daily.items():
        result = pipeline.runs[dag_id]
        assert result.success, f"{dag_id}: {result.task_states}, see {result.log_path}"
        jobs = [f"spark_{job}" for job in pipeline.domain(name)["spark_jobs"]]
        assert result.task_order() == [*jobs, "dbt_build", "gx_validate"]


def _dbt_parse(result: RunResult) -> str:
    """How the run's dbt step read the project, as its task logged it ("partial", "full: <why>")."""
    assert result.log_path is not None
    (line,) = re.findall(r"dbt parse: (.+?) \[pipelines\.dbt_task\]", result.log_path.read_text())
    return str(line).strip()


def test_dbt_parses_the_release_project_once_and_only_what_changed_after(pipeline: Pipeline) -> None:
    # The first dbt step parses the release's project in full (no saved state yet); every later one, of
    # another domain or another day, reuses that parse: a new day changes the run date, an env var that
    # only a few models read, not a var (which would make dbt parse everything again).
    first, *rest = [*pipeline.before.values(), *pipeline.runs.values()]
    assert _dbt_parse(first) == "full: saved manifest not found. Starting full parse."
    assert [_dbt_parse(r) for r in rest] == ["partial"] * len(rest)


def _raw_records(pipeline: Pipeline, name: str, day: str) -> int:
    """Lines in the raw landing days the run of `day` reads (its lateness window)."""
    domain = pipeline.domain(name)
    end = dt.date.fromisoformat(day)
    folder = pipeline.warehouse / "raw" / domain["raw_table"]
    count = 0
    for offset in range(domain["lateness_days"] + 1):
        for path in (folder / f"ingest_date={end - dt.timedelta(days=offset)}").glob("*.jsonl"):
            count += sum(1 for line in path.read_text().splitlines() if line.strip())
    return count


@pytest.mark.parametrize("name", ["customers", "orders"])
def test_spark_accounts_for_every_raw_record(pipeline: Pipeline, name: str) -> None:
    result = pipeline.runs[f"{name}_daily"]
    (job,) = pipeline.domain(name)["spark_jobs"]
    spark = result.task_metrics(f"spark_{job}")
    assert spark is not None and spark["domain"] == name and spark["dag_id"] == f"{name}_daily"
    assert spark["logical_date"].startswith(DAY)
    # What the job read of the raw days of its window, and where each record went.
    assert 0 < spark["records_in"] <= _raw_records(pipeline, name, DAY)
    (job_line,) = result.lines("spark_job_metrics")
    keys = ("records_in", "records_out", "records_rejected")
    assert {k: job_line[k] for k in keys} == {k: spark[k] for k in keys}
    assert (
        spark["records_in"]
        == spark["records_out"] + spark["records_rejected"] + job_line["records_deduplicated"]
    )
    assert spark["records_rejected"] > 0  # the sample holds duplicates, late and malformed records
    dbt = result.task_metrics("dbt_build")
    assert dbt is not None and dbt["records_in"] == spark["records_out"]  # the staging window it wrote


@pytest.mark.parametrize("name", ["customers", "orders", "revenue"])
def test_dbt_rows_in_and_out(pipeline: Pipeline, name: str) -> None:
    domain = pipeline.domain(name)
    dbt = pipeline.runs[f"{name}_daily"].task_metrics("dbt_build")
    assert dbt is not None and dbt["duration_seconds"] > 0
    written = sum(
        int(pipeline.query(f"select count(*) as n from {pipeline.marts(m)}")["n"][0]) for m in domain["marts"]
    )
    assert dbt["records_out"] == written > 0
    if domain["inputs"]:  # a cross-domain mart reads its inputs' marts
        read = [m for i in domain["inputs"] for m in pipeline.domain(i)["marts"]]
        expected = sum(
            int(pipeline.query(f"select count(*) as n from {pipeline.marts(m)}")["n"][0]) for m in read
        )
        assert dbt["records_in"] == expected > 0


@pytest.mark.parametrize("name", ["customers", "orders", "revenue"])
def test_gx_validates_its_own_suites_and_writes_data_docs(pipeline: Pipeline, name: str) -> None:
    result = pipeline.runs[f"{name}_daily"]
    lines = {line["suite"]: line for line in result.lines("gx_validation")}
    assert sorted(lines) == sorted(pipeline.domain(name)["gx_suites"])
    for suite, line in lines.items():
        assert line["domain"] == name, suite
        assert line["success"] and line["unsuccessful"] == 0 and line["evaluated"] > 0, suite
    gx = result.task_metrics("gx_validate")
    assert gx is not None and gx["records_rejected"] == 0 and gx["records_out"] > 0
    assert (pipeline.warehouse / "gx_docs" / name / DAY / "index.html").is_file()


def test_each_daily_dag_emits_its_asset_for_the_day(pipeline: Pipeline) -> None:
    for name, dag_id in _daily(pipeline).items():
        events = pipeline.runs[dag_id].asset_events
        assert events == [
            {"uri": pipeline.domain(name)["asset"], "task_id": "gx_validate", "extra": {"run_date": DAY}}
        ], dag_id


def _lineage(pipeline: Pipeline) -> list[dict[str, Any]]:
    from composer.local_run import read_lineage_events

    files = {r.lineage_file for r in [*pipeline.before.values(), *pipeline.runs.values()]}
    assert len(files) == 1 and None not in files  # local has lineage.enabled: one file for every run
    return read_lineage_events(next(iter(files)))  # type: ignore[arg-type]


def _names(event: dict[str, Any], side: str) -> list[str]:
    """`dataset.table` of each dataset (the local names are `warehouse.<dataset>.<table>`)."""
    return sorted(d["name"].removeprefix("warehouse.") for d in event.get(side) or [])


@pytest.mark.parametrize("name", ["customers", "orders", "revenue"])
def test_every_step_leaves_openlineage_events_with_its_tables(pipeline: Pipeline, name: str) -> None:
    from platform_model.domain import load_domains

    domains = load_domains()
    domain, ds = domains[name], pipeline.config["datasets"]
    events = _lineage(pipeline)
    done = [e for e in events if e["eventType"] == "COMPLETE"]
    jobs = {e["job"]["name"] for e in done}

    def one(job: str) -> dict[str, Any]:
        found = [e for e in done if e["job"]["name"] == job]
        assert found, f"no COMPLETE event of {job} (jobs: {sorted(jobs)})"
        return found[-1]

    own = {key: f"{ds[key.split('.')[0]]}.{key.split('.')[1]}" for key in domain.tables()}
    read_by_dbt = [own[k] for k in own if k.startswith("staging.") and not k.endswith("_rejects")]
    read_by_dbt += [f"{ds['marts']}.{m}" for i in domain.inputs for m in domains[i].marts]
    marts = sorted(f"{ds['marts']}.{m}" for m in domain.marts)
    # Airflow's OpenLineage provider: every task, with the tables the DAG library declares
    dag = domain.dag_id("daily")
    for job in domain.spark_jobs:
        written = sorted(v for k, v in own.items() if k.startswith("staging."))
        for task in (one(f"{dag}.spark_{job}"), one(f"spark.{job}")):  # the task, and the Spark step itself
            assert _names(task, "inputs") == [own[f"raw.{domain.event.raw_table}"]]  # type: ignore[union-attr]
            assert _names(task, "outputs") == written
    dbt = one(f"{dag}.dbt_build")
    assert (_names(dbt, "inputs"), _names(dbt, "outputs")) == (sorted(read_by_dbt), marts)
    assert one(f"{dag}.gx_validate")["job"]["namespace"] == "local"
    # dbt-ol: an event per model the domain builds, its output the model's table
    dbt_outputs = {n for e in done if "dbt" in e["producer"] for n in _names(e, "outputs")}
    assert set(marts) <= dbt_outputs
    # the GX step: each suite's table, with its data-quality assertions
    for suite, spec in domain.gx_suites.items():
        gx = one(f"gx.{suite}")
        assert _names(gx, "inputs") == [f"{ds[spec.layer]}.{spec.table}"]
        assertions = gx["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"]
        assert assertions and all(a["success"] for a in assertions)


def test_the_observed_lineage_is_the_declared_one(pipeline: Pipeline) -> None:
    from composer.local_run import REPO_ROOT
    from deployer.lineage_observed import report

    events = next(iter(pipeline.runs.values())).lineage_file
    assert events is not None
    result = report(REPO_ROOT, events, "local")
    assert result is not None
    assert result.findings() == []
    assert result.diff.not_run == []  # every declared step ran
    # the one edge no event can show: dbt-ol drops a model's snapshot inputs
    assert result.diff.unobservable == [("model_customers_snapshot", "model_dim_customers")]


def test_customers_dimension_keeps_history(pipeline: Pipeline) -> None:
    dim = pipeline.query(f"select * from {pipeline.marts('dim_customers')}")
    versions = dim.groupby("customer_id").size()
    assert (versions > 1).sum() > 0, "no customer has more than one version"
    current = dim[dim.is_current].groupby("customer_id").size()
    assert (current == 1).all() and len(current) == len(versions)  # one current version each
    assert dim[~dim.is_current].valid_to.notna().all() and dim[dim.is_current].valid_to.isna().all()
    assert dim.customer_version_id.is_unique
    assert dim.email_hash.dropna().str.fullmatch(r"[0-9a-f]{64}").all()
    for customer_id, rows in dim[dim.customer_id.isin(versions[versions > 1].index)].groupby("customer_id"):
        rows = rows.sort_values("valid_from")
        # Each version ends where the next one begins.
        assert list(rows.valid_to[:-1]) == list(rows.valid_from[1:]), customer_id


def test_the_cross_domain_mart_splits_the_orders_revenue_by_segment(pipeline: Pipeline) -> None:
    by_segment = pipeline.query(
        f"select revenue_date, segment, net_revenue_eur from {pipeline.marts('fct_revenue_by_segment')}"
    )
    assert len(by_segment) > 0
    assert set(by_segment.segment) <= {"consumer", "business", "vip", "unknown"}
    assert set(by_segment.segment) - {"unknown"}, "no order matched a customer profile"
    orders = pipeline.marts("fct_orders")
    per_day = pipeline.query(
        f"select day, sum(amount) as net from ("
        f"select cast(paid_at as date) as day, paid_eur as amount from {orders} where paid_at is not null "
        f"union all select cast(refunded_at as date), -refunded_eur from {orders} "
        "where refunded_at is not null) group by day order by day"
    )
    totals = by_segment.groupby("revenue_date").net_revenue_eur.sum()
    expected = {
        d.date() if hasattr(d, "date") else d: round(float(v), 2)
        for d, v in zip(per_day.day, per_day.net, strict=True)
    }
    got = {d.date() if hasattr(d, "date") else d: round(float(v), 2) for d, v in totals.items()}
    assert got == expected  # its first build covers every day of the orders


def test_the_summary_shows_rows_in_and_out_of_each_step(pipeline: Pipeline) -> None:
    lines = summary(pipeline.runs["orders_daily"])
    assert lines[0].startswith(f"orders_daily {DAY}: success")
    spark = pipeline.runs["orders_daily"].task_metrics("spark_orders_clean")
    assert spark is not None
    step = next(line for line in lines if line.strip().startswith("spark_orders_clean"))
    assert f"in={spark['records_in']} out={spark['records_out']}" in step


def test_running_the_same_day_again_changes_nothing(pipeline: Pipeline) -> None:
    table = pipeline.marts("fct_daily_revenue")
    before = pipeline.query(f"select * from {table} order by 1")
    staging = pipeline.warehouse / "staging" / pipeline.domain("orders")["staging_table"]
    staging_before = sorted(p.name for p in staging.iterdir())
    again = composer_local_run(pipeline.dag_folder, DAY, "orders_daily", airflow_home=pipeline.airflow_home)
    assert again.success, f"{again.task_states}, see {again.log_path}"
    assert _dbt_parse(again) == "partial"  # the same day: the state of its earlier runs held
    assert before.equals(pipeline.query(f"select * from {table} order by 1"))
    assert sorted(p.name for p in staging.iterdir()) == staging_before
    keys = ("records_in", "records_out", "records_rejected")
    first = pipeline.runs["orders_daily"].task_metrics("spark_orders_clean")
    second = again.task_metrics("spark_orders_clean")
    assert first and second and {k: first[k] for k in keys} == {k: second[k] for k in keys}


def _write_raw(pipeline: Pipeline, name: str, field: str, moment: dt.datetime) -> None:
    raw = pipeline.warehouse / "raw" / pipeline.domain(name)["raw_table"] / f"ingest_date={moment.date()}"
    raw.mkdir(parents=True, exist_ok=True)
    record = {"event_id": "fresh-1", field: moment.strftime("%Y-%m-%dT%H:%M:%SZ")}
    (raw / "part-fresh.jsonl").write_text(json.dumps(record) + "\n")


def test_freshness_dags_report_lag_and_alert_when_stale(pipeline: Pipeline) -> None:
    # Each domain's time column has its own name: orders' event_time, customers' updated_at.
    time_fields = {"orders": "event_time", "customers": "updated_at"}
    dag_ids = [f"{name}_freshness" for name in time_fields]
    targets = {
        n: pipeline.domain(n)["dags"][f"{n}_freshness"]["freshness_target_seconds"] for n in time_fields
    }
    # Only the sample data of DAY: far older than any target.
    for stale in run_dags(pipeline.dag_folder, DAY, dag_ids, airflow_home=pipeline.airflow_home):
        name = stale.dag_id.removesuffix("_freshness")
        assert not stale.success and stale.task_states == {"check_raw_freshness": "failed"}
        (line,) = stale.lines("freshness")
        assert line["domain"] == name and line["fresh"] is False
        assert line["target_seconds"] == targets[name] and line["lag_seconds"] > targets[name]
        assert [(a["task_id"], a["domain"]) for a in stale.lines("alert")] == [("check_raw_freshness", name)]

    for name, field in time_fields.items():
        _write_raw(pipeline, name, field, dt.datetime.now(dt.UTC) - dt.timedelta(seconds=60))
    for fresh in run_dags(pipeline.dag_folder, DAY, dag_ids, airflow_home=pipeline.airflow_home):
        assert fresh.success, f"{fresh.task_states}, see {fresh.log_path}"
        (line,) = fresh.lines("freshness")
        assert line["fresh"] is True and 0 <= line["lag_seconds"] < targets[line["domain"]]


def test_bad_arguments_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(LocalRunError, match=r"has no runtime_config\.json"):
        composer_local_run(tmp_path, DAY, "any_daily")
    assert main(["--dag-folder", str(tmp_path), "--date", DAY]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: --dag-folder")
    (tmp_path / "runtime_config.json").write_text("{}")
    assert main(["--dag-folder", str(tmp_path), "--date", "15.01.2026"]) == 2
    assert capsys.readouterr().err.strip() == "error: --date: '15.01.2026' is not a YYYY-MM-DD date"
    assert main(["--dag-folder", str(tmp_path), "--date", DAY, "--days", "0"]) == 2
    assert capsys.readouterr().err.strip() == "error: --days: 0 is not a positive number of days"
