"""Markdown for job summaries (`$GITHUB_STEP_SUMMARY`): one cell, one table, escaped so that no value
from a plan or an Airflow error can break the table or inject HTML. Standard library only; the summary
scripts beside it import it (a script's own folder is on its import path)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

MAX_CELL_CHARS = 300


def cell(value: Any) -> str:
    """One table cell: scalars as text (booleans as yes/no), anything else as compact JSON; cut to
    MAX_CELL_CHARS; backslashes, pipes, backticks and angle brackets escaped, whitespace runs one space."""
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, str | int | float):
        text = str(value)
    else:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    if len(text) > MAX_CELL_CHARS:
        text = text[: MAX_CELL_CHARS - 1] + "…"
    text = text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")
    text = text.replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(text.split())


def table(header: list[str], rows: Iterable[list[Any]]) -> list[str]:
    """A Markdown table, header and every row escaped by `cell`."""
    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines
