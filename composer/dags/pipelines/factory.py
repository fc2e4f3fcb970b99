"""Build a domain's DAGs from its entry in the runtime config: the same DAG shape on both platforms.

`<domain>_daily` (one run per UTC day, keyed on the run date):
    spark_<job> (each of the domain's Spark jobs, in order) -> dbt_build -> gx_validate
  * gcp: a spark task is a DataprocSubmitJobOperator running the release's artifacts of that job
    (runtime config `spark.jobs.<job>` URIs) on the environment's cluster, reading and writing BigQuery.
  * local: the same artifacts run with spark-submit in local mode on the warehouse files.
  * dbt_build runs `dbt build --select <the domain's dbt_select>` (target from the runtime config: the
    environment on BigQuery, `local` on DuckDB); gx_validate runs the domain's own GX suites on the
    results and fails the run when one fails. Its outlet is the domain's asset.
  A domain with inputs (a cross-domain mart) has no Spark task and no cron: it runs when every input's
  daily DAG has emitted its asset since its last run, for the day the inputs were built for.
`<domain>_freshness` (its cron): the newest raw event's lag against the domain's
`freshness_target_seconds`; stale fails and alerts.

Lineage: each task of the daily DAG declares the tables it reads and writes as inlets/outlets
(`pipelines.lineage` names them as OpenLineage datasets), which Composer reports to Dataplex and the
local Airflow's OpenLineage provider writes into its events; locally the Spark and GX steps add their
own events (see `pipelines.lineage`).

Schedule, retries, paused, owner and the PII secret come from the domain's runtime entry (the
environment's overrides applied by the deployer), never from constants here.

Re-running or backfilling a day is safe: the Spark jobs overwrite exactly the day partitions they
own, the incremental marts rebuild exactly their window, the checks read that window.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from pathlib import Path
from typing import Any

# `airflow.sdk.task` looks the decorator up through the ProvidersManager, which discovers every
# installed provider on first use (~0.5 s of each DAG file's parse); the decorator itself is this one.
from airflow.providers.common.compat.lineage.entities import Table
from airflow.providers.standard.decorators.python import python_task
from airflow.sdk import DAG, Asset, chain
from airflow.timetables.interval import CronDataIntervalTimetable

from pipelines import lineage
from pipelines.alerts import failure_alert
from pipelines.runtime import (
    RuntimeConfig,
    RuntimeConfigError,
    bucket_path,
    component_tag,
    load_for_dag,
    local_warehouse,
)
from pipelines.warehouse import LocalWarehouse

START_DATE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
RETRY_DELAY_ENV = "PLATFORM_RETRY_DELAY_SECONDS"
PII_KEY_ENV = "PLATFORM_PII_KEY"
RUN_DATE_EXTRA = "run_date"

log = logging.getLogger(__name__)


def retry_delay() -> dt.timedelta:
    """5 minutes; `PLATFORM_RETRY_DELAY_SECONDS` shortens it where nobody waits (local runs, tests)."""
    value = os.environ.get(RETRY_DELAY_ENV, "")
    return dt.timedelta(seconds=int(value)) if value.isdigit() else dt.timedelta(minutes=5)


def default_args(cfg: RuntimeConfig, name: str, retries: int) -> dict[str, Any]:
    """Owner, retries and alerting shared by every task of a domain's DAG."""
    return {
        "owner": cfg.domains[name].owner,
        "retries": retries,
        "retry_delay": retry_delay(),
        "retry_exponential_backoff": True,
        "max_retry_delay": dt.timedelta(minutes=30),
        "execution_timeout": dt.timedelta(hours=2),
        "on_failure_callback": failure_alert(cfg.alert_emails, cfg.env, name),
    }


def tags(cfg: RuntimeConfig, name: str) -> list[str]:
    """DAG tags: domain, environment, platform and the content of the release's components."""
    components = [component_tag(cfg, c) for c in ("jobs", "dbt", "gx")]
    return [name, f"env:{cfg.env}", f"platform:{cfg.platform}", *components]


