"""A module the deployer needs that cannot be imported stops it with one line and exit 2, never a skip."""

from __future__ import annotations

import shutil
from pathlib import Path

from platform_model import REPO_ROOT
from tests.deployer.helpers import deployer

PACKAGES = ("platform_model", "deployer", "policies", "infra", "composer", "dataproc_jobs", "contracts")


def copy_tree(tmp_path: Path) -> Path:
    """The packages of the repository, copied under `tmp_path` (to break one of them there)."""
    for package in PACKAGES:
        shutil.copytree(REPO_ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_broken_crosslayer_module_is_one_line_and_exit_2(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    (root / "policies" / "crosslayer" / "pii_tags.py").write_text(
        "raise ImportError('a broken cross-layer module')\n", encoding="utf-8"
    )
    # Every command that runs the checks refuses (the commands import them when they run: the help and
    # the commands that run no check, e.g. promote or lineage, need none of them).
    for args in (["release", "build"], ["check"]):
        proc = deployer(root, *args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, lines)
        assert "a broken cross-layer module" in lines[0], (args, lines)
    assert deployer(root, "--help").returncode == 0
    lineage = deployer(root, "lineage", "--release", "r-0123456789ab")
    assert lineage.returncode == 2 and "is not built" in lineage.stderr  # it got as far as its own work


def test_broken_command_module_is_one_line_and_exit_2(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    (root / "deployer" / "commands" / "check_commands.py").write_text(
        "raise ImportError('a broken command module')\n", encoding="utf-8"
    )
    for args in (["--help"], ["validate"]):
        proc = deployer(root, *args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert lines == ["error: the deployer cannot load a module: a broken command module"], lines
