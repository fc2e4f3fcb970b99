"""`make check-workflows` (`python -m policies.workflows`): zero findings here, findings on bad trees."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from policies import workflows

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "policies.workflows", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_repository_has_zero_findings() -> None:
    proc = run()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("check-workflows: ok, 3 workflow(s), 1 action(s), pre-commit config")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the repository's workflows, action and pre-commit config to break."""
    shutil.copytree(ROOT / ".github", tmp_path / ".github")
    shutil.copy(ROOT / ".pre-commit-config.yaml", tmp_path / ".pre-commit-config.yaml")
    return tmp_path


def test_a_clean_copy_is_clean(tree: Path) -> None:
    _, findings = workflows.check(tree)
    assert findings == []


def test_zizmor_findings_name_file_line_and_rule(tree: Path) -> None:
    ci = tree / ".github" / "workflows" / "ci.yml"
    text = ci.read_text(encoding="utf-8")
    hostile = 'run: echo "${{ github.event.pull_request.head.ref }}" && make lint'
    ci.write_text(text.replace("run: make lint", hostile, 1), encoding="utf-8")
    action = tree / ".github" / "actions" / "setup" / "action.yml"
    text = action.read_text(encoding="utf-8")
    pinned = "actions/setup-java@dded0888837ed1f317902acf8a20df0ad188d165"
    action.write_text(text.replace(pinned, "actions/setup-java@v5"), encoding="utf-8")
    proc = run("--root", str(tree))
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert any(
        ln.startswith(".github/workflows/ci.yml:") and "zizmor template-injection" in ln for ln in lines
    ), lines
    assert any(ln.startswith(".github/actions/setup/action.yml:") and "unpinned-uses" in ln for ln in lines)
    assert "finding(s)" in proc.stderr


def test_schema_violations_are_findings(tree: Path) -> None:
    promote = tree / ".github" / "workflows" / "promote.yml"
    text = promote.read_text(encoding="utf-8")
    promote.write_text(text.replace("runs-on: ubuntu-24.04", "runs_on: ubuntu-24.04", 1), encoding="utf-8")
    _, findings = workflows.check(tree)
    assert findings and all(f.startswith("check-jsonschema vendor.github-workflows") for f in findings)
    assert any("promote.yml" in f for f in findings)


def test_a_broken_precommit_config_is_a_finding(tree: Path) -> None:
    (tree / ".pre-commit-config.yaml").write_text("repos:\n  - repo: local\n    hooks:\n      - id: x\n")
    _, findings = workflows.check(tree)
    assert [f.split(":")[0] for f in findings] == [".pre-commit-config.yaml"]


def test_missing_inputs_and_tools_are_exit_2(tree: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run("--root", str(empty))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "no workflow files" in proc.stderr
    with pytest.raises(workflows.SetupError, match="not installed"):
        workflows.check(tree, bin_dir=empty)
