"""Turn `deployer plan --json` into Markdown for a job summary (`$GITHUB_STEP_SUMMARY`).

    deployer plan --env staging --release r-0123456789ab --json > plan.json
    python .github/scripts/plan_summary.py plan.json >> "$GITHUB_STEP_SUMMARY"

The plan's scalar fields (environment, release, digest, current release) become a two-column table;
an object of scalars (the `summary` counts) a one-row table; an object of flat records (the `domains`
deployed: version, owner, DAG ids) one row per key; every list (upload, change, archive, ...) one
table of its items, with the union of the items' keys as columns. Other nested objects
(the rendered runtime config) go into a collapsed JSON block. Cells are escaped so a file name
cannot break the table, and long lists are cut at `--max-rows` with a count of what was left out.
Standard library only.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from markdown_table import cell, table

DEFAULT_MAX_ROWS = 100
# `deployer plan --json` sorts its keys; these put what a reviewer reads first, first. Names not
# listed keep their place after the listed ones.
HEADLINE_FIELDS = ("env", "environment", "release", "current_release", "current", "digest")
SECTION_ORDER = (
    "summary",
    "domains",
    "switched_off_domains",
    "upload",
    "change",
    "archive",
    "missing_buckets",
    "counters",
)
COLUMN_ORDER = (
    "name",
    "version",
    "owner",
    "dags",
    "phase",
    "upload",
    "change",
    "archive",
    "unchanged",
    "bytes",
    "uri",
    "path",
    "to",
    "size",
)


def _ordered(keys: Iterable[Any], preferred: tuple[str, ...]) -> list[Any]:
    rank = {name: i for i, name in enumerate(preferred)}
    return sorted(keys, key=lambda k: rank.get(k, len(rank)))


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _is_flat(value: Any) -> bool:
    """A scalar, or a list of scalars (shown as one comma-separated cell)."""
    return _is_scalar(value) or (isinstance(value, list) and all(map(_is_scalar, value)))


def _is_record_map(value: Any) -> bool:
    """An object whose every value is an object of flat fields: one table row per key."""
    return (
        isinstance(value, Mapping)
        and bool(value)
        and all(isinstance(v, Mapping) and all(map(_is_flat, v.values())) for v in value.values())
    )


def record_section(title: str, records: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """A heading and one row per record, its key in the `name` column."""
    columns = _ordered(["name", *_columns(list(records.values()))], COLUMN_ORDER)
    rows = []
    for name, record in records.items():
        fields = {"name": name, **record}
        rows.append(
            [", ".join(map(str, v)) if isinstance(v, list) else v for v in (fields.get(c) for c in columns)]
        )
    return [f"#### {cell(title)} ({len(records)})", "", *table(columns, rows), ""]


def _columns(items: list[Any]) -> list[str]:
    columns: list[str] = []
    for item in items:
        if isinstance(item, Mapping):
            columns += [k for k in item if k not in columns]
    return _ordered(columns, COLUMN_ORDER)


def list_section(title: str, items: list[Any], max_rows: int) -> list[str]:
    """A heading and a table for one list of the plan (items may be objects or scalars)."""
    lines = [f"#### {cell(title)} ({len(items)})", ""]
    if not items:
        return [*lines, "_nothing_", ""]
    shown = items[:max_rows]
    columns = _columns(shown)
    if columns:
        rows = [[item.get(c) for c in columns] if isinstance(item, Mapping) else [item] for item in shown]
        lines += table(columns, rows)
    else:
        lines += table(["item"], [[item] for item in shown])
    if len(items) > max_rows:
        lines += ["", f"_… and {len(items) - max_rows} more_"]
    return [*lines, ""]


def render(plan: Mapping[str, Any], max_rows: int = DEFAULT_MAX_ROWS) -> str:
    """The whole summary for one plan document."""
    env = plan.get("env", plan.get("environment", "?"))
    release = plan.get("release", "?")
    lines = [f"### Release plan: {cell(release)} → {cell(env)}", ""]

    scalars = [k for k in _ordered(plan, HEADLINE_FIELDS) if _is_scalar(plan[k])]
    if scalars:
        rows = [[k, "(none)" if plan[k] is None else plan[k]] for k in scalars]
        lines += [*table(["field", "value"], rows), ""]

    details: list[tuple[str, Any]] = []
    for key in _ordered(plan, SECTION_ORDER):
        value = plan[key]
        if isinstance(value, list):
            lines += list_section(key, value, max_rows)
        elif isinstance(value, Mapping) and value and all(map(_is_scalar, value.values())):
            columns = _ordered(value, COLUMN_ORDER)
            lines += [f"#### {cell(key)}", "", *table(columns, [[value[c] for c in columns]]), ""]
        elif _is_record_map(value):
            lines += record_section(key, value)
        elif isinstance(value, Mapping):
            if value and all(isinstance(v, list) for v in value.values()):
                for sub, items in value.items():
                    lines += list_section(f"{key}: {sub}", items, max_rows)
            else:
                details.append((key, value))
    for key, value in details:
        body = json.dumps(value, indent=2, sort_keys=True).replace("```", "`\u200b``")
        lines += [f"<details><summary>{cell(key)}</summary>", "", "```json", body, "```", ""]
        lines += ["</details>", ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command line: print the Markdown, or one error line and exit code 2."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("plan", type=Path, help="output of `deployer plan --json` (- for stdin)")
    parser.add_argument("--max-rows", type=int, default=DEFAULT_MAX_ROWS, help="rows shown per list")
    args = parser.parse_args(argv)
    if args.max_rows < 1:
        print("error: --max-rows: must be at least 1", file=sys.stderr)
        return 2
    name = str(args.plan)
    try:
        text = sys.stdin.read() if name == "-" else args.plan.read_text(encoding="utf-8")
        plan = json.loads(text)
    except OSError as exc:
        print(f"error: {name}: cannot read ({exc.strerror})", file=sys.stderr)
        return 2
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        print(f"error: {name}: not a JSON plan ({exc})", file=sys.stderr)
        return 2
    if not isinstance(plan, dict):
        print(f"error: {name}: expected a JSON object, got {type(plan).__name__}", file=sys.stderr)
        return 2
    sys.stdout.write(render(plan, args.max_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
