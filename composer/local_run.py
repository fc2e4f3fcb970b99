"""Run an orders DAG on this machine with Airflow's own `airflow dags test`, the way Composer would.

    python -m composer.local_run --dag-folder ROOT/dags --date 2026-01-15 [--dag-id orders_daily]
    python -m composer.local_run --prepare ROOT --date 2026-01-15 --rows 2000   # stage, then run

`composer_local_run(dag_folder, logical_date)` needs what a promotion leaves in a Composer bucket
(mounted or downloaded): (a) a DAG folder with the DAG files and `runtime_config.json` of a local
platform release, and (b) beside it a `data/` folder with `dbt/<release>/`, `gx/<release>/` and the
warehouse (`data/warehouse/`, unless `ORDERS_LOCAL_WAREHOUSE` says otherwise). It migrates a throw-away
SQLite Airflow database in a temporary AIRFLOW_HOME, runs the DAG for the logical date and returns
the task states and the structured lines the tasks logged (`task_metrics`, `gx_validation`, ...).

`prepare_local_release(root, ...)` stages such a layout from this repository: builds the Spark
artifacts (file:// URIs), copies the DAGs, dbt project and GX suites, renders a runtime config for the
`local` environment and generates sample raw events.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

REPO_ROOT = Path(__file__).resolve().parent.parent
RUNTIME_CONFIG_NAME = "runtime_config.json"
EVENTS = ("task_metrics", "gx_validation", "freshness", "alert", "spark_job_metrics")
_EVENT_LINE = re.compile(r'(\{"event": "(?:' + "|".join(EVENTS) + r')".*\})')


class LocalRunError(ValueError):
    """The inputs of a local run cannot be used; the message names the path or argument."""


@dataclass
class RunResult:
    """The outcome of one `airflow dags test` run."""

    dag_id: str
    logical_date: str
    success: bool
    returncode: int
    duration_seconds: float
    task_states: dict[str, str]
    events: list[dict[str, Any]] = field(default_factory=list)
    """Every structured line the tasks logged, in order, deduplicated."""
    log_path: Path | None = None
    """The full output of the run."""

    def lines(self, event: str) -> list[dict[str, Any]]:
        """The structured lines of one kind (`task_metrics`, `gx_validation`, ...)."""
        return [e for e in self.events if e.get("event") == event]

    def task_metrics(self, task_id: str) -> dict[str, Any] | None:
        """The `task_metrics` line of a task, if it logged one."""
        found = [e for e in self.lines("task_metrics") if e.get("task_id") == task_id]
        return found[-1] if found else None


def _airflow_env(airflow_home: Path, dag_folder: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dag_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "GX_ANALYTICS_ENABLED": "false",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "PYTHONDONTWRITEBYTECODE": "1",
            # `dags test` waits out retry delays in-process: keep a failing run short.
            "ORDERS_RETRY_DELAY_SECONDS": os.environ.get("ORDERS_RETRY_DELAY_SECONDS", "1"),
        }
    )
    return env


def _airflow() -> list[str]:
    found = Path(sys.executable).with_name("airflow")
    return [str(found)] if found.is_file() else [sys.executable, "-m", "airflow"]


def parse_events(output: str) -> list[dict[str, Any]]:
    """The structured JSON lines in a run's output (each kept once, in order)."""
    events, seen = [], set()
    for match in _EVENT_LINE.finditer(output):
        text = match.group(1)
        try:
            line = json.loads(text)
        except json.JSONDecodeError:
            continue
        key = json.dumps(line, sort_keys=True)
        if key not in seen:
            seen.add(key)
            events.append(line)
    return events


def _task_states(db: Path, dag_id: str) -> dict[str, str]:
    if not db.is_file():
        return {}
    with sqlite3.connect(db) as con:
        rows = con.execute("select task_id, state from task_instance where dag_id = ?", (dag_id,)).fetchall()
    return {task_id: str(state) for task_id, state in rows}


