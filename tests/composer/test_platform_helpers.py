"""orders_platform helpers: metrics lines, alerting, freshness, fetching Spark artifacts (GCS emulator)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import airflow.utils.email  # noqa: F401 - Airflow sets its logging up first, as in a worker
import pytest
from orders_platform import alerts, freshness, metrics, spark_local
from orders_platform.runtime import SparkJob

# Airflow's logging set-up disables loggers that existed before it; in a worker it runs first.
for _name in ("orders_platform.alerts", "orders_platform.metrics"):
    logging.getLogger(_name).disabled = False

TASK_METRICS_FIELDS = [
    "event",
    "dag_id",
    "task_id",
    "run_id",
    "logical_date",
    "records_in",
    "records_out",
    "records_rejected",
    "duration_seconds",
]


def _lines(caplog: pytest.LogCaptureFixture, event: str) -> list[dict[str, Any]]:
    out = []
    for record in caplog.records:
        try:
            line = json.loads(record.getMessage())
        except json.JSONDecodeError:
            continue
        if line.get("event") == event:
            out.append(line)
    return out


def _context() -> dict[str, Any]:
    ti = SimpleNamespace(dag_id="orders_daily", task_id="spark_clean", try_number=3)
    return {
        "ti": ti,
        "run_id": "scheduled__2026-01-15",
        "logical_date": dt.datetime(2026, 1, 15, tzinfo=dt.UTC),
    }


def test_task_metrics_line_has_the_stable_fields(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    metrics.task_metrics(
        _context(), records_in=10, records_out=7, records_rejected=3, duration_seconds=1.23456
    )
    (line,) = _lines(caplog, "task_metrics")
    assert list(line) == TASK_METRICS_FIELDS
    assert line["logical_date"] == "2026-01-15T00:00:00+00:00"
    assert (line["records_in"], line["records_out"], line["records_rejected"]) == (10, 7, 3)
    assert line["duration_seconds"] == 1.235


def test_failure_alert_logs_a_line_without_email(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    alerts.failure_alert([], "staging")({**_context(), "exception": ValueError("boom")})
    (line,) = _lines(caplog, "alert")
    assert line["error"] == "ValueError: boom" and line["env"] == "staging" and line["email_recipients"] == 0


def test_failure_alert_survives_a_mail_server_that_is_not_there(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level("INFO")
    monkeypatch.setenv("AIRFLOW__SMTP__SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("AIRFLOW__SMTP__SMTP_PORT", "9")  # discard port: nothing listens, refused at once
    monkeypatch.setenv("AIRFLOW__SMTP__SMTP_RETRY_LIMIT", "1")
    alerts.failure_alert(["oncall@acme.example"], "prod")(_context())
    assert _lines(caplog, "alert")[0]["email_recipients"] == 1
    assert "alert e-mail to oncall@acme.example not sent" in caplog.text


def test_freshness_evaluation() -> None:
    now = dt.datetime(2026, 1, 15, 12, tzinfo=dt.UTC)
    fresh = freshness.evaluate(now - dt.timedelta(seconds=300), now, 900, 5)
    assert (fresh.lag_seconds, fresh.fresh) == (300, True)
    stale = freshness.evaluate(now - dt.timedelta(seconds=901), now, 900, 5)
    assert (stale.lag_seconds, stale.fresh) == (901, False)
    empty = freshness.evaluate(None, now, 900, 0)
    assert (empty.lag_seconds, empty.fresh) == (None, False)


def test_latest_local_event_reads_the_newest_ingest_day(tmp_path: Path) -> None:
    old = tmp_path / "ingest_date=2026-01-14"
    new = tmp_path / "ingest_date=2026-01-15"
    old.mkdir()
    new.mkdir()
    (old / "part-0.jsonl").write_text(json.dumps({"event_time": "2026-01-14T23:00:00Z"}) + "\n")
    lines = [
        "not json",
        json.dumps({"event_time": "2026-01-15T09:00:00Z"}),
        json.dumps({"event_time": "junk"}),
    ]
    (new / "part-0.jsonl").write_text("\n".join(lines) + "\n")
    latest, seen = freshness.latest_local(tmp_path)
    assert latest == dt.datetime(2026, 1, 15, 9, tzinfo=dt.UTC) and seen == 1
    assert freshness.latest_local(tmp_path / "missing") == (None, 0)


@pytest.fixture
def built(tmp_path: Path) -> Path:
    from dataproc_jobs.build import build

    build(tmp_path / "jobs")
    return tmp_path / "jobs"


def test_fetch_uses_file_uris_in_place_and_skips_connectors(built: Path, tmp_path: Path) -> None:
    base = built.as_uri() + "/"
    job = SparkJob(
        main_python_file_uri=base + "orders_clean.py",
        python_file_uris=[base + "dataproc_jobs.zip"],
        jar_file_uris=[base + "orders-udfs.jar", "gs://spark-lib/bigquery/spark-3.5-bigquery-0.42.1.jar"],
    )
    artifacts = spark_local.fetch(job, tmp_path / "cache", "acme-data-local")
    assert artifacts.main == built / "orders_clean.py"
    assert artifacts.jars == [built / "orders-udfs.jar"]
    assert artifacts.skipped == ["gs://spark-lib/bigquery/spark-3.5-bigquery-0.42.1.jar"]
    cmd = spark_local.spark_submit_command(artifacts, ["--date=2026-01-15"])
    assert cmd[cmd.index("--jars") + 1] == str(built / "orders-udfs.jar")
    assert cmd[cmd.index("--py-files") + 1] == str(built / "dataproc_jobs.zip")
    assert cmd[-2:] == [str(built / "orders_clean.py"), "--date=2026-01-15"]


def test_fetch_downloads_gs_uris_from_the_emulator(
    built: Path, tmp_path: Path, gcs_emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.url)
    client = storage.Client(project="acme-data-local", credentials=AnonymousCredentials())
    bucket = client.create_bucket(f"pipeline-fetch-{tmp_path.name[-8:].lower().replace('_', '-')}")
    for name in ("orders_clean.py", "dataproc_jobs.zip", "orders-udfs.jar"):
        bucket.blob(f"jobs/abc/{name}").upload_from_filename(str(built / name))
    base = f"gs://{bucket.name}/jobs/abc/"
    job = SparkJob(base + "orders_clean.py", [base + "dataproc_jobs.zip"], [base + "orders-udfs.jar"])
    artifacts = spark_local.fetch(job, tmp_path / "cache", "acme-data-local")
    assert artifacts.main.read_bytes() == (built / "orders_clean.py").read_bytes()
    assert artifacts.jars[0].read_bytes() == (built / "orders-udfs.jar").read_bytes()
    bucket.blob("jobs/abc/orders-udfs.jar").delete()
    assert spark_local.fetch(job, tmp_path / "cache", "acme-data-local").jars == artifacts.jars  # cached


def test_fetch_refuses_unknown_schemes(tmp_path: Path) -> None:
    job = SparkJob("https://example.com/x.py", [], [])
    with pytest.raises(ValueError, match="only file:// and gs://"):
        spark_local.fetch(job, tmp_path, "p")
