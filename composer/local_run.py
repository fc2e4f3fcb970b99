"""Run the domains' DAGs on this machine with Airflow's own `airflow dags test`, the way Composer would.

    python -m composer.local_run --prepare ROOT --date 2026-01-15 [--rows 1000] [--days 2]  # stage, run all
    python -m composer.local_run --dag-folder ROOT/dags --date 2026-01-15 [--dag-id ID ...]

`run_daily_dags(dag_folder, logical_date, days=1)` runs every domain's daily DAG of the runtime config,
in input order (a domain after the domains it reads), for each day, in one throw-away SQLite Airflow
database (two days give a snapshot its first history: a single run sees one version per key), and
`composer_local_run(dag_folder, logical_date, dag_id)` runs one DAG. Both need what a promotion leaves
in a Composer bucket (mounted or downloaded): (a) a DAG folder with the DAG files and the
`runtime_config.json` of a local-platform release, and (b) beside it a `data/` folder with
`dbt/<digest>/`, `gx/<digest>/` and the warehouse (`data/warehouse/`, unless `PLATFORM_LOCAL_WAREHOUSE`
says otherwise). They return the task states, the structured lines the tasks logged (`task_metrics`,
`gx_validation`, ...) and the asset events the runs emitted.

Lineage: for an environment of the local platform with `lineage.enabled`, every step of a run writes
OpenLineage events into one file (`openlineage_environ`): Airflow's OpenLineage provider (each task,
with the inlets/outlets the DAG library declares), `dbt-ol` (each dbt node) and the Spark and GX steps
(openlineage-python). `dags test` runs write `<bucket root>/openlineage/events.jsonl` (the bucket root
is the DAG folder's parent), the real local Airflow `<AIRFLOW_HOME>/openlineage/events.jsonl`.

`prepare_local_release(root, ...)` stages such a layout from this repository for every domain: builds
the Spark artifacts (`python -m dataproc_jobs.build`, file:// URIs), copies the DAGs, dbt project and
GX suites, builds the runtime config of the `local` environment (`platform_model.runtime.build`) and
generates sample raw events for every domain with an event (`dataproc_jobs.sample_data`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from platform_model.errors import PlatformError

REPO_ROOT = Path(__file__).resolve().parent.parent
RUNTIME_CONFIG_NAME = "runtime_config.json"
RELEASE_ID = "r-localdev"
EVENTS = ("task_metrics", "gx_validation", "freshness", "alert", "spark_job_metrics")
LINEAGE_EVENTS = Path("openlineage") / "events.jsonl"


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
    asset_events: list[dict[str, Any]] = field(default_factory=list)
    """The asset events the run's tasks emitted: {"uri", "task_id", "extra"}."""
    log_path: Path | None = None
    """The full output of the run."""
    lineage_file: Path | None = None
    """Where the run's OpenLineage events went (None: lineage off for the environment)."""

    def lines(self, event: str) -> list[dict[str, Any]]:
        """The structured lines of one kind (`task_metrics`, `gx_validation`, ...)."""
        return [e for e in self.events if e.get("event") == event]

    def task_metrics(self, task_id: str) -> dict[str, Any] | None:
        """The `task_metrics` line of a task, if it logged one."""
        found = [e for e in self.lines("task_metrics") if e.get("task_id") == task_id]
        return found[-1] if found else None

    def task_order(self) -> list[str]:
        """Task ids in the order they logged their metrics (tasks without metrics last)."""
        order = [e["task_id"] for e in self.lines("task_metrics")]
        return sorted(self.task_states, key=lambda t: order.index(t) if t in order else len(order))


def lineage_events_file(root: Path) -> Path:
    """The OpenLineage events file under `root` (an AIRFLOW_HOME, or a `dags test` run's bucket root)."""
    return root / LINEAGE_EVENTS


