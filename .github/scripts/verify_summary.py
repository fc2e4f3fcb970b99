"""Turn `deployer verify --json` into Markdown for a job summary (`$GITHUB_STEP_SUMMARY`).

    deployer verify --env staging --release r-0123456789ab --json > verify.json; code=$?
    python .github/scripts/verify_summary.py verify.json --exit-code "$code" >> "$GITHUB_STEP_SUMMARY"

Live: one line with the seconds from promotion to live, the DAGs, and the leftovers paused. Import
errors: a table of file and error. Not live in time: a table of the DAGs that are not live and why.
An empty or unreadable answer (verify stopped with a one-line error, exit 2) still gives a line with
the exit code, so the summary never hides that the check did not run. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from markdown_table import cell, table


def render(verdict: Mapping[str, Any] | None, exit_code: int | None = None) -> str:
    """The summary of one verify answer (None: verify printed no JSON)."""
    if not verdict:
        code = "" if exit_code is None else f" (exit code {exit_code})"
        return f"### Airflow: not verified{code}\n\n`deployer verify` gave no answer: see the step's log.\n"
    env, release = cell(verdict.get("env", "?")), cell(verdict.get("release", "?"))
    seconds = verdict.get("seconds")
    after = f"{seconds:.0f} s" if isinstance(seconds, int | float) else "? s"
    dags: Mapping[str, str] = verdict.get("dags") or {}
    status = verdict.get("status")
    if status == "live":
        lines = [f"### Airflow: `{release}` live in {env} after {after} ({len(dags)} DAGs)", ""]
        if dags:
            lines += ["DAGs: " + ", ".join(f"`{cell(d)}`" for d in sorted(dags)), ""]
        paused = verdict.get("paused_leftovers") or []
        if paused:
            lines += [
                "Paused (their files left the release, history kept): " + ", ".join(map(cell, paused)),
                "",
            ]
        no_dags = verdict.get("no_dags") or []
        if no_dags:
            lines += ["Files that declare no DAG here: " + ", ".join(map(cell, no_dags)), ""]
        return "\n".join(lines).rstrip() + "\n"
    errors = verdict.get("import_errors") or []
    if status == "import_errors":
        heading = (
            f"### Airflow: `{release}` in {env}: {len(errors)} import error(s) ({after} after promotion)"
        )
    else:
        heading = f"### Airflow: `{release}` not live in {env} ({after} after promotion)"
    lines = [heading, ""]
    if errors:
        lines += [*table(["file", "error"], [[e.get("file"), e.get("message")] for e in errors]), ""]
    waiting = [[dag, state] for dag, state in sorted(dags.items()) if state != "live"]
    if waiting:
        lines += [*table(["DAG", "state"], waiting), ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command line: print the Markdown (an empty file is reported, not an error); exit 2 on bad input."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("verdict", type=Path, help="output of `deployer verify --json`")
    parser.add_argument(
        "--exit-code", type=int, default=None, help="verify's exit code, shown when it gave no answer"
    )
    args = parser.parse_args(argv)
    try:
        text = args.verdict.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"error: {args.verdict}: cannot read ({exc.strerror})", file=sys.stderr)
        return 2
    verdict: Any = None
    if text.strip():
        try:
            verdict = json.loads(text)
        except json.JSONDecodeError as exc:
            print(f"error: {args.verdict}: not a JSON answer of deployer verify ({exc})", file=sys.stderr)
            return 2
        if not isinstance(verdict, dict):
            print(
                f"error: {args.verdict}: expected a JSON object, got {type(verdict).__name__}",
                file=sys.stderr,
            )
            return 2
    sys.stdout.write(render(verdict, args.exit_code))
    return 0


if __name__ == "__main__":
    sys.exit(main())
