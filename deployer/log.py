"""Structured logs (issue 10) and the console.

With `--log-format json` every action logs one JSON line to stderr: `{"time", "level", "event", "env",
"release", ...fields}`. With `text` (the default) the commands print for people and these events stay
silent, except warnings, which are printed as one line either way.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]
_format: LogFormat = "text"


def set_format(fmt: LogFormat) -> None:
    """Choose the log format for this process."""
    global _format
    _format = fmt


def is_json() -> bool:
    """Whether structured JSON logs are on."""
    return _format == "json"


def event(name: str, level: str = "info", **fields: Any) -> None:
    """Log one structured event (one JSON line on stderr when the format is json)."""
    if _format == "json":
        record = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), "level": level, "event": name}
        record.update(fields)
        sys.stderr.write(json.dumps(record, default=str, sort_keys=False) + "\n")
        sys.stderr.flush()
    elif level == "warning":
        detail = fields.get("message") or " ".join(f"{k}={v}" for k, v in fields.items())
        sys.stderr.write(f"warning: {detail}\n")
        sys.stderr.flush()