def openlineage_environ(
    dag_folder: Path, events: Path, environments_dir: Path | None = None
) -> dict[str, str]:
    """The variables that make every step of a local run write OpenLineage events into `events`: the
    Airflow provider's file transport, openlineage-python's (for `dbt-ol`) and the DAG library's switch.
    Empty unless the folder's runtime config is of a local-platform environment with `lineage.enabled`
    (on GCP, Composer, Dataproc and BigQuery report lineage themselves); empty too while the folder has
    no usable runtime config (nothing promoted yet: the DAGs themselves report a broken one)."""
    from pydantic import ValidationError

    from platform_model.environment import ENVIRONMENTS_DIR, load_environment
    from platform_model.runtime import RuntimeConfig

    path = dag_folder / RUNTIME_CONFIG_NAME
    if not path.is_file():
        return {}
    try:
        name = RuntimeConfig.model_validate_json(path.read_bytes()).env
        env = load_environment(name, environments_dir or ENVIRONMENTS_DIR)
    except (ValidationError, PlatformError):
        return {}
    if env.platform != "local" or not env.lineage.enabled:
        return {}
    transport = {"type": "file", "log_file_path": str(events), "append": True}
    events.parent.mkdir(parents=True, exist_ok=True)
    return {
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": env.name,
        "OPENLINEAGE__TRANSPORT__TYPE": "file",
        "OPENLINEAGE__TRANSPORT__LOG_FILE_PATH": str(events),
        "OPENLINEAGE__TRANSPORT__APPEND": "true",
        "OPENLINEAGE_NAMESPACE": env.name,
        "PLATFORM_LINEAGE_EVENTS": str(events),
    }


