"""Build the orders DAGs from a runtime config: the same DAG shape on both platforms.

`orders_daily` (one run per UTC day, keyed on the logical date `ds`):
    spark_clean -> dbt_build -> gx_validate
  * gcp: spark_clean is a DataprocSubmitJobOperator running the release's artifacts (runtime config
    `spark.jobs.orders_clean` URIs) on the environment's cluster, reading/writing BigQuery.
  * local: spark_clean runs the same artifacts with spark-submit in local mode on the warehouse files.
  * dbt_build runs `dbt build` (target from the runtime config: the env on BigQuery, `local` on DuckDB);
    gx_validate runs the release's GX suites on the results and fails the run when one fails.
`orders_freshness` (every 15 minutes): the newest raw event's lag against `freshness_target_seconds`.

Re-running or backfilling a day is safe: the Spark job overwrites exactly the day partitions it owns,
the incremental marts rebuild exactly their window, the checks read that window.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, task
from airflow.timetables.interval import CronDataIntervalTimetable

from orders_platform.alerts import failure_alert
from orders_platform.runtime import (
    RuntimeConfig,
    RuntimeConfigError,
    bucket_path,
    component_tag,
    local_warehouse,
)
from orders_platform.warehouse import REJECTS_TABLE, STAGING_TABLE, LocalWarehouse

DAILY_DAG_ID = "orders_daily"
FRESHNESS_DAG_ID = "orders_freshness"
SPARK_JOB = "orders_clean"
# The Spark job's lateness window, in days; the marts' lookback (dbt var lookback_days) covers it.
LATENESS_DAYS = 2
START_DATE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
# On GCP the job reads its PII hashing key from this Secret Manager secret of the project (its name,
# not its value).
PII_KEY_SECRET = "orders-pii-hash-key"  # noqa: S105  # nosec B105


def retry_delay() -> dt.timedelta:
    """5 minutes; `ORDERS_RETRY_DELAY_SECONDS` shortens it where nobody waits (local runs, tests)."""
    value = os.environ.get("ORDERS_RETRY_DELAY_SECONDS", "")
    return dt.timedelta(seconds=int(value)) if value.isdigit() else dt.timedelta(minutes=5)


def default_args(cfg: RuntimeConfig, retries: int = 2) -> dict[str, Any]:
    """Owner, retries and alerting shared by every task."""
    return {
        "owner": cfg.labels.get("owner", "data-platform"),
        "retries": retries,
        "retry_delay": retry_delay(),
        "retry_exponential_backoff": True,
        "max_retry_delay": dt.timedelta(minutes=30),
        "execution_timeout": dt.timedelta(hours=2),
        "on_failure_callback": failure_alert(cfg.alert_emails, cfg.env),
    }


def tags(cfg: RuntimeConfig) -> list[str]:
    """DAG tags: domain, environment, platform and the content of the release's components."""
    components = [component_tag(cfg, name) for name in ("jobs", "dbt", "gx")]
    return ["orders", f"env:{cfg.env}", f"platform:{cfg.platform}", *components]


def spark_job(cfg: RuntimeConfig) -> Any:
    """The runtime config's `orders_clean` job (RuntimeConfigError when the release lacks it)."""
    try:
        return cfg.spark.jobs[SPARK_JOB]
    except KeyError:
        known = ", ".join(sorted(cfg.spark.jobs)) or "none"
        raise RuntimeConfigError(f"runtime config: spark.jobs has no {SPARK_JOB!r} (has: {known})") from None


def dataproc_job(cfg: RuntimeConfig) -> dict[str, Any]:
    """The Dataproc job resource of `orders_clean` (its args are templated on `ds`)."""
    job = spark_job(cfg)
    table = f"{cfg.project}.{{dataset}}.{{table}}"
    args = [
        "--date={{ ds }}",
        "--input-format=bigquery",
        "--input=" + table.format(dataset=cfg.datasets["raw"], table=cfg.raw_table),
        "--output-format=bigquery",
        "--output=" + table.format(dataset=cfg.datasets["staging"], table=STAGING_TABLE),
        "--rejects=" + table.format(dataset=cfg.datasets["staging"], table=REJECTS_TABLE),
        f"--temp-bucket={cfg.spark.temp_bucket}",
        f"--lateness-days={LATENESS_DAYS}",
        f"--pii-key-source=gsm:projects/{cfg.project}/secrets/{PII_KEY_SECRET}/versions/latest",
        "--metrics-out=" + metrics_uri(cfg),
    ]
    return {
        "reference": {"project_id": cfg.project},
        "placement": {"cluster_name": cfg.spark.cluster_name},
        "labels": {**cfg.labels, "job": SPARK_JOB.replace("_", "-"), "artifacts": component_tag(cfg, "jobs")},
        "pyspark_job": {
            "main_python_file_uri": job.main_python_file_uri,
            "python_file_uris": list(job.python_file_uris),
            "jar_file_uris": list(job.jar_file_uris),
            "args": args,
            "properties": {"spark.sql.session.timeZone": "UTC"},
        },
    }


