"""Where `make test`'s time goes: each step of its recipe timed, and pytest's 25 slowest tests.

`make test` is `make lint` (ruff check, ruff format --check, mypy, sqlfluff), `make check` (synth,
check-infra, check-crosslayer, check-workflows, check-code) and pytest. This runs the same commands
once, one by one: the lint lines and the pytest line as `make -n` prints them (with the variables the
Makefile exports), the check steps as their own make targets, and pytest with `--durations=25`.
It runs the whole suite: it takes as long as `make test` and loads the machine as much.

    python -m bench.suite [--json]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.table import Figure, report

REPO_ROOT = Path(__file__).resolve().parent.parent
CHECK_TARGETS = ("synth", "check-infra", "check-crosslayer", "check-workflows", "check-code")
DURATIONS = 25
_EXPORT = re.compile(r"^export\s+([A-Za-z_][A-Za-z0-9_]*)\s*:?=\s*(.*?)\s*$")
_ASSIGN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*:?=\s*(.*?)\s*$")
_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)s\s+(setup|call|teardown)\s+(\S.*)$")
_SUMMARY = re.compile(r"=+ (.*\b(?:passed|failed|error)\b.*) in ([\d.]+)s")


def makefile_environ(makefile: Path = REPO_ROOT / "Makefile") -> dict[str, str]:
    """os.environ plus the variables the Makefile exports (`export NAME := value`), expanded."""
    variables: dict[str, str] = {"CURDIR": str(makefile.parent), "PATH": os.environ.get("PATH", "")}
    env = dict(os.environ)

    def expand(value: str) -> str:
        return _REF.sub(lambda m: variables.get(m.group(1), os.environ.get(m.group(1), "")), value)

    for line in makefile.read_text().splitlines():
        if line.startswith("\t") or line.lstrip().startswith("#"):
            continue
        exported = _EXPORT.match(line)
        if exported:
            variables[exported.group(1)] = env[exported.group(1)] = expand(exported.group(2))
            continue
        assigned = _ASSIGN.match(line)
        if assigned and "$(shell" not in assigned.group(2):
            variables[assigned.group(1)] = expand(assigned.group(2))
    return env


def recipe(target: str) -> list[str]:
    """The command lines `make -n TARGET` prints (prerequisites included)."""
    proc = subprocess.run(
        ["make", "--no-print-directory", "-s", "-n", target],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return [line for line in proc.stdout.splitlines() if line.strip()]


@dataclass
class Step:
    """One timed step."""

    name: str
    seconds: float
    exit_code: int
    output: str


def timed(name: str, cmd: list[str], env: dict[str, str], log: Callable[[str], None]) -> Step:
    """Run `cmd` in the repo root; its time, exit code and output."""
    log(f"suite: {name} ...")
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
    step = Step(name, time.perf_counter() - started, proc.returncode, proc.stdout + proc.stderr)
    log(f"suite: {name}: {step.seconds:.1f}s (exit {step.exit_code})")
    return step


def slowest(pytest_output: str) -> list[tuple[str, str, float]]:
    """(test id, phase, seconds) from pytest's `--durations` section, slowest first."""
    rows = []
    for line in pytest_output.splitlines():
        match = _DURATION.match(line.strip())
        if match:
            rows.append((match.group(3), match.group(2), float(match.group(1))))
    return sorted(rows, key=lambda r: r[2], reverse=True)


def run(log: Callable[[str], None] = print) -> list[Figure]:
    """Run every step of `make test` once; the figures."""
    env = makefile_environ()
    steps = [timed("make setup (stamps)", ["make", "--no-print-directory", "setup"], env, log)]
    for line in recipe("lint"):
        steps.append(timed(f"lint: {line.replace(str(REPO_ROOT) + '/', '')}", ["bash", "-c", line], env, log))
    for target in CHECK_TARGETS:
        steps.append(timed(f"check: make {target}", ["make", "--no-print-directory", target], env, log))
    pytest_line = next(line for line in recipe("test") if " -m pytest" in line)
    pytest = timed("pytest", ["bash", "-c", f"{pytest_line} --durations={DURATIONS}"], env, log)
    steps.append(pytest)
    total = sum(s.seconds for s in steps)
    figures = [
        Figure(
            f"make test step: {s.name}" + ("" if s.exit_code == 0 else f" (exit {s.exit_code})"),
            s.seconds,
            details={"exit_code": s.exit_code, "tail": s.output.strip().splitlines()[-3:]},
        )
        for s in steps
    ]
    summary = _SUMMARY.search(pytest.output)
    figures.append(
        Figure(
            "make test: all steps",
            total,
            details={"pytest_summary": summary.group(1) if summary else None},
        )
    )
    for rank, (test, phase, seconds) in enumerate(slowest(pytest.output)[:DURATIONS], 1):
        figures.append(Figure(f"pytest slowest #{rank}: {test} ({phase})", seconds))
    return figures


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.suite [--json]`."""
    parser = argparse.ArgumentParser(prog="python -m bench.suite", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figs = run(log=lambda msg: print(msg, file=sys.stderr))
    return report(figs, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
