"""DAG library helpers: metrics lines, alerting, freshness, the warehouse lock, the run date of an
asset-triggered run, fetching Spark artifacts (GCS emulator)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import airflow.utils.email  # noqa: F401 - Airflow sets its logging up first, as in a worker
import pytest
from pipelines import alerts, factory, freshness, metrics, spark_local
from pipelines.runtime import SparkJob
from pipelines.warehouse import LocalWarehouse

# Airflow's logging set-up disables loggers that existed before it; in a worker it runs first.
for _name in ("pipelines.alerts", "pipelines.metrics"):
    logging.getLogger(_name).disabled = False

TASK_METRICS_FIELDS = [
    "event",
    "domain",
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
        _context(), "orders", records_in=10, records_out=7, records_rejected=3, duration_seconds=1.23456
    )
    (line,) = _lines(caplog, "task_metrics")
    assert list(line) == TASK_METRICS_FIELDS
    assert line["domain"] == "orders" and line["dag_id"] == "orders_daily"
    assert line["logical_date"] == "2026-01-15T00:00:00+00:00"
    assert (line["records_in"], line["records_out"], line["records_rejected"]) == (10, 7, 3)
    assert line["duration_seconds"] == 1.235


def test_failure_alert_logs_a_line_without_email(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    alerts.failure_alert([], "staging", "orders")({**_context(), "exception": ValueError("boom")})
    (line,) = _lines(caplog, "alert")
    assert line["error"] == "ValueError: boom" and line["env"] == "staging" and line["email_recipients"] == 0
    assert line["domain"] == "orders"


def test_failure_alert_survives_a_mail_server_that_is_not_there(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level("INFO")
    monkeypatch.setenv("AIRFLOW__SMTP__SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("AIRFLOW__SMTP__SMTP_PORT", "9")  # discard port: nothing listens, refused at once
    monkeypatch.setenv("AIRFLOW__SMTP__SMTP_RETRY_LIMIT", "1")
    alerts.failure_alert(["oncall@acme.example"], "prod", "orders")(_context())
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
        json.dumps({"event_time": "2026-01-15T09:00:00Z", "amount": "2026"}),
        # Another domain's event: its time column has another name.
        json.dumps({"updated_at": "2026-01-15T10:30:00Z", "birthday": "1990-01-01"}),
        json.dumps({"event_time": "junk"}),
    ]
    (new / "part-0.jsonl").write_text("\n".join(lines) + "\n")
    latest, seen = freshness.latest_local(tmp_path)
    assert latest == dt.datetime(2026, 1, 15, 10, 30, tzinfo=dt.UTC) and seen == 2
    assert freshness.latest_local(tmp_path / "missing") == (None, 0)


def test_the_time_of_a_record_is_its_newest_date_time() -> None:
    record = {"created": "2026-01-15 08:00:00", "changed": "2026-01-15T09:00:00+01:00", "day": "2026-01-16"}
    assert freshness.record_time(record) == dt.datetime(2026, 1, 15, 8, tzinfo=dt.UTC)
    assert freshness.record_time({"n": 5, "s": "2026-01-15"}) is None
    assert freshness.record_time(["2026-01-15T09:00:00Z"]) is None


def test_the_warehouse_lock_lets_readers_share_and_one_writer_in(tmp_path: Path) -> None:
    wh = LocalWarehouse(tmp_path)
    entered: list[str] = []

    def take(name: str, exclusive: bool) -> None:
        with wh.lock(exclusive):
            entered.append(name)

    with wh.lock(exclusive=False):
        reader = threading.Thread(target=take, args=("reader", False))
        reader.start()
        reader.join(timeout=5)
        assert entered == ["reader"]  # two readers at once
        writer = threading.Thread(target=take, args=("writer", True))
        writer.start()
        writer.join(timeout=0.5)
        assert writer.is_alive() and entered == ["reader"]  # the writer waits for the reader
    writer.join(timeout=5)
    assert entered == ["reader", "writer"]
    with wh.lock(exclusive=True):
        other = threading.Thread(target=take, args=("second writer", True))
        other.start()
        other.join(timeout=0.5)
        assert other.is_alive()  # one writer at a time: two domains' dbt builds never overlap
    other.join(timeout=5)
    assert entered[-1] == "second writer"


def _asset_event(run_date: str | None) -> SimpleNamespace:
    return SimpleNamespace(extra={"run_date": run_date} if run_date else {})


def test_run_date_of_scheduled_and_asset_triggered_runs() -> None:
    assert factory.run_date({"logical_date": dt.datetime(2026, 1, 15, tzinfo=dt.UTC)}) == "2026-01-15"
    events = {
        "x-platform://domains/a": [_asset_event("2026-01-14"), _asset_event("2026-01-15")],
        "x-platform://domains/b": [_asset_event("2026-01-15"), _asset_event(None)],
    }
    # Each input's newest build, then the earliest of them: the day every input is built for.
    assert factory.run_date({"logical_date": None, "triggering_asset_events": events}) == "2026-01-15"
    events["x-platform://domains/b"] = [_asset_event("2026-01-13")]
    assert factory.run_date({"logical_date": None, "triggering_asset_events": events}) == "2026-01-13"


def test_retry_delay_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATFORM_RETRY_DELAY_SECONDS", "3")
    assert factory.retry_delay() == dt.timedelta(seconds=3)
    monkeypatch.delenv("PLATFORM_RETRY_DELAY_SECONDS")
    assert factory.retry_delay() == dt.timedelta(minutes=5)


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    from dataproc_jobs.build import build

    result = build(tmp_path / "jobs")
    return tmp_path / "jobs", result.jobs


def _job(base: str, spec: dict[str, Any], extra_jars: tuple[str, ...] = ()) -> SparkJob:
    return SparkJob(
        main_python_file_uri=base + spec["main"],
        python_file_uris=[base + p for p in spec["py_files"]],
        jar_file_uris=[base + j for j in spec["jars"]] + list(extra_jars),
    )


CONNECTOR = "gs://spark-lib/bigquery/spark-3.5-bigquery-0.42.1.jar"


def test_fetch_uses_file_uris_in_place_and_skips_connectors(
    built: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    folder, jobs = built
    name, spec = next((n, s) for n, s in jobs.items() if s["jars"])  # a job with a UDF jar
    artifacts = spark_local.fetch(_job(folder.as_uri() + "/", spec, (CONNECTOR,)), tmp_path / "cache", "p")
    assert artifacts.main == folder / f"{name}.py"
    assert artifacts.jars == [folder / j for j in spec["jars"]]
    assert artifacts.skipped == [CONNECTOR]
    cmd = spark_local.spark_submit_command(artifacts, ["--date=2026-01-15"])
    assert cmd[cmd.index("--jars") + 1] == ",".join(str(folder / j) for j in spec["jars"])
    assert cmd[cmd.index("--py-files") + 1] == ",".join(str(folder / p) for p in spec["py_files"])
    assert cmd[-2:] == [str(folder / f"{name}.py"), "--date=2026-01-15"]


def test_fetch_downloads_gs_uris_from_the_emulator(
    built: tuple[Path, dict[str, Any]], tmp_path: Path, gcs_emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    folder, jobs = built
    spec = next(s for s in jobs.values() if s["jars"])
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.url)
    client = storage.Client(project="acme-data-local", credentials=AnonymousCredentials())
    bucket = client.create_bucket(f"pipeline-fetch-{tmp_path.name[-8:].lower().replace('_', '-')}")
    for name in [spec["main"], *spec["py_files"], *spec["jars"]]:
        bucket.blob(f"jobs/abc/{name}").upload_from_filename(str(folder / name))
    job = _job(f"gs://{bucket.name}/jobs/abc/", spec)
    artifacts = spark_local.fetch(job, tmp_path / "cache", "acme-data-local")
    assert artifacts.main.read_bytes() == (folder / spec["main"]).read_bytes()
    assert artifacts.jars[0].read_bytes() == (folder / spec["jars"][0]).read_bytes()
    bucket.blob(f"jobs/abc/{spec['jars'][0]}").delete()
    assert spark_local.fetch(job, tmp_path / "cache", "acme-data-local").jars == artifacts.jars  # cached


def test_fetch_refuses_unknown_schemes(tmp_path: Path) -> None:
    job = SparkJob("https://example.com/x.py", [], [])
    with pytest.raises(ValueError, match="only file:// and gs://"):
        spark_local.fetch(job, tmp_path, "p")


def test_run_output_events_are_found_whatever_the_key_order() -> None:
    from composer.local_run import parse_events

    output = "\n".join(
        [
            '[info] {"event": "task_metrics", "task_id": "dbt_build", "records_in": 3} [pipelines.metrics]',
            'spark: {"duration_seconds": 1.5, "event": "spark_job_metrics", "records_in": 9} loc=x.py:1',
            '[info] {"event": "task_metrics", "task_id": "dbt_build", "records_in": 3} [pipelines.metrics]',
            '{"event": "something_else"}',
            '{"event": "alert", "error": "cut off',
        ]
    )
    assert parse_events(output) == [
        {"event": "task_metrics", "task_id": "dbt_build", "records_in": 3},
        {"duration_seconds": 1.5, "event": "spark_job_metrics", "records_in": 9},
    ]


def test_dbt_parse_state_is_kept_per_project_and_target_off_the_bucket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines import dbt_task

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
    local = dbt_task.parse_state_file(tmp_path / "dbt" / "r-1", "local", local=True)
    assert local.is_relative_to(tmp_path / "home") and local.name == "partial_parse.msgpack"
    assert dbt_task.parse_state_file(tmp_path / "dbt" / "r-2", "local", local=True) != local
    assert dbt_task.parse_state_file(tmp_path / "dbt" / "r-1", "dev", local=True) != local
    on_gcp = dbt_task.parse_state_file(tmp_path / "dbt" / "r-1", "local", local=False)
    assert not on_gcp.is_relative_to(tmp_path / "home")  # a worker's temp folder, not AIRFLOW_HOME

    made = tmp_path / "target"
    made.mkdir()
    (made / "partial_parse.msgpack").write_bytes(b"state")
    dbt_task._keep_parse_state(made, local)
    assert local.read_bytes() == b"state" and list(local.parent.iterdir()) == [local]
    again = tmp_path / "next" / "target"
    dbt_task._reuse_parse_state(local, again)
    assert (again / "partial_parse.msgpack").read_bytes() == b"state"


def test_a_dbt_parse_state_that_cannot_be_kept_or_reused_costs_a_warning_not_the_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from pipelines import dbt_task

    made = tmp_path / "target"
    made.mkdir()
    (made / "partial_parse.msgpack").write_bytes(b"state")
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    with caplog.at_level(logging.WARNING, logger="pipelines.dbt_task"):
        dbt_task._keep_parse_state(made, blocked / "k" / "partial_parse.msgpack")
        state = tmp_path / "state" / "partial_parse.msgpack"
        state.parent.mkdir()
        state.write_bytes(b"state")
        dbt_task._reuse_parse_state(state, blocked / "target")
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        f"dbt parse state not kept in {blocked / 'k' / 'partial_parse.msgpack'}",
        f"dbt parse state {state} not reused",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "state", "target"]


def test_the_dbt_parse_mode_is_read_from_dbt_s_json_log(tmp_path: Path) -> None:
    from pipelines import dbt_task

    log_file = tmp_path / "dbt.log"
    assert dbt_task._parse_mode(log_file) == "full"  # dbt wrote no log
    odd = ["not json", "[1, 2]", json.dumps({"info": "text"}), json.dumps({"info": {"code": "A001"}})]
    unable = {"info": {"code": "I024", "msg": "Unable to do partial parsing because vars changed"}}
    log_file.write_text("\n".join([*odd, json.dumps(unable)]) + "\n")
    assert dbt_task._parse_mode(log_file) == "full: vars changed"
    log_file.write_text("\n".join([*odd, json.dumps({"info": {"code": "I040", "msg": "..."}})]) + "\n")
    assert dbt_task._parse_mode(log_file) == "partial"
    log_file.write_text("\n".join(odd) + "\n")  # e.g. a state dbt could not load (I029): a full parse
    assert dbt_task._parse_mode(log_file) == "full"