def metrics_uri(cfg: RuntimeConfig) -> str:
    """Where the Dataproc job writes its metrics (templated on `ds`)."""
    return f"gs://{cfg.spark.temp_bucket}/{SPARK_JOB}/metrics/{{{{ ds }}}}.json"


def _local_pii_key(cfg: RuntimeConfig) -> str:
    # Local data is synthetic: a per-environment key is enough unless ORDERS_PII_KEY gives one.
    return os.environ.get("ORDERS_PII_KEY") or f"local-only-{cfg.env}"


def _spark_task_gcp(cfg: RuntimeConfig) -> Any:
    from orders_platform.gcp_operators import MeteredDataprocSubmitJobOperator

    return MeteredDataprocSubmitJobOperator(
        task_id="spark_clean",
        project_id=cfg.project,
        region=cfg.spark.region,
        job=dataproc_job(cfg),
        metrics_uri=metrics_uri(cfg),
    )


def _spark_task_local(cfg: RuntimeConfig, dag_folder: Path) -> Any:
    spark_job(cfg)  # fail at parse time, not at run time, when the release lacks the job

    @task(task_id="spark_clean")
    def spark_clean(**context: Any) -> dict[str, Any]:
        """Run the release's orders_clean artifacts with spark-submit (local mode) for `ds`."""
        from orders_platform import metrics, spark_local

        started = time.monotonic()
        ds = context["ds"]
        wh = LocalWarehouse(local_warehouse(dag_folder))
        artifacts = spark_local.fetch(
            spark_job(cfg), wh.root / ".artifacts" / component_tag(cfg, "jobs"), cfg.project
        )
        metrics_file = wh.metrics_file(SPARK_JOB, ds)
        metrics_file.parent.mkdir(parents=True, exist_ok=True)
        job_metrics = spark_local.run_job(
            artifacts,
            [
                f"--date={ds}",
                f"--input={wh.raw_dir(cfg.raw_table)}",
                f"--output={wh.staging_dir(STAGING_TABLE)}",
                f"--rejects={wh.staging_dir(REJECTS_TABLE)}",
                f"--lateness-days={LATENESS_DAYS}",
                "--pii-key-source=env:ORDERS_PII_KEY",
                f"--metrics-out={metrics_file}",
            ],
            env={"ORDERS_PII_KEY": _local_pii_key(cfg)},
            metrics_file=metrics_file,
        )
        metrics.task_metrics(
            context,
            records_in=job_metrics["records_in"],
            records_out=job_metrics["records_out"],
            records_rejected=job_metrics["records_rejected"],
            duration_seconds=time.monotonic() - started,
        )
        return job_metrics

    return spark_clean()


def _dbt_task(cfg: RuntimeConfig, dag_folder: Path) -> Any:
    @task(task_id="dbt_build")
    def dbt_build(**context: Any) -> dict[str, Any]:
        """`dbt build` the release's project on the environment's target for `ds`."""
        from orders_platform import dbt_task, metrics

        started = time.monotonic()
        ds = context["ds"]
        warehouse = local_warehouse(dag_folder) if cfg.platform == "local" else None
        outcome = dbt_task.build(bucket_path(dag_folder, cfg.dbt.project_path), cfg, ds, warehouse)
        counts = _dbt_counts(cfg, dag_folder, ds)
        metrics.task_metrics(
            context,
            records_in=counts["staging_rows"],
            records_out=counts["mart_rows"],
            records_rejected=outcome.warned_rows,
            duration_seconds=time.monotonic() - started,
        )
        return {"nodes": len(outcome.nodes), **counts}

    return dbt_build()


def _dbt_counts(cfg: RuntimeConfig, dag_folder: Path, ds: str) -> dict[str, int]:
    """Rows of the run's staging window read and of the marts written."""
    from orders_platform.warehouse import bigquery_frame, window_filter

    where = window_filter("event_date", ds, LATENESS_DAYS)
    marts = ("fct_daily_revenue", "customer_lifetime_value")
    if cfg.platform == "local":
        wh = LocalWarehouse(local_warehouse(dag_folder))
        return {
            "staging_rows": wh.count(cfg, "staging", STAGING_TABLE, where),
            "mart_rows": sum(wh.count(cfg, "marts", m) for m in marts),
        }
    return {
        "staging_rows": len(bigquery_frame(cfg, "staging", STAGING_TABLE, where)),
        "mart_rows": sum(len(bigquery_frame(cfg, "marts", m, "")) for m in marts),
    }


