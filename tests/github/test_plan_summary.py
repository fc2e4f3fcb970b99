"""`.github/scripts/plan_summary.py`: `deployer plan --json` -> Markdown for the job summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.github.helpers import SCRIPTS, load_script

plan_summary = load_script("plan_summary")

# The shape of `deployer plan --json` (deployer/plan.py, Plan.as_dict).
PLAN = {
    "env": "staging",
    "release": "r-0123456789ab",
    "digest": "sha256:" + "0" * 64,
    "current_release": "r-ba9876543210",
    "summary": {"upload": 2, "change": 0, "archive": 1, "unchanged": 3, "bytes": 1834},
    "upload": [
        {"phase": "dags", "uri": "gs://acme-stg-composer/dags/orders_daily.py", "size": 1834},
        {"phase": "artifacts", "uri": "gs://acme-stg-artifacts/releases/r-0123456789ab/jobs/orders.zip"},
    ],
    "change": [],
    "archive": [
        {
            "uri": "gs://acme-stg-composer/dags/old|legacy.py",
            "to": "gs://x/archive/2026-11-25/r-ba9876543210/dags/old|legacy.py",
        }
    ],
    "missing_buckets": [],
    "domains": {
        "customers": {
            "version": "1.0",
            "owner": "crm-data",
            "dags": ["customers_daily", "customers_freshness"],
        },
        "revenue": {"version": "2.1", "owner": "finance-analytics", "dags": ["revenue_daily"]},
    },
    "switched_off_domains": ["orders"],
    "runtime_config": {"schema_version": 2, "dbt": {"target": "staging"}},
}


def table_rows(markdown: str, heading: str) -> list[list[str]]:
    """The body rows of the table under `heading` (cells split on unescaped pipes)."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [c.strip() for c in line.strip("|").replace("\\|", "\0").split("|")]
        rows.append([c.replace("\0", "\\|") for c in cells])
    return rows[2:] if rows and rows[1][0] == "---" else rows


def test_heading_scalars_counts_and_one_table_per_list() -> None:
    out = plan_summary.render(PLAN)
    assert out.startswith("### Release plan: r-0123456789ab → staging\n")
    assert table_rows(out, "| field |") == [
        ["env", "staging"],
        ["release", "r-0123456789ab"],
        ["current_release", "r-ba9876543210"],
        ["digest", "sha256:" + "0" * 64],
    ]
    assert "| upload | change | archive | unchanged | bytes |" in out
    assert table_rows(out, "#### summary") == [["2", "0", "1", "3", "1834"]]
    assert "#### upload (2)" in out and "#### archive (1)" in out and "#### change (0)" in out
    uploads = table_rows(out, "#### upload")
    assert uploads[0] == ["dags", "gs://acme-stg-composer/dags/orders_daily.py", "1834"]
    assert uploads[1][2] == ""  # a key missing in one item is an empty cell, not a shifted row
    assert "| phase | uri | size |" in out


def test_one_row_per_domain_deployed() -> None:
    out = plan_summary.render(PLAN)
    assert "#### domains (2)" in out and "| name | version | owner | dags |" in out
    assert table_rows(out, "#### domains") == [
        ["customers", "1.0", "crm-data", "customers_daily, customers_freshness"],
        ["revenue", "2.1", "finance-analytics", "revenue_daily"],
    ]
    assert table_rows(out, "#### switched_off_domains") == [["orders"]]
    # The runtime config (nested deeper) stays a collapsed JSON block.
    assert "<details><summary>runtime_config</summary>" in out


def test_cells_cannot_break_the_table() -> None:
    out = plan_summary.render(PLAN)
    archive = table_rows(out, "#### archive")
    assert archive == [
        [
            "gs://acme-stg-composer/dags/old\\|legacy.py",
            "gs://x/archive/2026-11-25/r-ba9876543210/dags/old\\|legacy.py",
        ]
    ]
    hostile = plan_summary.render({"env": "x", "release": "y", "files": [{"path": "a\nb<script>`x`"}]})
    assert "<script>" not in hostile and "a b&lt;script&gt;\\`x\\`" in hostile


def test_nested_objects_go_into_a_collapsed_block() -> None:
    out = plan_summary.render(PLAN)
    block = out.split("<details><summary>runtime_config</summary>", 1)[1].split("</details>", 1)[0]
    assert json.loads(block.strip().removeprefix("```json").removesuffix("```")) == PLAN["runtime_config"]


def test_grouped_lists_and_long_lists_are_cut() -> None:
    plan = {"env": "prod", "release": "r-0", "changes": {"upload": [f"f{i}" for i in range(7)], "delete": []}}
    out = plan_summary.render(plan, max_rows=5)
    assert "#### changes: upload (7)" in out and "#### changes: delete (0)" in out
    assert table_rows(out, "#### changes: upload") == [[f"f{i}"] for i in range(5)]
    assert "_… and 2 more_" in out


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / "plan_summary.py"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def test_cli_reads_a_file_or_stdin(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(PLAN), encoding="utf-8")
    from_file = run(str(path))
    assert from_file.returncode == 0 and from_file.stdout == plan_summary.render(PLAN)
    assert run("-", stdin=json.dumps(PLAN)).stdout == from_file.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("{not json", "not a JSON plan"),
        ("[1, 2]", "expected a JSON object, got list"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "plan.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    proc = run(str(path))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and message in proc.stderr and str(path) in proc.stderr


def test_order_does_not_depend_on_key_order() -> None:
    """The deployer prints its JSON with sorted keys; the summary reads the same either way."""
    resorted = json.loads(json.dumps(PLAN, sort_keys=True))
    out = plan_summary.render(resorted)
    assert out == plan_summary.render(PLAN)
    sections = [line for line in out.splitlines() if line.startswith("#### ")]
    assert sections[:6] == [
        "#### summary",
        "#### domains (2)",
        "#### switched_off_domains (1)",
        "#### upload (2)",
        "#### change (0)",
        "#### archive (1)",
    ]
    assert "| current_release | (none) |" in plan_summary.render({**PLAN, "current_release": None})
