"""`.github/scripts/verify_summary.py`: `deployer verify --json` -> Markdown for the job summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.github.helpers import SCRIPTS, load_script

verify_summary = load_script("verify_summary")

# The shape of `deployer verify --json` (deployer/verify.py, Verdict.as_dict).
LIVE = {
    "env": "staging",
    "release": "r-0123456789ab",
    "status": "live",
    "seconds": 187.4,
    "dags": {"orders_daily": "live", "customers_daily": "live"},
    "import_errors": [],
    "paused_leftovers": ["legacy_daily"],
    "no_dags": [],
}
BROKEN = {
    **LIVE,
    "status": "import_errors",
    "seconds": 64.0,
    "dags": {"orders_daily": "live", "customers_daily": "not parsed since the promotion"},
    "import_errors": [
        {"file": "dags/customers.py", "message": "KeyError: 'A|B' <x>"},
        {"file": "dags/revenue.py", "message": "ModuleNotFoundError: No module named `foo`"},
    ],
    "paused_leftovers": [],
}


def test_live_gives_the_seconds_the_dags_and_the_paused_leftovers() -> None:
    out = verify_summary.render(LIVE, 0)
    assert out.startswith("### Airflow: `r-0123456789ab` live in staging after 187 s (2 DAGs)\n")
    assert "DAGs: `customers_daily`, `orders_daily`" in out
    assert "Paused (their files left the release, history kept): legacy_daily" in out


def test_import_errors_are_a_table_of_file_and_error() -> None:
    out = verify_summary.render(BROKEN, 1)
    assert out.startswith(
        "### Airflow: `r-0123456789ab` in staging: 2 import error(s) (64 s after promotion)\n"
    )
    lines = out.splitlines()
    start = lines.index("| file | error |")
    assert lines[start + 2 : start + 4] == [
        "| dags/customers.py | KeyError: 'A\\|B' &lt;x&gt; |",
        "| dags/revenue.py | ModuleNotFoundError: No module named \\`foo\\` |",
    ]
    assert "| customers_daily | not parsed since the promotion |" in out
    assert "| orders_daily |" not in out  # only what is not live


def test_timeout_lists_what_is_not_live() -> None:
    out = verify_summary.render({**LIVE, "status": "timeout", "dags": {"orders_daily": "missing"}}, 1)
    assert out.startswith("### Airflow: `r-0123456789ab` not live in staging (187 s after promotion)\n")
    assert "| orders_daily | missing |" in out


def test_no_answer_still_says_the_check_did_not_pass(tmp_path: Path) -> None:
    empty = tmp_path / "verify.json"
    empty.write_text("")
    proc = run(empty, "--exit-code", "2")
    assert proc.returncode == 0
    assert proc.stdout.startswith("### Airflow: not verified (exit code 2)\n")


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "verify.json"
    bad.write_text("[1, 2]")
    proc = run(bad)
    assert proc.returncode == 2 and proc.stderr.startswith(f"error: {bad}: expected a JSON object")
    bad.write_text("{not json")
    assert "not a JSON answer of deployer verify" in run(bad).stderr
    missing = run(tmp_path / "nope.json")
    assert missing.returncode == 2 and "cannot read" in missing.stderr and "Traceback" not in missing.stderr


def test_the_cli_prints_what_render_returns(tmp_path: Path) -> None:
    path = tmp_path / "verify.json"
    path.write_text(json.dumps(LIVE))
    assert run(path).stdout == verify_summary.render(LIVE)


def run(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / "verify_summary.py"), str(path), *extra],
        capture_output=True,
        text=True,
        check=False,
    )