def composer_local_run(
    dag_folder: Path,
    logical_date: str,
    dag_id: str = "orders_daily",
    airflow_home: Path | None = None,
    timeout_seconds: int = 1800,
) -> RunResult:
    """Run `dag_id` for `logical_date` with `airflow dags test` against `dag_folder` (see module doc)."""
    dag_folder = dag_folder.resolve()
    if not (dag_folder / RUNTIME_CONFIG_NAME).is_file():
        raise LocalRunError(
            f"--dag-folder: {dag_folder} has no {RUNTIME_CONFIG_NAME} (promote or --prepare first)"
        )
    try:
        dt.date.fromisoformat(logical_date)
    except ValueError:
        raise LocalRunError(f"--date: {logical_date!r} is not a YYYY-MM-DD date") from None
    own_home = airflow_home is None
    home = Path(tempfile.mkdtemp(prefix="airflow-home-")) if airflow_home is None else airflow_home
    home.mkdir(parents=True, exist_ok=True)
    env = _airflow_env(home, dag_folder)
    log_path = (Path(tempfile.gettempdir()) if own_home else home) / f"{dag_id}-{logical_date}.log"
    started = time.monotonic()
    try:
        migrate = subprocess.run(
            [*_airflow(), "db", "migrate"], env=env, capture_output=True, text=True, timeout=600, check=False
        )
        if migrate.returncode != 0:
            tail = (migrate.stderr or migrate.stdout).strip().splitlines()[-1:]
            raise LocalRunError(f"airflow db migrate failed: {tail[0] if tail else 'no output'}")
        done = subprocess.run(
            [*_airflow(), "dags", "test", dag_id, logical_date],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_seconds,
            check=False,
        )
        duration = time.monotonic() - started
        output = done.stdout + "\n" + done.stderr
        log_path.write_text(output, encoding="utf-8")
        states = _task_states(home / "airflow.db", dag_id)
    finally:
        if own_home:
            shutil.rmtree(home, ignore_errors=True)
    success = done.returncode == 0 and bool(states) and all(s == "success" for s in states.values())
    return RunResult(
        dag_id=dag_id,
        logical_date=logical_date,
        success=success,
        returncode=done.returncode,
        duration_seconds=round(duration, 1),
        task_states=states,
        events=parse_events(output),
        log_path=log_path,
    )


def _copy_tree(src: Path, dst: Path, skip: tuple[str, ...] = ()) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".user.yml", *skip)
    shutil.copytree(src, dst, ignore=ignore, dirs_exist_ok=True)


