"""Load a DAG folder with Airflow's own DagBag, in a subprocess with a throw-away AIRFLOW_HOME.

One mechanism for every caller (the release build's import check, the cross-layer checks): the
caller passes the probe script, which receives the DAG folder and a result path and writes JSON there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


class DagProbeError(Exception):
    """The probe process failed; the message is the last line it printed (or `no output`)."""


def run_dag_probe(script: str, dag_folder: Path, work: Path, extra_env: dict[str, str] | None = None) -> Any:
    """Run `script` (python -c) on `dag_folder` with scratch space in `work`; return the JSON it wrote."""
    result = work / "result.json"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(work / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dag_folder),
        "PYTHONDONTWRITEBYTECODE": "1",
        **(extra_env or {}),
    }
    env.pop("STORAGE_EMULATOR_HOST", None)  # DAG parsing must not reach any store
    proc = subprocess.run(
        [sys.executable, "-c", script, str(dag_folder), str(result)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if proc.returncode != 0 or not result.is_file():
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        raise DagProbeError(lines[-1] if lines else "no output")
    return json.loads(result.read_text(encoding="utf-8"))
