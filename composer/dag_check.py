"""Load a DAG file (or folder) with Airflow's DagBag in a fresh interpreter and report on it.

    python -m composer.dag_check DAG_FILE_OR_FOLDER [--runtime-config FILE] [--cold] [--json]

The one DagBag loader of the repo. `dag_report(path, runtime_config=...)` runs the load in a
subprocess, so `sys.modules` shows exactly what parsing the file imported, and returns: import errors,
per-file parse time (DagBag's own stats), heavy modules imported at parse time, and per DAG its tags,
schedule (and the assets it waits for), paused-on-creation, cycle check and tasks (owner, retries,
failure callback, downstream, outlets, the arguments of Python tasks; for operators with a Dataproc
`job`, the job rendered for ds 2026-01-15). `dagbag_class` and `pre_import` are what the parse-time
benchmark's forked probe (`bench.dag_probe`) loads with. The release build, the DAG-integrity tests
and the benchmark use them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent

HEAVY = ("pyspark", "dbt", "great_expectations")
# Packages of this repo that Composer does not have: a DAG file importing one fails there.
NOT_ON_COMPOSER = ("platform_model", "deployer", "dataproc_jobs", "policies", "infra", "contracts", "bench")


def dagbag_class() -> Any:
    """Airflow's DagBag class (its module moved in Airflow 3.2)."""
    try:  # Airflow >= 3.2
        from airflow.dag_processing.dagbag import DagBag  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # Airflow 3.1, what Composer 3 runs (composer-3-airflow-3.1.8)
        from airflow.models.dagbag import DagBag
    return DagBag


def pre_import(files: list[Path]) -> float:
    """What Airflow's DAG processor does before each parse ([dag_processor] parsing_pre_import_modules,
    on by default): import the `airflow.*` modules the DAG files import at top level, once, in its
    long-lived parent process, so the parse itself does not pay for them. Returns the seconds spent."""
    import importlib

    from airflow.utils.file import iter_airflow_imports

    started = time.perf_counter()
    for file in files:
        for module in iter_airflow_imports(str(file)):
            try:
                importlib.import_module(module)
            except Exception as exc:  # Airflow only logs these too; the parse reports the real error
                print(f"pre-import of {module} failed: {exc}", file=sys.stderr)
    return time.perf_counter() - started


def dag_files(folder: Path) -> list[Path]:
    """The DAG files of a DAG folder: its top-level `*.py` (the library lives in a package that
    `.airflowignore` keeps out of the DAG processor)."""
    return sorted(folder.glob("*.py"))


def _task_info(task: Any) -> dict[str, Any]:
    info: dict[str, Any] = {
        "type": type(task).__name__,
        "mro": [c.__name__ for c in type(task).__mro__],
        "owner": task.owner,
        "retries": task.retries,
        "has_failure_callback": bool(task.on_failure_callback),
        "downstream": sorted(task.downstream_task_ids),
        "outlets": [o.uri for o in task.outlets if hasattr(o, "uri")],
        # lineage tables (OpenLineage datasets): "namespace name" of each inlet and outlet
        "lineage": {
            side: [f"{t.cluster} {t.database}.{t.name}" for t in getattr(task, side) if hasattr(t, "cluster")]
            for side in ("inlets", "outlets")
        },
    }
    if isinstance(getattr(task, "op_kwargs", None), dict):
        info["op_kwargs"] = task.op_kwargs
    if hasattr(task, "job"):
        info["job"] = task.job
        info["rendered_job"] = task.render_template(task.job, {"ds": "2026-01-15"})
        info["metrics_uri"] = task.render_template(getattr(task, "metrics_uri", ""), {"ds": "2026-01-15"})
    return info


def _schedule_assets(dag: Any) -> dict[str, Any] | None:
    condition = getattr(dag.timetable, "asset_condition", None)
    assets = [asset.uri for _key, asset in condition.iter_assets()] if condition is not None else []
    return {"condition": type(condition).__name__, "assets": assets} if assets else None