def run_date(context: Any) -> str:
    """The day a run works on (YYYY-MM-DD): its logical date, or for a run triggered by assets (no
    logical date) the earliest day the triggering inputs were built for (each input's newest event)."""
    logical = context.get("logical_date")
    if logical is not None:
        return str(logical.date().isoformat())
    days = []
    for events in (context.get("triggering_asset_events") or {}).values():
        built = [
            str((e.extra or {}).get(RUN_DATE_EXTRA)) for e in events if (e.extra or {}).get(RUN_DATE_EXTRA)
        ]
        if built:
            days.append(max(built))
    if days:
        return min(days)
    return dt.datetime.now(dt.UTC).date().isoformat()


# -- lineage: the declared tables each task reads and writes ------------------------------------------


def ol_dataset(cfg: RuntimeConfig, layer: str, table: str, dag_folder: Path) -> tuple[str, str]:
    """OpenLineage (namespace, name) of a declared table where this environment keeps it."""
    warehouse = local_warehouse(dag_folder) if cfg.platform == "local" else None
    return lineage.dataset(cfg.platform, cfg.project, cfg.datasets, layer, table, warehouse)


def lineage_tables(cfg: RuntimeConfig, tables: list[tuple[str, str]], dag_folder: Path) -> list[Table]:
    """Inlets/outlets of a task: Airflow lineage tables the OpenLineage provider reports as datasets."""
    out = []
    for layer, table in tables:
        namespace, name = ol_dataset(cfg, layer, table, dag_folder)
        out.append(Table(cluster=namespace, database=name.rsplit(".", 1)[0], name=table))
    return out


