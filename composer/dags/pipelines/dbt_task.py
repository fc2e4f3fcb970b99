"""Run `dbt build --select <domain's selector>` of the release's dbt project from an Airflow task
(dbt's CLI in a child process).

Why not astronomer-cosmos: cosmos renders one Airflow task per dbt node by parsing the dbt project at
DAG-parse time, which costs seconds per parse and imports dbt in the DAG processor; this platform keeps
parsing under its 200 ms budget and free of heavy imports. One task running `dbt build` keeps dbt's own
ordering, tests and contracts, and the run results are logged per node.

dbt runs in a child process of the task: its global state (adapters, DuckDB connections, logging)
ends with it, and the task reads the outcome from `run_results.json`. The project is read from the
Composer bucket (`data/dbt/<digest>`); dbt's target/ and logs/ go to a temporary folder, never into
the bucket. Project, location and datasets reach `profiles.yml` as `PLATFORM_*` env vars, the logical
date the models as `PLATFORM_RUN_DATE` (macro `run_date()`), the runtime config's `dbt.vars` (policy-tag
ids) as vars. Each domain's DAG builds only its own nodes (`--select`, the domain's `dbt_select`); on
the local platform the caller holds the warehouse's exclusive lock for the run (see `warehouse`). When
the local run records lineage (`pipelines.lineage`), dbt runs under OpenLineage's `dbt-ol` wrapper,
which writes an event per node with its input and output datasets from dbt's own manifest and run
results.

dbt's partial-parse state (`partial_parse.msgpack`) is kept on the worker's own disk, per project folder
and target (`parse_state_file`), so after the first dbt step of a release every later one (another
domain, another day) parses only what changed. dbt itself checks a state against the files, vars,
profile and its own version, and parses everything again when any of them differs; a new day changes
only an env var, so dbt parses again just the models that read it (it records which env vars each
file used). The task logs which it was (`dbt parse: partial` or `dbt parse: full: <dbt's reason>`). A
state that cannot be read or kept costs a full parse, never the run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pipelines import lineage
from pipelines.runtime import WAREHOUSE_ENV, RuntimeConfig

log = logging.getLogger(__name__)


class DbtBuildFailed(RuntimeError):
    """dbt build did not succeed; the message lists the failing nodes."""


@dataclass
class DbtOutcome:
    """What a dbt build did."""

    success: bool
    nodes: dict[str, str] = field(default_factory=dict)
    """unique_id -> status."""
    failures: list[str] = field(default_factory=list)
    warned_rows: int = 0
    """Rows flagged by tests of severity warn."""
    parse: str = "full"
    """How dbt read the project: "partial" (its saved parse state held, only changed files were parsed)
    or "full" (with dbt's reason when it had a state it could not use)."""


RUN_DATE_ENV = "PLATFORM_RUN_DATE"
"""The run's logical date (YYYY-MM-DD), as the dbt macro `run_date()` reads it."""


def dbt_env(cfg: RuntimeConfig, warehouse: Path | None, logical_date: str) -> dict[str, str]:
    """The env vars `profiles.yml`, the sources and `run_date()` read."""
    env = {
        RUN_DATE_ENV: logical_date,
        "DBT_TARGET": cfg.dbt.target,
        "PLATFORM_BQ_PROJECT": cfg.project,
        "PLATFORM_BQ_LOCATION": cfg.bigquery_location,
        "PLATFORM_DATASET_RAW": cfg.datasets["raw"],
        "PLATFORM_DATASET_STAGING": cfg.datasets["staging"],
        "PLATFORM_DATASET_MARTS": cfg.datasets["marts"],
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    if warehouse is not None:
        env[WAREHOUSE_ENV] = str(warehouse)
    return env


def dbt_ol_command() -> list[str]:
    """`dbt-ol` (openlineage-dbt's wrapper) of this interpreter; it runs the `dbt` found on PATH."""
    return [sys.executable, "-c", "import sys; from openlineage.dbt import main; sys.exit(main())"]


def openlineage_env(events: Path) -> dict[str, str]:
    """What `dbt-ol` needs: its file transport, and this interpreter's `dbt` first on PATH."""
    events.parent.mkdir(parents=True, exist_ok=True)
    return {
        "OPENLINEAGE__TRANSPORT__TYPE": "file",
        "OPENLINEAGE__TRANSPORT__LOG_FILE_PATH": str(events),
        "OPENLINEAGE__TRANSPORT__APPEND": "true",
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }


def parse_state_file(project_dir: Path, target: str, local: bool) -> Path:
    """Where this worker keeps dbt's partial-parse state of a project folder and target: on the local
    platform under AIRFLOW_HOME (the run's own, thrown away with it), else in the temp folder; never in
    the bucket."""
    home = os.environ.get("AIRFLOW_HOME") if local else None
    root = Path(home) if home else Path(tempfile.gettempdir())
    key = hashlib.sha256(f"{project_dir.resolve()}\0{target}".encode()).hexdigest()[:16]
    return root / "dbt-parse-state" / key / "partial_parse.msgpack"


def _reuse_parse_state(state: Path, target_path: Path) -> None:
    """Put the saved parse state where dbt looks for it (none saved, or unreadable: a full parse)."""
    try:
        if state.is_file():
            target_path.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(state, target_path / state.name)
    except OSError as exc:
        log.warning("dbt parse state %s not reused: %s", state, exc)


def _keep_parse_state(target_path: Path, state: Path) -> None:
    """Save the parse state dbt left in `target_path` (replaced whole: a reader sees the old or the new)."""
    made = target_path / state.name
    if not made.is_file():
        return
    part = state.with_name(f"{state.name}.{os.getpid()}.part")
    try:
        state.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(made, part)
        part.replace(state)
    except OSError as exc:
        with contextlib.suppress(OSError):  # a part that was never made, or whose folder is not one
            part.unlink(missing_ok=True)
        log.warning("dbt parse state not kept in %s: %s", state, exc)


# dbt's events (`--log-format-file json`) that say how it read the project.
_PARTIAL_PARSE_EVENTS = {"I017", "I040"}  # no changes found; changed files only
_UNABLE_TO_PARTIAL_PARSE = "I024"


def _parse_mode(dbt_log: Path) -> str:
    """How dbt read the project, from its JSON log file: "partial" or "full[: dbt's reason]"."""
    if not dbt_log.is_file():
        return "full"
    for line in dbt_log.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        info = event.get("info") if isinstance(event, dict) else None
        code = info.get("code") if isinstance(info, dict) else None
        if code in _PARTIAL_PARSE_EVENTS:
            return "partial"
        if code == _UNABLE_TO_PARTIAL_PARSE:
            return "full: " + str(info.get("msg", "")).removeprefix("Unable to do partial parsing because ")
    return "full"


def build(
    project_dir: Path, cfg: RuntimeConfig, select: str, logical_date: str, warehouse: Path | None
) -> DbtOutcome:
    """`dbt build --select <select>` the project for the config's target; DbtBuildFailed on failure."""
    if not (project_dir / "dbt_project.yml").is_file():
        raise DbtBuildFailed(f"{project_dir}: no dbt_project.yml (is the release's dbt project promoted?)")
    with tempfile.TemporaryDirectory(prefix="dbt-run-") as tmp:
        if warehouse is not None:
            warehouse.mkdir(parents=True, exist_ok=True)
        target_path = Path(tmp) / "target"
        state = parse_state_file(project_dir, cfg.dbt.target, local=cfg.platform == "local")
        _reuse_parse_state(state, target_path)
        env = {**os.environ, **dbt_env(cfg, warehouse, logical_date)}
        events = lineage.events_file() if cfg.platform == "local" else None
        if events is not None:
            env.update(openlineage_env(events))
        cmd = [
            *(dbt_ol_command() if events is not None else [sys.executable, "-m", "dbt.cli.main"]),
            "build",
            "--select",
            *select.split(),
            "--project-dir",
            str(project_dir),
            "--profiles-dir",
            str(project_dir),
            "--target",
            cfg.dbt.target,
            "--target-path",
            str(target_path),
            "--log-path",
            str(Path(tmp) / "logs"),
            "--vars",
            json.dumps(cfg.dbt.vars),
            "--partial-parse",
            "--log-format-file",
            "json",
            "--no-use-colors",
        ]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        for line in done.stdout.splitlines():
            log.info("dbt: %s", line)
        results_file = target_path / "run_results.json"
        results = json.loads(results_file.read_text(encoding="utf-8")) if results_file.is_file() else {}
        parse = _parse_mode(Path(tmp) / "logs" / "dbt.log")
        _keep_parse_state(target_path, state)
    outcome = DbtOutcome(success=done.returncode == 0, parse=parse)
    log.info("dbt parse: %s", outcome.parse)
    for node in results.get("results", []):
        uid, status = node["unique_id"], str(node["status"])
        outcome.nodes[uid] = status
        if status in ("error", "fail", "runtime error"):
            outcome.failures.append(f"{uid}: {status}: {node.get('message')}")
        elif status == "warn":
            outcome.warned_rows += int(node.get("failures") or 0)
    if not outcome.success:
        if not outcome.failures:
            tail = [ln for ln in (done.stdout + done.stderr).splitlines() if ln.strip()][-3:]
            outcome.failures.append(f"exit {done.returncode}: " + " | ".join(tail))
        raise DbtBuildFailed("dbt build failed: " + "; ".join(outcome.failures))
    if not outcome.nodes:
        raise DbtBuildFailed(f"dbt build --select {select}: the selector matched no node of {project_dir}")
    log.info("dbt build: %d nodes, %s", len(outcome.nodes), json.dumps(outcome.nodes, sort_keys=True))
    return outcome