def _parse(dag_file: str, with_pre_import: bool, pre_import_seconds: float) -> dict[str, Any]:
    """One DagBag load of `dag_file` in this process, and its report."""
    started = time.perf_counter()
    bag = dagbag_class()(dag_folder=dag_file)
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
        dags[dag_id] = {
            "file": Path(dag.fileloc).name,
            "tags": sorted(dag.tags),
            "catchup": dag.catchup,
            "schedule": str(dag.timetable.summary),
            "schedule_assets": _schedule_assets(dag),
            "paused": dag.is_paused_upon_creation,
            "description": dag.description,
            "cycle": cycle,
            "tasks": {task.task_id: _task_info(task) for task in dag.tasks},
        }
    top_level = {m.split(".")[0] for m in sys.modules}
    return {
        "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
        "dags": dags,
        "stats": stats,
        "wall_seconds": wall,
        "heavy_modules": sorted(top_level & set(HEAVY)),
        "repo_modules": sorted(top_level & set(NOT_ON_COMPOSER)),
        "pre_imported": with_pre_import,
        "pre_import_seconds": pre_import_seconds,
    }


def _use_config(config: str) -> None:
    if config:
        os.environ["PLATFORM_RUNTIME_CONFIG"] = config
    else:
        os.environ.pop("PLATFORM_RUNTIME_CONFIG", None)


def _parse_forked(dag_file: str, config: str, out: Path, with_pre_import: bool, pre_seconds: float) -> None:
    """`_parse` with runtime config `config` ("" for none) in a forked child of this process, which has
    imported Airflow (and pre-imported): the child starts from exactly this module state and its own
    imports, DAG modules and runtime config die with it, so one parse cannot leak into the next (this is
    also how Airflow's DAG processor parses: in a fork of its pre-imported manager). The report goes to
    `out`. (Where `fork` is missing the parse runs in this process: its imports stay cached.)"""
    started = time.perf_counter()
    if not hasattr(os, "fork"):  # pragma: no cover - Windows: in this process (its imports stay cached)
        _use_config(config)
        report = _parse(dag_file, with_pre_import, pre_seconds)
        report["seconds"] = time.perf_counter() - started
        out.write_text(json.dumps(report, default=str), encoding="utf-8")
        return
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: parse, write the report, leave without the parent's exit handlers
        code = 0
        try:
            _use_config(config)
            report = _parse(dag_file, with_pre_import, pre_seconds)
            report["seconds"] = time.perf_counter() - started
            out.write_text(json.dumps(report, default=str), encoding="utf-8")
        except BaseException as exc:  # reported on stderr, the missing report fails the call
            print(f"DagBag load with runtime config {config or '(none)'} failed: {exc!r}", file=sys.stderr)
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    os.waitpid(pid, 0)


def _probe(dag_file: str, out_dir: str, with_pre_import: bool, configs: dict[str, str]) -> None:
    # The DAG folder is on sys.path, as Airflow's bundle loader and Composer put it.
    path = Path(dag_file)
    folder = path if path.is_dir() else path.parent
    sys.path.insert(0, str(folder))
    pre_import_seconds = pre_import(dag_files(path) if path.is_dir() else [path]) if with_pre_import else 0.0
    if with_pre_import:
        dagbag_class()  # Airflow itself, imported once for every load (without: each load is cold)
    for name, config in configs.items():
        _parse_forked(dag_file, config, Path(out_dir) / f"{name}.json", with_pre_import, pre_import_seconds)