def prepare_local_release(
    root: Path,
    logical_date: str,
    rows: int = 1000,
    days: int = 1,
    env_name: str = "local",
    release_id: str = "r-localdev",
) -> Path:
    """Stage a local-platform release under `root` (see module doc); return the DAG folder."""
    from contracts.model import load_contract
    from dataproc_jobs.build import build
    from dataproc_jobs.sample_data import generate
    from deployer.config import load_environment
    from deployer.policy_tags import local_ids
    from deployer.runtime import DbtRuntime, GxRuntime, RuntimeConfig, SparkJob, SparkRuntime

    env = load_environment(env_name)
    if env.platform != "local":
        raise LocalRunError(f"--env: {env_name} is a {env.platform} environment, not local")
    day = dt.date.fromisoformat(logical_date)
    root = root.resolve()
    dag_folder, data = root / "dags", root / "data"
    jobs_dir = root / "artifacts" / "releases" / release_id / "jobs"
    if jobs_dir.exists():
        shutil.rmtree(jobs_dir)
    result = build(jobs_dir)
    spec = json.loads((jobs_dir / "jobs.json").read_text(encoding="utf-8"))["jobs"]
    base = jobs_dir.as_uri() + "/"

    def uri(name: str) -> str:
        return base + name

    jobs = {
        name: SparkJob(
            main_python_file_uri=uri(job["main"]),
            python_file_uris=[uri(p) for p in job["py_files"]],
            jar_file_uris=[uri(j) for j in job["jars"]]
            + [env.dataproc.connectors[c].uri for c in job["connectors"]],
        )
        for name, job in spec.items()
    }
    _copy_tree(REPO_ROOT / "composer" / "dags", dag_folder)
    _copy_tree(REPO_ROOT / "dbt", data / "dbt" / release_id, skip=("target", "logs", "dbt_packages"))
    _copy_tree(REPO_ROOT / "gx", data / "gx" / release_id)
    contract = load_contract()
    subscription = sorted(
        n for n, sub in env.pubsub.subscriptions.items() if sub.topic == contract.event.topic
    )[0]
    config = RuntimeConfig(
        env=env.name,
        platform=env.platform,
        project=env.project,
        region=env.region,
        # Staged from the working tree, not a built release: the local id stands in for each digest.
        components={"jobs": release_id, "dbt": release_id, "gx": release_id},
        labels=env.labels.as_dict(),
        datasets={layer: ds.id for layer, ds in sorted(env.bigquery.datasets.items())},
        bigquery_location=env.bigquery.location,
        raw_table=contract.event.raw_table,
        pubsub_topic=contract.event.topic,
        pubsub_subscription=subscription,
        spark=SparkRuntime(
            cluster_name=env.dataproc_cluster_name(),
            region=env.region,
            temp_bucket=env.buckets.dataproc_temp.name,
            jobs=jobs,
        ),
        dbt=DbtRuntime(
            project_path=f"data/dbt/{release_id}", target="local", vars={"policy_tags": local_ids(env)}
        ),
        gx=GxRuntime(suites_path=f"data/gx/{release_id}"),
        alert_emails=[],
    )
    (dag_folder / RUNTIME_CONFIG_NAME).write_text(config.model_dump_json(indent=2) + "\n", encoding="utf-8")
    generate(data / "warehouse" / "raw" / config.raw_table, day, rows=rows, days=days)
    assert result.files  # the build wrote something
    return dag_folder


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    """CLI: optionally stage a release (--prepare ROOT), then run the DAG and print a summary."""
    p = _Parser(prog="python -m composer.local_run", description=__doc__.splitlines()[0])
    p.add_argument("--dag-folder", type=Path, help="DAG folder with runtime_config.json (data/ beside it)")
    p.add_argument("--prepare", type=Path, metavar="ROOT", help="stage a local release under ROOT first")
    p.add_argument("--date", required=True, help="logical date YYYY-MM-DD")
    p.add_argument("--dag-id", default="orders_daily")
    p.add_argument("--rows", type=int, default=1000, help="sample records per ingest day (with --prepare)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    args = p.parse_args(argv)
    try:
        if args.prepare:
            dag_folder = prepare_local_release(args.prepare, args.date, rows=args.rows)
        elif args.dag_folder:
            dag_folder = args.dag_folder
        else:
            raise LocalRunError("give --dag-folder DIR or --prepare ROOT")
        result = composer_local_run(dag_folder, args.date, dag_id=args.dag_id)
    except LocalRunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({**result.__dict__, "log_path": str(result.log_path)}, indent=2, default=str))
    else:
        outcome = "success" if result.success else "FAILED"
        print(f"{result.dag_id} {result.logical_date}: {outcome} in {result.duration_seconds} s")
        for task_id, state in sorted(result.task_states.items()):
            m = result.task_metrics(task_id) or {}
            figures = (
                f"in={m.get('records_in')} out={m.get('records_out')} rejected={m.get('records_rejected')}"
            )
            print(f"  {task_id:<22} {state:<8} {figures if m else ''}")
        for line in result.lines("gx_validation"):
            print(f"  gx {line['suite']:<26} success={line['success']} evaluated={line['evaluated']}")
        print(f"  log: {result.log_path}")
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
