"""`make check-workflows`: the GitHub Actions workflows, composite actions and pre-commit config, linted.

    python -m policies.workflows [--root DIR]

Runs, from the locked tool environment (`tools/lint/.venv`):
- zizmor, offline, at its default ("regular") persona, on `.github/` and `.pre-commit-config.yaml`;
- check-jsonschema with its built-in GitHub schemas: `vendor.github-workflows` on every workflow,
  `vendor.github-actions` on every composite action;
- `pre-commit validate-config` on `.pre-commit-config.yaml`.

Passes only with zero findings. Findings print one line each (`file:line: rule (severity): what`)
and exit 1; a missing tool or folder is one line and exit 2. actionlint is not run: it ships no
wheel and its build downloads a binary, which this project's machines cannot do.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
LINT_BIN = REPO_ROOT / "tools" / "lint" / ".venv" / "bin"
TOOL_TIMEOUT_SECONDS = 300


class SetupError(Exception):
    """A tool or an input is missing: exit 2."""


@dataclass(frozen=True)
class Targets:
    """The files this check covers under one repository root."""

    root: Path = field(metadata={"doc": "Repository root the paths are relative to."})
    workflows: list[Path] = field(metadata={"doc": "`.github/workflows/*.yml|yaml`."})
    actions: list[Path] = field(metadata={"doc": "Composite actions: `.github/actions/**/action.yml|yaml`."})
    precommit: Path | None = field(metadata={"doc": "`.pre-commit-config.yaml`, when present."})


def find_targets(root: Path) -> Targets:
    """Collect the workflow, action and pre-commit files under `root`; refuse a root without workflows."""
    workflows_dir = root / ".github" / "workflows"
    workflows = sorted(p for p in workflows_dir.glob("*") if p.suffix in (".yml", ".yaml") and p.is_file())
    if not workflows:
        raise SetupError(f"{workflows_dir}: no workflow files (*.yml)")
    actions_dir = root / ".github" / "actions"
    actions = sorted(p for p in actions_dir.rglob("action.y*ml") if p.suffix in (".yml", ".yaml"))
    precommit = root / ".pre-commit-config.yaml"
    return Targets(root, workflows, actions, precommit if precommit.is_file() else None)


def _tool(name: str, bin_dir: Path) -> str:
    path = bin_dir / name
    if not path.is_file():
        raise SetupError(f"{path}: not installed (run `make setup`, which syncs tools/lint/uv.lock)")
    return str(path)


def _run(args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            list(args), cwd=cwd, capture_output=True, text=True, timeout=TOOL_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        raise SetupError(f"{Path(args[0]).name}: no answer within {TOOL_TIMEOUT_SECONDS} s") from None


def _relative(targets: Targets, paths: Sequence[Path]) -> list[str]:
    return [str(p.relative_to(targets.root)) for p in paths]


def _zizmor_line(finding: dict[str, Any]) -> str:
    rule = finding.get("ident", "?")
    severity = str(finding.get("determinations", {}).get("severity", "?")).lower()
    where, what = "?", finding.get("desc", "")
    for loc in finding.get("locations", []):
        symbolic = loc.get("symbolic", {})
        if symbolic.get("kind") != "Primary":
            continue
        path = symbolic.get("key", {}).get("Local", {}).get("verbatim_path", "?")
        row = loc.get("concrete", {}).get("location", {}).get("start_point", {}).get("row", -1)
        where = f"{path}:{row + 1}"
        what = f"{what}: {symbolic.get('annotation', '')}".rstrip(": ")
        break
    return f"{where}: zizmor {rule} ({severity}): {what}"


def run_zizmor(targets: Targets, bin_dir: Path = LINT_BIN) -> list[str]:
    """zizmor --offline at the default persona; one line per finding that is not explicitly ignored."""
    inputs = _relative(targets, [*targets.workflows, *targets.actions])
    if targets.precommit:
        inputs.append(targets.precommit.name)
    tool = _tool("zizmor", bin_dir)
    proc = _run([tool, "--offline", "--no-progress", "--format", "json", *inputs], targets.root)
    try:
        findings = json.loads(proc.stdout or "[]")
    except json.JSONDecodeError:
        findings = None
    if not isinstance(findings, list):
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise SetupError(f"zizmor failed (exit {proc.returncode}): {last}")
    lines = [_zizmor_line(f) for f in findings if isinstance(f, dict) and not f.get("ignored")]
    if proc.returncode != 0 and not lines:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise SetupError(f"zizmor failed (exit {proc.returncode}): {last}")
    return lines


def run_schema(targets: Targets, schema: str, files: Sequence[Path], bin_dir: Path = LINT_BIN) -> list[str]:
    """check-jsonschema with one built-in schema; one line per schema violation."""
    if not files:
        return []
    tool = _tool("check-jsonschema", bin_dir)
    proc = _run(
        [tool, "--builtin-schema", schema, "--output-format", "text", *_relative(targets, files)],
        targets.root,
    )
    if proc.returncode == 0:
        return []
    detail = [ln.strip() for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    detail = [ln for ln in detail if not ln.startswith("Schema validation errors were encountered")]
    return [f"check-jsonschema {schema}: {ln}" for ln in detail] or [f"check-jsonschema {schema}: failed"]


def run_precommit_validate(targets: Targets, bin_dir: Path = LINT_BIN) -> list[str]:
    """`pre-commit validate-config` on the pre-commit config, if there is one."""
    if targets.precommit is None:
        return []
    proc = _run([_tool("pre-commit", bin_dir), "validate-config", targets.precommit.name], targets.root)
    if proc.returncode == 0:
        return []
    detail = [ln.strip() for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    return [f"{targets.precommit.name}: pre-commit validate-config: {' '.join(detail)[:500]}"]


def check(root: Path, bin_dir: Path = LINT_BIN) -> tuple[Targets, list[str]]:
    """Every check on `root`; the targets and the findings (empty when clean)."""
    targets = find_targets(root)
    findings = run_zizmor(targets, bin_dir)
    findings += run_schema(targets, "vendor.github-workflows", targets.workflows, bin_dir)
    findings += run_schema(targets, "vendor.github-actions", targets.actions, bin_dir)
    findings += run_precommit_validate(targets, bin_dir)
    return targets, findings


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: exit 0 when clean, 1 with findings, 2 when a tool or input is missing."""
    parser = argparse.ArgumentParser(prog="python -m policies.workflows", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root (default: this repo)")
    args = parser.parse_args(argv)
    root: Path = args.root.resolve()
    try:
        targets, findings = check(root)
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for line in findings:
        print(line)
    checked = len(targets.workflows) + len(targets.actions) + (1 if targets.precommit else 0)
    if findings:
        print(f"check-workflows: {len(findings)} finding(s) in {checked} file(s)", file=sys.stderr)
        return 1
    print(
        f"check-workflows: ok, {len(targets.workflows)} workflow(s), {len(targets.actions)} action(s)"
        f"{', pre-commit config' if targets.precommit else ''}: zizmor (offline), check-jsonschema"
        f"{', pre-commit validate-config' if targets.precommit else ''} found nothing"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