def dag_reports(
    path: Path,
    runtime_configs: Sequence[Path | None],
    airflow_home: Path | None = None,
    pre_import: bool = True,
    timeout_seconds: int = 300,
) -> list[dict[str, Any]]:
    """`dag_report` of `path` once per runtime config of `runtime_configs` (None: the one beside the
    files, if any), in ONE interpreter: it imports Airflow (and pre-imports) once, then loads the DAG
    folder in a fork of itself per runtime config, so each load starts from the same fresh module state.
    The reports are in the order of `runtime_configs`; `timeout_seconds` is per load."""
    path = path.resolve()
    configs = {str(i): str(c.resolve()) if c is not None else "" for i, c in enumerate(runtime_configs)}
    with tempfile.TemporaryDirectory(prefix="dag-check-") as tmp:
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(airflow_home or Path(tmp) / "airflow-home"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(path if path.is_dir() else path.parent),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        env.pop("PLATFORM_RUNTIME_CONFIG", None)
        env.pop("STORAGE_EMULATOR_HOST", None)  # DAG parsing must not reach any store
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "composer.dag_check",
                "--probe",
                str(path),
                tmp,
                str(pre_import),
                json.dumps(configs),
            ],
            env=env,
            cwd=str(REPO_ROOT),
            capture_output=True,
            text=True,
            timeout=timeout_seconds * max(1, len(configs)),
            check=False,
        )
        outs = [Path(tmp) / f"{name}.json" for name in configs]
        if done.returncode != 0 or not all(out.is_file() for out in outs):
            tail = [line for line in done.stderr.splitlines() if line.strip()][-5:]
            raise RuntimeError(f"DagBag probe of {path} failed (exit {done.returncode}): " + " | ".join(tail))
        reports: list[dict[str, Any]] = [json.loads(out.read_text(encoding="utf-8")) for out in outs]
    return reports


def dag_report(
    path: Path,
    airflow_home: Path | None = None,
    pre_import: bool = True,
    timeout_seconds: int = 300,
    runtime_config: Path | None = None,
) -> dict[str, Any]:
    """Load `path` through DagBag in a fresh interpreter (the DAG folder on sys.path) and report.

    `runtime_config`: the runtime config the DAG files read (`PLATFORM_RUNTIME_CONFIG`); without it
    they read the one beside them, if any. (`dag_reports` loads with several, in one interpreter.)

    With `pre_import` (default) the `airflow.*` modules the files import at top level are imported
    first, as Airflow's DAG processor does, so the parse times are what the DAG processor sees;
    without it they include those imports (a cold interpreter).
    """
    return dag_reports(path, [runtime_config], airflow_home, pre_import, timeout_seconds)[0]


def main(argv: list[str] | None = None) -> int:
    """CLI: print each file's parse time, DAGs and import errors (or the whole report with --json)."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--probe"] and len(args) == 5:
        _probe(args[1], args[2], args[3] == "True", json.loads(args[4]))
        return 0
    as_json, cold = "--json" in args, "--cold" in args
    config: Path | None = None
    if "--runtime-config" in args:
        at = args.index("--runtime-config")
        if at + 1 >= len(args) or not Path(args[at + 1]).is_file():
            print("error: --runtime-config: expected an existing runtime_config.json", file=sys.stderr)
            return 2
        config = Path(args[at + 1])
        args = args[:at] + args[at + 2 :]
    paths = [a for a in args if a not in ("--json", "--cold")]
    if len(paths) != 1 or not Path(paths[0]).exists():
        usage = "python -m composer.dag_check DAG_FILE_OR_FOLDER [--runtime-config FILE] [--cold] [--json]"
        print(f"error: usage: {usage}", file=sys.stderr)
        return 2
    report = dag_report(Path(paths[0]), pre_import=not cold, runtime_config=config)
    if as_json:
        print(json.dumps(report, indent=2, default=str))
    else:
        for stat in report["stats"]:
            print(f"{Path(stat['file']).name}: {stat['duration'] * 1000:.0f} ms, {stat['dags']} DAG(s)")
        for file, error in report["import_errors"].items():
            print(f"import error: {file}: {error.strip().splitlines()[-1]}")
        if report["heavy_modules"]:
            print(f"heavy modules imported at parse time: {', '.join(report['heavy_modules'])}")
        if report["repo_modules"]:
            print(f"modules Composer lacks imported at parse time: {', '.join(report['repo_modules'])}")
    return 1 if report["import_errors"] or report["heavy_modules"] or report["repo_modules"] else 0


if __name__ == "__main__":
    sys.exit(main())