def read_lineage_events(path: Path) -> list[dict[str, Any]]:
    """The OpenLineage events of a file (one JSON object a line) or of every `*.json*` file under a folder,
    in order; none when it is missing. A line that is no OpenLineage run event (JSON with `eventType` and
    `job`) is a LocalRunError naming the file and line: a wrong file is never read as "nothing observed"."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.json*") if p.is_file())
    else:
        files = [path] if path.is_file() else []
    events: list[dict[str, Any]] = []
    for file in files:
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                raise LocalRunError(f"{file}:{number}: not an OpenLineage event (invalid JSON)") from None
            if not (isinstance(event, dict) and "eventType" in event and isinstance(event.get("job"), dict)):
                raise LocalRunError(f"{file}:{number}: not an OpenLineage run event (no eventType and job)")
            events.append(event)
    return events


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
            "PLATFORM_RETRY_DELAY_SECONDS": os.environ.get("PLATFORM_RETRY_DELAY_SECONDS", "1"),
        }
    )
    env.pop("PLATFORM_RUNTIME_CONFIG", None)  # the DAGs read the config of the folder they run from
    for key in [k for k in env if k.startswith(("OPENLINEAGE", "AIRFLOW__OPENLINEAGE__"))]:
        del env[key]  # lineage is the environment's choice, never a leftover of the caller's shell
    env.pop("PLATFORM_LINEAGE_EVENTS", None)
    env.update(openlineage_environ(dag_folder, lineage_events_file(dag_folder.parent)))
    return env


def _airflow() -> list[str]:
    found = Path(sys.executable).with_name("airflow")
    return [str(found)] if found.is_file() else [sys.executable, "-m", "airflow"]


def parse_events(output: str) -> list[dict[str, Any]]:
    """The structured JSON lines in a run's output (each kept once, in order): objects with an `event`
    of EVENTS, wherever the log line puts them and whatever the order of their keys."""
    decoder = json.JSONDecoder()
    events, seen = [], set()
    for text in output.splitlines():
        start = text.find('{"')
        if start < 0 or '"event": "' not in text:
            continue
        try:
            line, _end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            continue
        if not isinstance(line, dict) or line.get("event") not in EVENTS:
            continue
        key = json.dumps(line, sort_keys=True)
        if key not in seen:
            seen.add(key)
            events.append(line)
    return events


def _query(db: Path, sql: str, *params: str) -> list[tuple[Any, ...]]:
    if not db.is_file():
        return []
    with sqlite3.connect(db) as con:
        return con.execute(sql, params).fetchall()


def _task_states(db: Path, dag_id: str, run_id: str | None) -> dict[str, str]:
    rows = _query(db, "select task_id, state, run_id from task_instance where dag_id = ?", dag_id)
    return {task_id: str(state) for task_id, state, run in rows if run_id is None or run == run_id}


def _asset_events(db: Path, dag_id: str, run_id: str | None) -> list[dict[str, Any]]:
    sql = (
        "select a.uri, e.source_task_id, e.extra, e.source_run_id from asset_event e "
        "join asset a on a.id = e.asset_id where e.source_dag_id = ? order by e.id"
    )
    return [
        {"uri": uri, "task_id": task_id, "extra": json.loads(extra) if extra else {}}
        for uri, task_id, extra, run in _query(db, sql, dag_id)
        if run_id is None or run == run_id
    ]


def _latest_run(db: Path, dag_id: str) -> str | None:
    rows = _query(db, "select run_id from dag_run where dag_id = ? order by id desc limit 1", dag_id)
    return str(rows[0][0]) if rows else None


def _check_inputs(dag_folder: Path, logical_date: str) -> Path:
    dag_folder = dag_folder.resolve()
    if not (dag_folder / RUNTIME_CONFIG_NAME).is_file():
        raise LocalRunError(
            f"--dag-folder: {dag_folder} has no {RUNTIME_CONFIG_NAME} (promote or --prepare first)"
        )
    _check_date(logical_date)
    return dag_folder


def _check_date(logical_date: str) -> None:
    try:
        dt.date.fromisoformat(logical_date)
    except ValueError:
        raise LocalRunError(f"--date: {logical_date!r} is not a YYYY-MM-DD date") from None


@contextmanager
def _airflow_home(dag_folder: Path, airflow_home: Path | None) -> Iterator[tuple[Path, dict[str, str]]]:
    """A migrated Airflow home (a temporary one, removed afterwards, unless `airflow_home` is given)."""
    home = Path(tempfile.mkdtemp(prefix="airflow-home-")) if airflow_home is None else airflow_home
    home.mkdir(parents=True, exist_ok=True)
    env = _airflow_env(home, dag_folder)
    try:
        migrate = subprocess.run(
            [*_airflow(), "db", "migrate"], env=env, capture_output=True, text=True, timeout=600, check=False
        )
        if migrate.returncode != 0:
            tail = (migrate.stderr or migrate.stdout).strip().splitlines()[-1:]
            raise LocalRunError(f"airflow db migrate failed: {tail[0] if tail else 'no output'}")
        yield home, env
    finally:
        if airflow_home is None:
            shutil.rmtree(home, ignore_errors=True)


def _dags_test(
    home: Path, env: dict[str, str], dag_id: str, logical_date: str, log_dir: Path, timeout_seconds: int
) -> RunResult:
    started = time.monotonic()
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
    log_path = log_dir / f"{dag_id}-{logical_date}-{int(time.time() * 1000)}.log"
    log_path.write_text(output, encoding="utf-8")
    db = home / "airflow.db"
    run_id = _latest_run(db, dag_id)
    states = _task_states(db, dag_id, run_id)
    success = done.returncode == 0 and bool(states) and all(s == "success" for s in states.values())
    return RunResult(
        dag_id=dag_id,
        logical_date=logical_date,
        success=success,
        returncode=done.returncode,
        duration_seconds=round(duration, 1),
        task_states=states,
        events=parse_events(output),
        asset_events=_asset_events(db, dag_id, run_id),
        log_path=log_path,
        lineage_file=Path(env["PLATFORM_LINEAGE_EVENTS"]) if "PLATFORM_LINEAGE_EVENTS" in env else None,
    )


def composer_local_run(
    dag_folder: Path,
    logical_date: str,
    dag_id: str,
    airflow_home: Path | None = None,
    timeout_seconds: int = 1800,
) -> RunResult:
    """Run `dag_id` for `logical_date` with `airflow dags test` against `dag_folder` (see module doc)."""
    return run_dags(dag_folder, logical_date, [dag_id], airflow_home, timeout_seconds)[0]


def run_dags(
    dag_folder: Path,
    logical_date: str,
    dag_ids: list[str],
    airflow_home: Path | None = None,
    timeout_seconds: int = 1800,
) -> list[RunResult]:
    """Run each of `dag_ids` in turn for `logical_date`, in one Airflow database; every result."""
    dag_folder = _check_inputs(dag_folder, logical_date)
    log_dir = Path(tempfile.gettempdir()) if airflow_home is None else airflow_home
    with _airflow_home(dag_folder, airflow_home) as (home, env):
        return [_dags_test(home, env, d, logical_date, log_dir, timeout_seconds) for d in dag_ids]


def daily_dag_ids(dag_folder: Path) -> list[str]:
    """The daily DAG of every domain of the folder's runtime config, in its (input) order."""
    config = json.loads((dag_folder / RUNTIME_CONFIG_NAME).read_text(encoding="utf-8"))
    return [
        dag_id
        for domain in config["domains"].values()
        for dag_id, dag in domain["dags"].items()
        if dag["kind"] == "daily"
    ]


