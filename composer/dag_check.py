"""Load one DAG file with Airflow's DagBag in a fresh interpreter and report on it as JSON.

    python dagbag_probe.py DAG_FILE OUT_JSON

Run in a subprocess so `sys.modules` shows exactly what parsing the file imported.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

HEAVY = ("pyspark", "dbt", "great_expectations")


def main() -> None:
    dag_file, out = sys.argv[1], sys.argv[2]
    # The DAG folder is on sys.path, as Airflow's bundle loader and Composer put it.
    folder = Path(dag_file) if Path(dag_file).is_dir() else Path(dag_file).parent
    sys.path.insert(0, str(folder))
    try:  # Airflow >= 3.2 (ENVIRONMENT.md, measured on 3.3)
        from airflow.dag_processing.dagbag import DagBag
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
    }
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(result, fh, default=str)


if __name__ == "__main__":
    main()
