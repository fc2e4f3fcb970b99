"""The layout rules the platform stands on, checked on the source tree itself.

- Packages import in one direction only: platform_model at the bottom, the deployer (the CLI) at the
  top, and no circle, counting imports inside functions too (they hide circles, they do not remove them).
- Shared code names no domain: only a domain's own files (found from its declaration) say its name.
- One contract parser: domains/*.yaml are read by platform_model.domain alone.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from platform_model import REPO_ROOT
from platform_model.domain import load_domains

# package -> the packages of ours it may import (besides itself).
ALLOWED: dict[str, set[str]] = {
    "platform_model": set(),
    "dataproc_jobs": {"platform_model"},
    "contracts": {"platform_model"},
    "infra": {"platform_model"},
    "composer": {"platform_model", "dataproc_jobs"},
    "policies": {"platform_model", "infra", "composer", "dataproc_jobs", "contracts"},
    "deployer": {"platform_model", "infra", "composer", "dataproc_jobs", "contracts", "policies"},
}
OURS = set(ALLOWED) | {"bench", "tests"}


def _python_files(package: str) -> list[Path]:
    return sorted(p for p in (REPO_ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path) -> set[str]:
    """Top-level packages of ours that `path` imports anywhere (module level or inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & OURS


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_is_below_it(package: str) -> None:
    wrong = {
        str(path.relative_to(REPO_ROOT)): sorted(_imports(path) - ALLOWED[package] - {package})
        for path in _python_files(package)
    }
    wrong = {k: v for k, v in wrong.items() if v}
    assert not wrong, f"{package} may import only {sorted(ALLOWED[package])}: {wrong}"


def test_no_import_circle_between_packages() -> None:
    graph = {p: set().union(*(_imports(f) for f in _python_files(p))) - {p} for p in ALLOWED}
    for start in graph:
        seen, todo = set(), list(graph[start])
        while todo:
            node = todo.pop()
            assert node != start, f"import circle through {start}"
            if node in seen or node not in graph:
                continue
            seen.add(node)
            todo.extend(graph[node])


def _domain_owned(domain: str, jobs: list[str], jars: list[str]) -> list[str]:
    """Path prefixes of the files a domain brings (the conventions of platform_model.domain)."""
    return [
        f"domains/{domain}.yaml",
        f"dataproc_jobs/{domain}/",
        *[f"dataproc_jobs/entrypoints/{job}.py" for job in jobs],
        *[f"dataproc_jobs/java/{jar}/" for jar in jars],
        f"dbt/models/{domain}/",
        f"dbt/snapshots/{domain}/",
        f"dbt/tests/{domain}/",
        f"gx/expectations/{domain}/",
        f"composer/dags/{domain}.py",
    ]


SHARED_ROOTS = (
    "platform_model",
    "infra",
    "deployer",
    "policies",
    "composer",
    "dataproc_jobs",
    "contracts",
    "dbt",
)
SHARED_SUFFIXES = (".py", ".yml", ".yaml", ".sql", ".json", ".txt", ".java")


def test_shared_code_names_no_domain() -> None:
    domains = load_domains()
    owned: list[str] = []
    for name, domain in domains.items():
        jars = sorted({jar for job in domain.spark_jobs.values() for jar in job.jars})
        owned += _domain_owned(name, list(domain.spark_jobs), jars)
    pattern = re.compile(r"\b(" + "|".join(sorted(domains)) + r")(?=[_\-.\s'\"/:)]|$)")
    offenders: dict[str, list[str]] = {}
    for root in SHARED_ROOTS:
        for path in sorted((REPO_ROOT / root).rglob("*")):
            rel = path.relative_to(REPO_ROOT).as_posix()
            if (
                not path.is_file()
                or not rel.endswith(SHARED_SUFFIXES)
                or any(rel.startswith(o) for o in owned)
            ):
                continue
            if {"__pycache__", "target", "dbt_packages", "logs"} & set(path.parts):
                continue
            hits = [
                f"{i}: {line.strip()[:80]}"
                for i, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
                if pattern.search(line)
            ]
            if hits:
                offenders[rel] = hits[:3]
    assert not offenders, f"shared files naming a domain: {offenders}"


def test_one_reader_of_the_domain_files() -> None:
    """Whoever parses YAML and points at the domain files is a second contract parser."""
    readers = []
    for root in ALLOWED:
        for path in _python_files(root):
            text = path.read_text(encoding="utf-8")
            parses = re.search(r"yaml\.(safe_)?load\(|parse_yaml\(|load_yaml_mapping\(", text)
            # a path into the domain files, or a contract key read out of a parsed mapping
            points = re.search(r"[\"']domains/[^\"']*\.yaml|/ ?[\"']domains[\"']", text) or re.search(
                r"\[[\"'](raw_table|partition_by|pii)[\"']\]|\.get\([\"'](raw_table|partition_by|pii)[\"']",
                text,
            )
            if parses and points:
                readers.append(str(path.relative_to(REPO_ROOT)))
    assert readers == ["platform_model/domain.py"], readers