def run_daily_dags(
    dag_folder: Path,
    logical_date: str,
    airflow_home: Path | None = None,
    timeout_seconds: int = 1800,
    days: int = 1,
) -> list[RunResult]:
    """Run every domain's daily DAG, a domain after its inputs, for each of the `days` days ending at
    `logical_date` (oldest first: a day's history builds on the day before, e.g. a dbt snapshot's
    versions); every result, in run order."""
    dag_folder = _check_inputs(dag_folder, logical_date)
    if days < 1:
        raise LocalRunError(f"--days: {days} is not a positive number of days")
    last = dt.date.fromisoformat(logical_date)
    dag_ids = daily_dag_ids(dag_folder)
    results: list[RunResult] = []
    log_dir = Path(tempfile.gettempdir()) if airflow_home is None else airflow_home
    with _airflow_home(dag_folder, airflow_home) as (home, env):
        for offset in range(days - 1, -1, -1):
            day = (last - dt.timedelta(days=offset)).isoformat()
            results += [_dags_test(home, env, d, day, log_dir, timeout_seconds) for d in dag_ids]
    return results


# -- staging a local release ------------------------------------------------------------------------


def _copy_tree(src: Path, dst: Path, skip: tuple[str, ...] = ()) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".user.yml", *skip)
    shutil.copytree(src, dst, ignore=ignore, dirs_exist_ok=True)


def write_sample_events(warehouse: Path, logical_date: str, rows: int, days: int = 1) -> dict[str, int]:
    """Sample raw events of every domain with an event, for the `days` ingest days ending at
    `logical_date`, under `warehouse/raw/`; rows written per domain."""
    from dataproc_jobs.sample_data import generate

    last = dt.date.fromisoformat(logical_date)
    written: dict[str, int] = {}
    for offset in range(days - 1, -1, -1):
        day = (last - dt.timedelta(days=offset)).isoformat()
        for name, count in generate(warehouse, day, rows).items():
            written[name] = written.get(name, 0) + count
    return written