def spark_tables(cfg: RuntimeConfig, name: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(read, written) by a domain's Spark jobs: its raw table; its staging and rejects tables."""
    domain = cfg.domains[name]
    read = [("raw", domain.raw_table)] if domain.raw_table else []
    written = [("staging", t) for t in (domain.staging_table, domain.rejects_table) if t]
    return read, written


def dbt_tables(cfg: RuntimeConfig, name: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(read, written) by a domain's dbt nodes: its staging table or its inputs' marts; its marts."""
    domain = cfg.domains[name]
    read = [("staging", domain.staging_table)] if domain.staging_table else []
    read += [("marts", mart) for inp in domain.inputs for mart in cfg.domains[inp].marts]
    return read, [("marts", mart) for mart in domain.marts]


# -- the Spark step ---------------------------------------------------------------------------------


def _table(cfg: RuntimeConfig, layer: str, table: str) -> str:
    return f"{cfg.project}.{cfg.datasets[layer]}.{table}"


def _require(value: str | None, name: str, field: str) -> str:
    if value is None:
        raise RuntimeConfigError(
            f"runtime config: domains.{name}.{field}: is null, but the domain has Spark jobs"
        )
    return value


def dataproc_job(cfg: RuntimeConfig, name: str, job: str) -> dict[str, Any]:
    """The Dataproc job resource of one of domain `name`'s Spark jobs (args templated on `ds`)."""
    domain = cfg.domains[name]
    spec = cfg.spark.jobs[job]
    args = [
        "--date={{ ds }}",
        "--input-format=bigquery",
        "--input=" + _table(cfg, "raw", _require(domain.raw_table, name, "raw_table")),
        "--output-format=bigquery",
        "--output=" + _table(cfg, "staging", _require(domain.staging_table, name, "staging_table")),
    ]
    if domain.rejects_table:
        args.append("--rejects=" + _table(cfg, "staging", domain.rejects_table))
    args += [f"--temp-bucket={cfg.spark.temp_bucket}", f"--lateness-days={domain.lateness_days}"]
    if domain.pii_secret:
        args.append(
            f"--pii-key-source=gsm:projects/{cfg.project}/secrets/{domain.pii_secret}/versions/latest"
        )
    args.append("--metrics-out=" + metrics_uri(cfg, job))
    return {
        "reference": {"project_id": cfg.project},
        "placement": {"cluster_name": cfg.spark.cluster_name},
        "labels": {
            **cfg.labels,
            "domain": name.replace("_", "-"),
            "job": job.replace("_", "-"),
            "artifacts": component_tag(cfg, "jobs"),
        },
        "pyspark_job": {
            "main_python_file_uri": spec.main_python_file_uri,
            "python_file_uris": list(spec.python_file_uris),
            "jar_file_uris": list(spec.jar_file_uris),
            "args": args,
            "properties": {"spark.sql.session.timeZone": "UTC"},
        },
    }


def metrics_uri(cfg: RuntimeConfig, job: str) -> str:
    """Where the Dataproc job writes its metrics (templated on `ds`)."""
    return f"gs://{cfg.spark.temp_bucket}/{job}/metrics/{{{{ ds }}}}.json"


def local_pii_key(cfg: RuntimeConfig, name: str) -> str:
    """The local platform's PII key of a domain: `PLATFORM_PII_KEY`, else one per environment and domain
    (local data is synthetic)."""
    return os.environ.get(PII_KEY_ENV) or f"local-only-{cfg.env}-{name}"


def _spark_task_gcp(cfg: RuntimeConfig, name: str, job: str) -> Any:
    from pipelines.gcp_operators import MeteredDataprocSubmitJobOperator

    read, written = spark_tables(cfg, name)
    return MeteredDataprocSubmitJobOperator(
        task_id=f"spark_{job}",
        inlets=lineage_tables(cfg, read, Path()),
        outlets=lineage_tables(cfg, written, Path()),
        project_id=cfg.project,
        region=cfg.spark.region,
        job=dataproc_job(cfg, name, job),
        metrics_uri=metrics_uri(cfg, job),
        domain=name,
    )


def _spark_task_local(cfg: RuntimeConfig, name: str, job: str, dag_folder: Path) -> Any:
    domain = cfg.domains[name]
    raw_table = _require(domain.raw_table, name, "raw_table")
    staging_table = _require(domain.staging_table, name, "staging_table")
    read, written = spark_tables(cfg, name)

    @python_task(
        task_id=f"spark_{job}",
        inlets=lineage_tables(cfg, read, dag_folder),
        outlets=lineage_tables(cfg, written, dag_folder),
    )
    def spark(job: str, **context: Any) -> dict[str, Any]:
        """Run the release's artifacts of `job` with spark-submit (local mode) for the run's day."""
        from pipelines import metrics, spark_local

        started = time.monotonic()
        ds = run_date(context)
        wh = LocalWarehouse(local_warehouse(dag_folder))
        artifacts = spark_local.fetch(
            cfg.spark.jobs[job], wh.root / ".artifacts" / component_tag(cfg, "jobs"), cfg.project
        )
        metrics_file = wh.metrics_file(job, ds)
        metrics_file.parent.mkdir(parents=True, exist_ok=True)
        args = [
            f"--date={ds}",
            f"--input={wh.raw_dir(raw_table)}",
            f"--output={wh.staging_dir(staging_table)}",
        ]
        if domain.rejects_table:
            args.append(f"--rejects={wh.staging_dir(domain.rejects_table)}")
        args += [
            f"--lateness-days={domain.lateness_days}",
            f"--pii-key-source=env:{PII_KEY_ENV}",
            f"--metrics-out={metrics_file}",
        ]
        events = lineage.events_file()
        step = None
        if events is not None:
            datasets = [[ol_dataset(cfg, *t, dag_folder) for t in tables] for tables in (read, written)]
            step = lineage.StepRun(f"spark.{job}", datasets[0], datasets[1], events)
            step.start()
        try:
            job_metrics = spark_local.run_job(
                artifacts, args, env={PII_KEY_ENV: local_pii_key(cfg, name)}, metrics_file=metrics_file
            )
        except Exception:
            if step is not None:
                step.finish(success=False)
            raise
        if step is not None:
            step.finish(success=True)
        metrics.task_metrics(
            context,
            name,
            records_in=job_metrics["records_in"],
            records_out=job_metrics["records_out"],
            records_rejected=job_metrics["records_rejected"],
            duration_seconds=time.monotonic() - started,
        )
        return job_metrics

    return spark(job=job)


# -- the dbt step -----------------------------------------------------------------------------------


def _dbt_task(cfg: RuntimeConfig, name: str, dag_folder: Path) -> Any:
    read, written = dbt_tables(cfg, name)

    @python_task(
        task_id="dbt_build",
        inlets=lineage_tables(cfg, read, dag_folder),
        outlets=lineage_tables(cfg, written, dag_folder),
    )
    def dbt_build(select: str, **context: Any) -> dict[str, Any]:
        """`dbt build --select <select>` (the domain's nodes) on the environment's target for the day."""
        from pipelines import dbt_task, metrics

        started = time.monotonic()
        ds = run_date(context)
        project = bucket_path(dag_folder, cfg.dbt.project_path)
        if cfg.platform == "local":
            wh = LocalWarehouse(local_warehouse(dag_folder))
            with wh.lock(exclusive=True):
                outcome = dbt_task.build(project, cfg, select, ds, wh.root)
        else:
            outcome = dbt_task.build(project, cfg, select, ds, None)
        rows_in, rows_out = dbt_counts(cfg, name, dag_folder, ds)
        metrics.task_metrics(
            context,
            name,
            records_in=rows_in,
            records_out=rows_out,
            records_rejected=outcome.warned_rows,
            duration_seconds=time.monotonic() - started,
        )
        return {"nodes": len(outcome.nodes), "rows_in": rows_in, "rows_out": rows_out, "parse": outcome.parse}

    return dbt_build(select=cfg.domains[name].dbt_select)


def dbt_counts(cfg: RuntimeConfig, name: str, dag_folder: Path, ds: str) -> tuple[int, int]:
    """Rows the domain's dbt nodes read (its staging window, or its inputs' marts) and wrote (its marts)."""
    from pipelines.warehouse import bigquery_count, window_filter

    domain = cfg.domains[name]
    read: list[tuple[str, str, str]] = []
    if domain.staging_table:
        read.append(
            (
                "staging",
                domain.staging_table,
                window_filter(domain.staging_partition, ds, domain.lateness_days),
            )
        )
    read += [("marts", mart, "") for inp in domain.inputs for mart in cfg.domains[inp].marts]
    written = [("marts", mart, "") for mart in domain.marts]
    if cfg.platform == "local":
        wh = LocalWarehouse(local_warehouse(dag_folder))
        counted = [sum(wh.count(cfg, *t) for t in tables) for tables in (read, written)]
    else:
        counted = [sum(bigquery_count(cfg, *t) for t in tables) for tables in (read, written)]
    return counted[0], counted[1]


# -- the GX step ------------------------------------------------------------------------------------


def _gx_task(cfg: RuntimeConfig, name: str, dag_folder: Path) -> Any:
    domain = cfg.domains[name]
    asset = Asset(domain.asset)

    validated = sorted({(s.layer, s.table) for s in domain.gx_suites.values()})

    @python_task(
        task_id="gx_validate",
        retries=0,
        inlets=lineage_tables(cfg, validated, dag_folder),
        outlets=[asset],
    )
    def gx_validate(suites: list[str], **context: Any) -> dict[str, Any]:
        """Validate the run's window of the domain's tables with its GX suites; emit its asset."""
        from airflow.exceptions import AirflowFailException

        from pipelines import gx_validate as gxv
        from pipelines import metrics
        from pipelines.warehouse import bigquery_frame, window_filter

        started = time.monotonic()
        ds = run_date(context)
        specs = gxv.load_suites(
            bucket_path(dag_folder, cfg.gx.suites_path), {s: domain.gx_suites[s] for s in suites}
        )
        frames: dict[str, Any] = {}
        if cfg.platform == "local":
            wh = LocalWarehouse(local_warehouse(dag_folder))
            docs_dir = wh.gx_docs(name, ds)
            for s in specs:
                where = window_filter(s.table.window_column, ds, domain.lateness_days)
                frames[s.name] = wh.select(cfg, s.table.layer, s.table.table, where)
        else:
            docs_dir = bucket_path(dag_folder, f"data/gx_docs/{component_tag(cfg, 'gx')}/{name}/{ds}")
            for s in specs:
                where = window_filter(s.table.window_column, ds, domain.lateness_days)
                frames[s.name] = bigquery_frame(cfg, s.table.layer, s.table.table, where)
        results = gxv.validate(frames, specs, docs_dir, domain=name)
        events = lineage.events_file() if cfg.platform == "local" else None
        if events is not None:
            for s, r in zip(specs, results, strict=True):
                table = ol_dataset(cfg, s.table.layer, s.table.table, dag_folder)
                step = lineage.StepRun(f"gx.{s.name}", [table], [], events)
                step.start()
                step.finish(r.success, {table: lineage.assertions_facet(r.expectations)})
        passed = sum(r.rows for r in results if r.success)
        failed = sum(r.rows for r in results if not r.success)
        metrics.task_metrics(
            context,
            name,
            records_in=passed + failed,
            records_out=passed,
            records_rejected=failed,
            duration_seconds=time.monotonic() - started,
        )
        bad = [f"{r.suite}: {', '.join(r.failed_expectations)}" for r in results if not r.success]
        if bad:
            raise AirflowFailException("GX validation failed: " + "; ".join(bad))
        context["outlet_events"][asset].extra = {RUN_DATE_EXTRA: ds}
        return {"suites": [r.suite for r in results], "docs": str(docs_dir / "index.html")}

    return gx_validate(suites=sorted(domain.gx_suites))


# -- the DAGs ---------------------------------------------------------------------------------------


def daily_dag(cfg: RuntimeConfig, name: str, dag_folder: Path) -> DAG | None:
    """The domain's daily pipeline: spark_<job>... -> dbt_build -> gx_validate (see module doc); None
    when the domain declares no daily DAG."""
    domain = cfg.domains[name]
    found = domain.dag("daily")
    if found is None:
        return None
    dag_id, spec = found
    if spec.schedule is not None:
        schedule: Any = CronDataIntervalTimetable(spec.schedule, timezone="UTC")
        when = f"cron {spec.schedule} UTC"
    elif domain.input_assets:
        schedule = [Asset(uri) for uri in domain.input_assets]
        when = "when " + " and ".join(domain.inputs) + " are built"
    else:
        raise RuntimeConfigError(
            f"runtime config: domains.{name}.dags.{dag_id}.schedule: null without inputs"
        )
    steps = [*(f"Spark {job}" for job in domain.spark_jobs), "dbt build", "GX validation"]
    with DAG(
        dag_id=dag_id,
        description=f"{name}: {', '.join(steps)} ({cfg.env}, {when})",
        schedule=schedule,
        start_date=START_DATE,
        catchup=spec.schedule is not None,
        max_active_runs=1,
        is_paused_upon_creation=spec.paused,
        dagrun_timeout=dt.timedelta(hours=6),
        default_args=default_args(cfg, name, spec.retries),
        tags=tags(cfg, name),
        doc_md=f"{domain.description}\n\n{__doc__}",
    ) as dag:
        spark_tasks = [
            _spark_task_gcp(cfg, name, job)
            if cfg.platform == "gcp"
            else _spark_task_local(cfg, name, job, dag_folder)
            for job in domain.spark_jobs
        ]
        chain(*spark_tasks, _dbt_task(cfg, name, dag_folder), _gx_task(cfg, name, dag_folder))
    return dag


def freshness_dag(cfg: RuntimeConfig, name: str, dag_folder: Path) -> DAG | None:
    """The domain's raw-data freshness check (None when the domain declares no freshness DAG)."""
    domain = cfg.domains[name]
    found = domain.dag("freshness")
    if found is None:
        return None
    dag_id, spec = found
    raw_table = _require(domain.raw_table, name, "raw_table")
    target = spec.freshness_target_seconds
    if target is None or spec.schedule is None:
        raise RuntimeConfigError(
            f"runtime config: domains.{name}.dags.{dag_id}: needs a schedule and freshness_target_seconds"
        )
    with DAG(
        dag_id=dag_id,
        description=f"{name}: raw data freshness of {raw_table}, target {target} s ({cfg.env})",
        schedule=spec.schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        is_paused_upon_creation=spec.paused,
        dagrun_timeout=dt.timedelta(minutes=10),
        default_args={**default_args(cfg, name, spec.retries), "execution_timeout": dt.timedelta(minutes=5)},
        tags=tags(cfg, name),
    ) as dag:

        @python_task(task_id="check_raw_freshness")
        def check_raw_freshness(table: str, target_seconds: int, **context: Any) -> dict[str, Any]:
            """Measure the lag of the newest raw event; fail (and alert) when it exceeds the target."""
            from airflow.exceptions import AirflowFailException

            from pipelines import freshness, metrics

            started = time.monotonic()
            if cfg.platform == "local":
                wh = LocalWarehouse(local_warehouse(dag_folder))
                latest, seen = freshness.latest_local(wh.raw_dir(table))
            else:
                latest, seen = freshness.latest_bigquery(cfg, table)
            result = freshness.evaluate(latest, dt.datetime.now(dt.UTC), target_seconds, seen)
            metrics.emit(
                "freshness",
                domain=name,
                raw_table=table,
                lag_seconds=result.lag_seconds,
                target_seconds=result.target_seconds,
                fresh=result.fresh,
                latest_event_time=result.latest_event_time.isoformat() if result.latest_event_time else None,
            )
            metrics.task_metrics(
                context,
                name,
                records_in=seen,
                records_out=seen,
                records_rejected=0,
                duration_seconds=time.monotonic() - started,
            )
            if not result.fresh:
                lag = "no events" if result.lag_seconds is None else f"lag {result.lag_seconds} s"
                raise AirflowFailException(f"raw data is stale: {lag} > target {result.target_seconds} s")
            return {"lag_seconds": result.lag_seconds, "fresh": result.fresh}

        check_raw_freshness(table=raw_table, target_seconds=target)
    return dag


def domain_dags(cfg: RuntimeConfig, name: str, dag_folder: Path) -> dict[str, DAG]:
    """Every DAG of domain `name` by DAG id (none when the environment does not deploy the domain)."""
    if name not in cfg.domains:
        return {}
    dags: list[DAG | None] = [daily_dag(cfg, name, dag_folder), freshness_dag(cfg, name, dag_folder)]
    return {d.dag_id: d for d in dags if d is not None}


def declare(name: str, dag_file: str) -> dict[str, DAG]:
    """What a domain's DAG file declares: its DAGs by id, built from the runtime config beside the file.

    Nothing (and a log line saying why) without a runtime config (a checkout, not a promoted
    release) or when the environment switches the domain off; a broken config raises, so the import
    error names the field in the Airflow UI.
    """
    cfg = load_for_dag(dag_file)
    if cfg is None:
        return {}
    if name not in cfg.domains:
        known = ", ".join(cfg.domains) or "none"
        log.warning(
            "%s: environment %s does not deploy domain %r (its domains: %s), so this file declares no DAG",
            dag_file,
            cfg.env,
            name,
            known,
        )
        return {}
    return domain_dags(cfg, name, Path(dag_file).resolve().parent)
