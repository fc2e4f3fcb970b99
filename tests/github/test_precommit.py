"""`.pre-commit-config.yaml`: local hooks only, each running a binary of a locked environment.

The hooks run for real (pre-commit itself, in a throw-away git repository that links the repo's
environments) to show they pass on good files and fail on bad ones.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / ".pre-commit-config.yaml"
PRE_COMMIT = ROOT / "tools" / "lint" / ".venv" / "bin" / "pre-commit"
# Each hook's binary lives in exactly one locked environment, whose lock file pins its version.
ENVS = {
    ".venv/bin/": (ROOT / ".venv", ROOT / "uv.lock"),
    "tools/lint/.venv/bin/": (ROOT / "tools" / "lint" / ".venv", ROOT / "tools" / "lint" / "uv.lock"),
}
DISTRIBUTIONS = {
    "ruff": "ruff",
    "mypy": "mypy",
    "sqlfluff": "sqlfluff",
    "python": None,
    "zizmor": "zizmor",
    "check-jsonschema": "check-jsonschema",
    "detect-secrets-hook": "detect-secrets",
}
REQUIRED_HOOKS = {
    "ruff",
    "ruff-format",
    "mypy",
    "sqlfluff",
    "zizmor",
    "check-github-workflows",
    "checkov",
    "detect-secrets",
}


def config() -> dict[str, Any]:
    return yaml.safe_load(CONFIG.read_text(encoding="utf-8"))


def hooks() -> list[dict[str, Any]]:
    return [hook for repo in config()["repos"] for hook in repo["hooks"]]


def binary_of(entry: str) -> str:
    """The executable a hook runs (inside `bash -c '...'` for the hooks that change directory)."""
    words = shlex.split(entry)
    if words[:2] == ["bash", "-c"]:
        words = [w for w in shlex.split(words[2]) if "/bin/" in w]
    return words[0].removeprefix("../")


def locked_version(lock: Path, distribution: str) -> str:
    packages = tomllib.loads(lock.read_text(encoding="utf-8"))["package"]
    return next(p["version"] for p in packages if p["name"] == distribution)


def installed_version(venv: Path, distribution: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({distribution!r}))"
    return subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_only_local_hooks_from_locked_environments() -> None:
    assert [repo["repo"] for repo in config()["repos"]] == ["local"]
    assert {hook["id"] for hook in hooks()} >= REQUIRED_HOOKS
    for hook in hooks():
        binary = binary_of(hook["entry"])
        assert any(binary.startswith(prefix) for prefix in ENVS), f"{hook['id']}: {binary}"
        assert hook["language"] == "unsupported", f"{hook['id']}: pre-commit must not build its own env"


def test_hook_binaries_are_the_locked_versions() -> None:
    checked = set()
    for hook in hooks():
        binary = binary_of(hook["entry"])
        prefix = next(p for p in ENVS if binary.startswith(p))
        venv, lock = ENVS[prefix]
        assert (ROOT / binary).is_file(), f"{hook['id']}: {binary} missing (make setup)"
        distribution = DISTRIBUTIONS[Path(binary).name]
        if distribution is None:
            continue
        assert installed_version(venv, distribution) == locked_version(lock, distribution), hook["id"]
        checked.add(distribution)
    assert checked == {d for d in DISTRIBUTIONS.values() if d}


def test_python_module_hooks_name_real_modules() -> None:
    modules = [
        shlex.split(hook["entry"])[2]
        for hook in hooks()
        if shlex.split(hook["entry"])[:2] == [".venv/bin/python", "-m"]
    ]
    assert modules == ["policies.checkov_run"]
    assert all(importlib.util.find_spec(m) is not None for m in modules)


def test_config_validates() -> None:
    proc = subprocess.run(
        [str(PRE_COMMIT), "validate-config", str(CONFIG)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository holding the config and the workflows, with the locked envs linked in."""
    repo = tmp_path_factory.mktemp("precommit")
    shutil.copy(CONFIG, repo / ".pre-commit-config.yaml")
    shutil.copytree(ROOT / ".github", repo / ".github")
    shutil.copy(ROOT / "pyproject.toml", repo / "pyproject.toml")
    (repo / ".venv").symlink_to(ROOT / ".venv")
    (repo / "tools" / "lint").mkdir(parents=True)
    (repo / "tools" / "lint" / ".venv").symlink_to(ROOT / "tools" / "lint" / ".venv")
    (repo / "ok.py").write_text('"""Fine."""\n\nVALUE = 1\n', encoding="utf-8")
    (repo / "bad.py").write_text("import os, sys\nx=1\n", encoding="utf-8")
    bad_flow = repo / ".github" / "workflows" / "bad.yml"
    bad_flow.write_text(
        "on: pull_request_target\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - uses: actions/checkout@v5\n      - run: echo ${{ github.event.pull_request.title }}\n",
        encoding="utf-8",
    )
    (repo / ".github" / "workflows" / "invalid.yml").write_text(
        "on: push\njobs:\n  a:\n    steps: [{run: echo}]\n", encoding="utf-8"
    )
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "-C", str(repo), "add", "-A"], check=True)
    return repo


def pre_commit(repo: Path, hook: str, *files: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PRE_COMMIT_HOME=str(repo.parent / f"{repo.name}-cache"), SKIP="")
    return subprocess.run(
        [str(PRE_COMMIT), "run", hook, "--files", *files],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize(
    ("hook", "good", "bad"),
    [
        ("ruff", "ok.py", "bad.py"),
        ("zizmor", ".github/workflows/promote.yml", ".github/workflows/bad.yml"),
        ("check-github-workflows", ".github/workflows/ci.yml", ".github/workflows/invalid.yml"),
    ],
)
def test_hooks_pass_good_files_and_fail_bad_ones(sandbox: Path, hook: str, good: str, bad: str) -> None:
    passed = pre_commit(sandbox, hook, good)
    assert passed.returncode == 0, passed.stdout
    failed = pre_commit(sandbox, hook, bad)
    assert failed.returncode == 1, failed.stdout
    assert "Failed" in failed.stdout


def test_the_mypy_hook_checks_what_make_lint_checks() -> None:
    # Both run `mypy` with no arguments, so pyproject.toml's `files` is the one list of what is checked,
    # and the hook runs whenever a file of it changes.
    (hook,) = [hook for hook in hooks() if hook["id"] == "mypy"]
    assert shlex.split(hook["entry"]) == [".venv/bin/mypy"] and hook["pass_filenames"] is False
    assert "\t$(CURDIR)/.venv/bin/mypy\n" in (ROOT / "Makefile").read_text(encoding="utf-8")
    checked = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]["files"]
    assert {"platform_model", "deployer", "infra", "policies"} <= set(checked)
    for path in checked:
        assert re.search(hook["files"], f"{path.split('/')[0]}/module.py"), path
    assert re.search(hook["files"], "pyproject.toml")
