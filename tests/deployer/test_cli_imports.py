"""The CLI's fixed cost stays small: `deployer --help` loads neither the Google clients nor pydantic, nor
the release, plan and promotion code; each command imports what it uses when it runs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from platform_model import REPO_ROOT

# Runs the deployer as `python -m deployer ARGS` does, then prints the modules it loaded.
_PROBE = """
import runpy, sys
sys.argv = ["deployer", *sys.argv[1:]]
try:
    runpy.run_module("deployer", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    code = exc.code
print("exit", code, file=sys.stderr)
print("modules", *sorted(sys.modules), file=sys.stderr)
"""

HEAVY = (
    "google.cloud.storage",
    "google.api_core",
    "requests",
    "deployer.release",
    "deployer.plan",
    "deployer.promote",
    "deployer.gcs",
    "policies.crosslayer",
    "platform_model.environment",
    "platform_model.domain",
    "airflow",
)
"""Modules no help page needs (a module counts with its submodules)."""


def loaded(*args: str) -> tuple[int, set[str]]:
    """The exit code of `deployer ARGS` and the modules it imported."""
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    lines = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in proc.stderr.splitlines() if " " in line}
    assert "modules" in lines, proc.stderr
    return int(lines["exit"]), set(lines["modules"].split())


def heavy(modules: set[str], names: tuple[str, ...] = HEAVY) -> list[str]:
    """The modules of `names` (or their submodules) among `modules`."""
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


def test_help_imports_no_google_client_and_no_pydantic() -> None:
    code, modules = loaded("--help")
    assert code == 0
    assert "deployer.commands.release_commands" in modules  # every command is registered
    assert heavy(modules, (*HEAVY, "pydantic")) == []


@pytest.mark.parametrize("args", [["release", "build", "--help"], ["promote", "--help"], ["check", "--help"]])
def test_command_help_imports_none_of_the_command_code(args: list[str]) -> None:
    # typer itself converts the parameters of an invoked command with pydantic: only our code is checked.
    code, modules = loaded(*args)
    assert code == 0
    assert heavy(modules) == []


def test_a_command_loads_what_it_uses() -> None:
    code, modules = loaded("validate")
    assert code == 0
    assert "platform_model.environment" in modules and "platform_model.domain" in modules
    assert heavy(modules, ("google.cloud.storage", "deployer.release", "deployer.promote")) == []