def _gx_task(cfg: RuntimeConfig, dag_folder: Path) -> Any:
    @task(task_id="gx_validate", retries=0)
    def gx_validate(**context: Any) -> dict[str, Any]:
        """Validate the run's staging window and the marts with the release's GX suites."""
        from airflow.exceptions import AirflowFailException

        from orders_platform import gx_validate as gxv
        from orders_platform import metrics
        from orders_platform.warehouse import bigquery_frame, window_filter

        started = time.monotonic()
        ds = context["ds"]
        suites = gxv.load_suites(bucket_path(dag_folder, cfg.gx.suites_path))
        frames: dict[str, Any] = {}
        if cfg.platform == "local":
            wh = LocalWarehouse(local_warehouse(dag_folder))
            docs_dir = wh.gx_docs(ds)
            for s in suites:
                where = window_filter(s.table.window_column, ds, LATENESS_DAYS)
                frames[s.name] = wh.select(cfg, s.table.layer, s.table.table, where)
        else:
            docs_dir = bucket_path(dag_folder, f"data/gx_docs/{component_tag(cfg, 'gx')}/{ds}")
            for s in suites:
                where = window_filter(s.table.window_column, ds, LATENESS_DAYS)
                frames[s.name] = bigquery_frame(cfg, s.table.layer, s.table.table, where)
        results = gxv.validate(frames, suites, docs_dir)
        passed = sum(r.rows for r in results if r.success)
        failed = sum(r.rows for r in results if not r.success)
        metrics.task_metrics(
            context,
            records_in=passed + failed,
            records_out=passed,
            records_rejected=failed,
            duration_seconds=time.monotonic() - started,
        )
        bad = [f"{r.suite}: {', '.join(r.failed_expectations)}" for r in results if not r.success]
        if bad:
            raise AirflowFailException("GX validation failed: " + "; ".join(bad))
        return {"suites": [r.suite for r in results], "docs": str(docs_dir / "index.html")}

    return gx_validate()


def orders_daily_dag(cfg: RuntimeConfig, dag_folder: Path) -> DAG:
    """The daily pipeline: spark_clean -> dbt_build -> gx_validate."""
    with DAG(
        dag_id=DAILY_DAG_ID,
        description=f"Orders: Spark clean, dbt build, GX validation ({cfg.env})",
        schedule=CronDataIntervalTimetable("0 2 * * *", timezone="UTC"),
        start_date=START_DATE,
        catchup=True,
        max_active_runs=1,
        dagrun_timeout=dt.timedelta(hours=6),
        default_args=default_args(cfg),
        tags=tags(cfg),
        doc_md=__doc__,
    ) as dag:
        spark = _spark_task_gcp(cfg) if cfg.platform == "gcp" else _spark_task_local(cfg, dag_folder)
        spark >> _dbt_task(cfg, dag_folder) >> _gx_task(cfg, dag_folder)
    return dag


def orders_freshness_dag(cfg: RuntimeConfig, dag_folder: Path) -> DAG:
    """Every 15 minutes: the raw data's lag against `freshness_target_seconds`; stale fails and alerts."""
    with DAG(
        dag_id=FRESHNESS_DAG_ID,
        description=f"Orders: raw data freshness, target {cfg.freshness_target_seconds} s ({cfg.env})",
        schedule="*/15 * * * *",
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=dt.timedelta(minutes=10),
        default_args={**default_args(cfg, retries=1), "execution_timeout": dt.timedelta(minutes=5)},
        tags=tags(cfg),
    ) as dag:

        @task(task_id="check_raw_freshness")
        def check_raw_freshness(**context: Any) -> dict[str, Any]:
            """Measure the lag of the newest raw event; fail (and alert) when it exceeds the target."""
            from airflow.exceptions import AirflowFailException

            from orders_platform import freshness, metrics

            started = time.monotonic()
            if cfg.platform == "local":
                wh = LocalWarehouse(local_warehouse(dag_folder))
                latest, seen = freshness.latest_local(wh.raw_dir(cfg.raw_table))
            else:
                latest, seen = freshness.latest_bigquery(cfg)
            now = dt.datetime.now(dt.UTC)
            result = freshness.evaluate(latest, now, cfg.freshness_target_seconds, seen)
            metrics.emit(
                "freshness",
                lag_seconds=result.lag_seconds,
                target_seconds=result.target_seconds,
                fresh=result.fresh,
                latest_event_time=result.latest_event_time.isoformat() if result.latest_event_time else None,
            )
            metrics.task_metrics(
                context,
                records_in=seen,
                records_out=seen,
                records_rejected=0,
                duration_seconds=time.monotonic() - started,
            )
            if not result.fresh:
                lag = "no events" if result.lag_seconds is None else f"lag {result.lag_seconds} s"
                raise AirflowFailException(f"raw data is stale: {lag} > target {result.target_seconds} s")
            return {"lag_seconds": result.lag_seconds, "fresh": result.fresh}

        check_raw_freshness()
    return dag