def prepare_local_release(
    root: Path, logical_date: str, rows: int = 1000, days: int = 1, env_name: str = "local"
) -> Path:
    """Stage a local-platform release of every domain under `root` (see module doc); the DAG folder."""
    from composer.runtime_config import for_repo, write
    from dataproc_jobs.build import build
    from platform_model.environment import load_environment

    env = load_environment(env_name)
    if env.platform != "local":
        raise LocalRunError(f"--env: {env_name} is a {env.platform} environment, not local")
    _check_date(logical_date)
    if days < 1:
        raise LocalRunError(f"--days: {days} is not a positive number of days")
    root = root.resolve()
    dag_folder, data = root / "dags", root / "data"
    jobs_dir = root / "artifacts" / "releases" / RELEASE_ID / "jobs"
    if jobs_dir.exists():
        shutil.rmtree(jobs_dir)
    built = build(jobs_dir)
    _copy_tree(REPO_ROOT / "composer" / "dags", dag_folder)
    _copy_tree(REPO_ROOT / "dbt", data / "dbt" / RELEASE_ID, skip=("target", "logs", "dbt_packages"))
    _copy_tree(REPO_ROOT / "gx", data / "gx" / RELEASE_ID)
    config = for_repo(
        env,
        # Staged from the working tree, not a built release: the local id stands in for each digest.
        components={"jobs": RELEASE_ID, "dbt": RELEASE_ID, "gx": RELEASE_ID},
        jobs=built.jobs,
        jobs_base=jobs_dir.as_uri() + "/",
    )
    write(config, dag_folder)
    write_sample_events(data / "warehouse", logical_date, rows, days)
    return dag_folder


# -- the command line -------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message}\n")


def summary(result: RunResult) -> list[str]:
    """Lines saying how a run went: per task its state and rows in/out/rejected, per suite its outcome."""
    outcome = "success" if result.success else "FAILED"
    lines = [f"{result.dag_id} {result.logical_date}: {outcome} in {result.duration_seconds} s"]
    for task_id in result.task_order():
        m = result.task_metrics(task_id) or {}
        figures = f"in={m.get('records_in')} out={m.get('records_out')} rejected={m.get('records_rejected')}"
        lines.append(f"  {task_id:<22} {result.task_states[task_id]:<8} {figures if m else ''}")
    for line in result.lines("gx_validation"):
        lines.append(f"  gx {line['suite']:<26} success={line['success']} evaluated={line['evaluated']}")
    for event in result.asset_events:
        lines.append(f"  asset {event['uri']} <- {event['task_id']} {json.dumps(event['extra'])}")
    lines.append(f"  log: {result.log_path}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """CLI: optionally stage a release (--prepare ROOT), then run the DAGs and print a summary."""
    p = _Parser(prog="python -m composer.local_run", description=__doc__.splitlines()[0])
    p.add_argument("--dag-folder", type=Path, help="DAG folder with runtime_config.json (data/ beside it)")
    p.add_argument("--prepare", type=Path, metavar="ROOT", help="stage a local release under ROOT first")
    p.add_argument("--date", required=True, help="logical date YYYY-MM-DD")
    p.add_argument(
        "--dag-id", action="append", default=None, help="run this DAG (repeatable; default: every daily DAG)"
    )
    p.add_argument(
        "--rows", type=int, default=1000, help="sample records per domain and day (with --prepare)"
    )
    p.add_argument(
        "--days", type=int, default=1, help="days run (and staged with --prepare), ending at --date"
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    args = p.parse_args(argv)
    try:
        if args.prepare:
            dag_folder = prepare_local_release(
                args.prepare, args.date, rows=args.rows, days=max(args.days, 1)
            )
        elif args.dag_folder:
            dag_folder = args.dag_folder
        else:
            raise LocalRunError("give --dag-folder DIR or --prepare ROOT")
        if args.dag_id:
            results = run_dags(dag_folder, args.date, args.dag_id)
        else:
            results = run_daily_dags(dag_folder, args.date, days=args.days)
    except LocalRunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except PlatformError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    if args.json:
        out = [{**r.__dict__, "log_path": str(r.log_path)} for r in results]
        print(json.dumps(out, indent=2, default=str))
    else:
        for result in results:
            print("\n".join(summary(result)))
    return 0 if all(r.success for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
