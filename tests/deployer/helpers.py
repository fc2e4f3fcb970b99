"""Helpers for the deployer tests: small source trees (with the repository's domains), and the real CLI
in-process or as a process."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from platform_model.domain import DOMAINS_DIR, domain_files, load_domains

DAG_TEMPLATE = '''"""Test DAG {name}."""

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG(dag_id="{name}", schedule=None, tags=["test"], default_args={{"owner": "data-platform"}}):
    EmptyOperator(task_id="{task}")
'''


def dag_source(name: str, task: str = "t") -> str:
    """A small DAG file that imports Airflow."""
    return DAG_TEMPLATE.format(name=name, task=task)


def make_tree(
    root: Path,
    dags: dict[str, str],
    *,
    dbt_model: str = "select 1 as id\n",
    domains: dict[str, str] | None = None,
) -> Path:
    """A source tree like the repository: composer/dags, dbt (with build output to exclude), gx, and
    domains/ (the repository's domain files, or `domains`: name -> YAML text)."""
    dag_dir = root / "composer" / "dags"
    dag_dir.mkdir(parents=True, exist_ok=True)
    for name, text in dags.items():
        (dag_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (dag_dir / name).write_text(text)
    (dag_dir / "__pycache__").mkdir(exist_ok=True)
    (dag_dir / "__pycache__" / "junk.cpython-311.pyc").write_bytes(b"\0junk")
    dbt = root / "dbt"
    (dbt / "models").mkdir(parents=True, exist_ok=True)
    (dbt / "dbt_project.yml").write_text("name: platform\nversion: '1.0'\nprofile: platform\n")
    (dbt / "models" / "marts.sql").write_text(dbt_model)
    for excluded in ("target", "logs", "dbt_packages"):
        (dbt / excluded).mkdir(exist_ok=True)
        (dbt / excluded / "out.txt").write_text("build output")
    (dbt / ".user.yml").write_text("id: local-user\n")
    gx = root / "gx" / "expectations"
    gx.mkdir(parents=True, exist_ok=True)
    (gx / "suite.json").write_text(json.dumps({"name": "suite", "expectations": []}))
    target = root / "domains"
    target.mkdir(exist_ok=True)
    if domains is None:
        for path in domain_files(DOMAINS_DIR):
            shutil.copyfile(path, target / path.name)
    else:
        for name, text in domains.items():
            (target / f"{name}.yaml").write_text(text)
    return root


def job_files() -> dict[str, dict[str, Any]]:
    """The jobs.json entries of every Spark job the repository's domains declare (one package zip per
    domain package, one jar per jar source), as the Spark build names them."""
    jobs: dict[str, dict[str, Any]] = {}
    for domain in load_domains().values():
        for job, spec in domain.spark_jobs.items():
            jobs[job] = {
                "main": f"{job}.py",
                "py_files": [f"{domain.job_package(job)}.zip"],
                "jars": [f"{jar}.jar" for jar in spec.jars],
                "connectors": list(spec.connectors),
            }
    return jobs


def make_jobs(path: Path, version: str = "1") -> Path:
    """Already-built Spark artifacts (what `python -m dataproc_jobs.build` writes), for --jobs-dir."""
    path.mkdir(parents=True, exist_ok=True)
    jobs = job_files()
    for job in jobs.values():
        (path / job["main"]).write_text(f"# entry point v{version}\n")
        for name in job["py_files"]:
            (path / name).write_bytes(b"PK\x05\x06" + version.encode() * 18)
        for name in job["jars"]:
            (path / name).write_bytes(b"PK\x03\x04jar" + version.encode())
    (path / "jobs.json").write_text(json.dumps({"jobs": jobs}, indent=2))
    return path


@dataclass
class Result:
    """What a CLI run returned."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """stdout parsed as JSON."""
        return json.loads(self.out)


def cli(*args: str) -> Result:
    """Run the real CLI (`deployer.cli.main`) in this process; env vars come from os.environ."""
    import deployer.cli

    stdout, stderr = io.StringIO(), io.StringIO()
    code = 0
    with redirect_stdout(stdout), redirect_stderr(stderr):
        try:
            deployer.cli.main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return Result(code, stdout.getvalue(), stderr.getvalue())


def run(args: list[str], env: dict[str, str], timeout: float = 180) -> Result:
    """Run `python -m deployer ARGS` as a process."""
    proc = subprocess.run(
        [sys.executable, "-m", "deployer", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def deployer(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m deployer ARGS` as a process from `cwd` (with `env` added to os.environ), no stdin."""
    return subprocess.run(
        [sys.executable, "-m", "deployer", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )


def one_line_error(result: Result, code: int = 2) -> str:
    """Assert the run failed with `code` and exactly one `error:` line and no traceback; return the line."""
    assert result.code == code, (result.code, result.out, result.err)
    assert "Traceback" not in result.err, result.err
    lines = [ln for ln in result.err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error: ")]
    assert len(errors) == 1, result.err
    return errors[0]
