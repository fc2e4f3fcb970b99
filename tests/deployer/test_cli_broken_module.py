"""A cross-layer module that cannot be imported stops the deployer with one line, never a skip."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from platform_model import REPO_ROOT

PACKAGES = ("platform_model", "deployer", "policies", "infra", "composer", "dataproc_jobs", "contracts")


def test_broken_crosslayer_module_is_one_line_and_exit_2(tmp_path: Path) -> None:
    for package in PACKAGES:
        shutil.copytree(REPO_ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "policies" / "crosslayer" / "pii_tags.py").write_text(
        "raise ImportError('a broken cross-layer module')\n", encoding="utf-8"
    )
    for args in (["--help"], ["release", "build"], ["check"]):
        proc = subprocess.run(
            [sys.executable, "-m", "deployer", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert lines == ["error: the deployer cannot load a module: a broken cross-layer module"], lines
