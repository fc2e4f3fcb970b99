"""The workflow scripts run on a runner's bare Python before any install: they import the standard
library and each other, nothing else."""

from __future__ import annotations

import ast
import sys

from tests.github.helpers import SCRIPTS


def test_the_scripts_import_only_the_standard_library_and_their_siblings() -> None:
    siblings = {p.stem for p in SCRIPTS.glob("*.py")}
    assert {"markdown_table", "plan_summary", "verify_summary"} <= siblings
    foreign = []
    for path in sorted(SCRIPTS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                roots = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots = [node.module.split(".")[0]]
            else:
                continue
            foreign += [
                f"{path.name}: {root}"
                for root in roots
                if root not in sys.stdlib_module_names and root not in siblings
            ]
    assert foreign == []
