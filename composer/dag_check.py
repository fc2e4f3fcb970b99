"""Load a DAG file (or folder) with Airflow's DagBag in a fresh interpreter and report on it.

    python -m composer.dag_check DAG_FILE_OR_FOLDER [--cold] [--json]

`dag_report(path)` runs the load in a subprocess, so `sys.modules` shows exactly what parsing the
file imported, and returns: import errors, per-file parse time (DagBag's own stats), heavy modules
imported at parse time, and per DAG its tags, schedule, cycle check and tasks (owner, retries,
failure callback, downstream; for operators with a Dataproc `job`, the job rendered for ds
2026-01-15). The DAG-integrity tests and the parse-time benchmark use it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent

HEAVY = ("pyspark", "dbt", "great_expectations")


def _pre_import(path: Path) -> None:
    """What Airflow's DAG processor does before each parse ([dag_processor] parsing_pre_import_modules,
    on by default): import the `airflow.*` modules a DAG file imports at top level, once, in its
    long-lived parent process, so the parse itself does not pay for them."""
    import importlib

    from airflow.utils.file import iter_airflow_imports

    files = sorted(path.glob("*.py")) if path.is_dir() else [path]
    for file in files:
        for module in iter_airflow_imports(str(file)):
            try:
                importlib.import_module(module)
            except Exception as exc:  # Airflow only logs these too; the parse reports the real error
                print(f"pre-import of {module} failed: {exc}", file=sys.stderr)


def _probe(dag_file: str, out: str, pre_import: bool) -> None:
    # The DAG folder is on sys.path, as Airflow's bundle loader and Composer put it.
    folder = Path(dag_file) if Path(dag_file).is_dir() else Path(dag_file).parent
    sys.path.insert(0, str(folder))
    started = time.perf_counter()
    if pre_import:
        _pre_import(Path(dag_file))
    pre_import_seconds = time.perf_counter() - started
    try:  # Airflow >= 3.2 (ENVIRONMENT.md, measured on 3.3)
        from airflow.dag_processing.dagbag import DagBag  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # Airflow 3.1, what Composer 3 runs (composer-3-airflow-3.1.8)
        from airflow.models.dagbag import DagBag

    started = time.perf_counter()
    bag = DagBag(dag_folder=dag_file)
    wall = time.perf_counter() - started
    stats = [
        {"file": s.file, "duration": s.duration.total_seconds(), "dags": s.dag_num} for s in bag.dagbag_stats
    ]
    dags: dict[str, Any] = {}
    for dag_id, dag in bag.dags.items():
        try:
            dag.check_cycle()
            cycle = None
        except Exception as exc:
            cycle = f"{type(exc).__name__}: {exc}"
        tasks = {}
        for task in dag.tasks:
            info: dict[str, Any] = {
                "type": type(task).__name__,
                "mro": [c.__name__ for c in type(task).__mro__],
                "owner": task.owner,
                "retries": task.retries,
                "has_failure_callback": bool(task.on_failure_callback),
                "downstream": sorted(task.downstream_task_ids),
            }
            if hasattr(task, "job"):
                info["job"] = task.job
                info["rendered_job"] = task.render_template(task.job, {"ds": "2026-01-15"})
                info["metrics_uri"] = task.render_template(
                    getattr(task, "metrics_uri", ""), {"ds": "2026-01-15"}
                )
            tasks[task.task_id] = info
        dags[dag_id] = {
            "tags": sorted(dag.tags),
            "catchup": dag.catchup,
            "schedule": str(dag.timetable.summary),
            "cycle": cycle,
            "tasks": tasks,
        }
    heavy = sorted({m.split(".")[0] for m in sys.modules if m.split(".")[0] in HEAVY})
    result = {
        "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
        "dags": dags,
        "stats": stats,
        "wall_seconds": wall,
        "heavy_modules": heavy,
        "pre_imported": pre_import,
        "pre_import_seconds": pre_import_seconds,
    }
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(result, fh, default=str)


def dag_report(
    path: Path,
    airflow_home: Path | None = None,
    pre_import: bool = True,
    timeout_seconds: int = 300,
    runtime_config: Path | None = None,
) -> dict[str, Any]:
    """Load `path` through DagBag in a fresh interpreter (the DAG folder on sys.path) and report.

    `runtime_config`: the runtime config the DAG files read (`PLATFORM_RUNTIME_CONFIG`); without it
    they read the one beside them, if any.

    With `pre_import` (default) the `airflow.*` modules the files import at top level are imported
    first, as Airflow's DAG processor does, so the parse times are what the DAG processor sees;
    without it they include those imports (a cold interpreter).
    """
    path = path.resolve()
    with tempfile.TemporaryDirectory(prefix="dag-check-") as tmp:
        out = Path(tmp) / "report.json"
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(airflow_home or Path(tmp) / "airflow-home"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(path if path.is_dir() else path.parent),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        env.pop("PLATFORM_RUNTIME_CONFIG", None)
        env.pop("STORAGE_EMULATOR_HOST", None)  # DAG parsing must not reach any store
        if runtime_config is not None:
            env["PLATFORM_RUNTIME_CONFIG"] = str(runtime_config.resolve())
        done = subprocess.run(
            [sys.executable, "-m", "composer.dag_check", "--probe", str(path), str(out), str(pre_import)],
            env=env,
            cwd=str(REPO_ROOT),
            capture_output=True,
            text=True,
            timeout=timeout_seconds,
            check=False,
        )
        if done.returncode != 0 or not out.is_file():
            tail = [line for line in done.stderr.splitlines() if line.strip()][-5:]
            raise RuntimeError(f"DagBag probe of {path} failed (exit {done.returncode}): " + " | ".join(tail))
        report: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return report


def main(argv: list[str] | None = None) -> int:
    """CLI: print each file's parse time, DAGs and import errors (or the whole report with --json)."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--probe"] and len(args) == 4:
        _probe(args[1], args[2], args[3] == "True")
        return 0
    as_json, cold = "--json" in args, "--cold" in args
    paths = [a for a in args if a not in ("--json", "--cold")]
    if len(paths) != 1 or not Path(paths[0]).exists():
        usage = "python -m composer.dag_check DAG_FILE_OR_FOLDER [--cold] [--json]"
        print(f"error: usage: {usage}", file=sys.stderr)
        return 2
    report = dag_report(Path(paths[0]), pre_import=not cold)
    if as_json:
        print(json.dumps(report, indent=2, default=str))
    else:
        for stat in report["stats"]:
            print(f"{Path(stat['file']).name}: {stat['duration'] * 1000:.0f} ms, {stat['dags']} DAG(s)")
        for file, error in report["import_errors"].items():
            print(f"import error: {file}: {error.strip().splitlines()[-1]}")
        if report["heavy_modules"]:
            print(f"heavy modules imported at parse time: {', '.join(report['heavy_modules'])}")
    return 1 if report["import_errors"] or report["heavy_modules"] else 0


if __name__ == "__main__":
    sys.exit(main())
