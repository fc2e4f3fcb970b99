"""Structured log lines with stable fields: what monitoring, the demo and the tests read.

Each is one JSON object on one log line:
`{"event": "task_metrics", "domain", "dag_id", "task_id", "run_id", "logical_date", "records_in",
"records_out", "records_rejected", "duration_seconds"}`, `{"event": "gx_validation", "domain", "suite",
"success", "evaluated", "unsuccessful", ...}`, `{"event": "freshness", "domain", "lag_seconds",
"target_seconds", "fresh", ...}` and `{"event": "alert", "domain", ...}`. Standard library only, and
importing nothing of the library, so the monitoring tests can load this file on its own.
"""

from __future__ import annotations

import json
import logging
from typing import Any

log = logging.getLogger("pipelines.metrics")


def emit(event: str, **fields: Any) -> dict[str, Any]:
    """Log one structured line (`event` first, then the fields in the given order) and return it."""
    line = {"event": event, **fields}
    text = json.dumps(line, default=str)
    log.info(text)
    return line


def _context_value(context: Any, key: str) -> Any:
    try:
        return context[key]
    except (KeyError, TypeError):
        return None


def task_metrics(
    context: Any,
    domain: str,
    records_in: int,
    records_out: int,
    records_rejected: int,
    duration_seconds: float,
) -> dict[str, Any]:
    """Log the task's `task_metrics` line for the current task instance (`context` is Airflow's)."""
    ti = _context_value(context, "ti")
    logical_date = _context_value(context, "logical_date")
    return emit(
        "task_metrics",
        domain=domain,
        dag_id=getattr(ti, "dag_id", None),
        task_id=getattr(ti, "task_id", None),
        run_id=_context_value(context, "run_id"),
        logical_date=logical_date.isoformat() if hasattr(logical_date, "isoformat") else logical_date,
        records_in=int(records_in),
        records_out=int(records_out),
        records_rejected=int(records_rejected),
        duration_seconds=round(float(duration_seconds), 3),
    )
