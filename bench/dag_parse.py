"""DAG parse time: each DAG file through Airflow's own DagBag, and the imports that cost most.

For a gcp environment (staging) and the local one, `composer/dags` is copied into a temp folder with a
`runtime_config.json` built by `platform_model.runtime.build` (through `composer.runtime_config`, from
the environment file, the repo's domains and the Spark jobs `dataproc_jobs.build` finds). A probe
process (`bench.dag_probe`, temp AIRFLOW_HOME) pre-imports what Airflow's DAG processor pre-imports and
parses every DAG file in a forked child, several times, with `composer.dag_check`'s DagBag; the median
is compared with the budget of 200 ms per file.

`python -X importtime` on each DAG file (run as the DAG processor would import it, runtime config
beside it) gives the 10 imports with the highest cumulative time.

    python -m bench.dag_parse [--repeats 5] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.table import Figure, median, report
from composer.dag_check import dag_files as folder_dag_files

REPO_ROOT = Path(__file__).resolve().parent.parent
DAGS = REPO_ROOT / "composer" / "dags"
BUDGET_MS = 200.0
PLATFORM_ENVS = {"gcp": "staging", "local": "local"}
TOP_IMPORTS = 10
# Digests the staged runtime config names (no release is built: only the DAG files are parsed).
COMPONENTS = {c: hashlib.sha256(f"bench {c}".encode()).hexdigest() for c in ("jobs", "dbt", "gx")}


def runtime_config_bytes(env_name: str) -> bytes:
    """`runtime_config.json` of `env_name` for the repo's domains, as the one builder builds it."""
    from composer.runtime_config import for_repo
    from platform_model.environment import load_environment
    from platform_model.runtime import to_bytes

    env = load_environment(env_name)
    config = for_repo(
        env, jobs_base=f"gs://{env.buckets.artifacts.name}/jobs/{COMPONENTS['jobs']}/", components=COMPONENTS
    )
    return to_bytes(config)


def stage(root: Path, env_name: str) -> Path:
    """A copy of composer/dags under `root` with the runtime config of `env_name` beside the DAGs."""
    folder = root / "dags"
    shutil.copytree(DAGS, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "runtime_config.json").write_bytes(runtime_config_bytes(env_name))
    return folder


def dag_files() -> list[str]:
    """Every DAG file of the repo (`composer.dag_check.dag_files` of composer/dags)."""
    return [p.name for p in folder_dag_files(DAGS)]


def _environ(root: Path, folder: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=str(root / "airflow-home"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(folder),
    )
    for key in ("PLATFORM_RUNTIME_CONFIG", "STORAGE_EMULATOR_HOST"):
        env.pop(key, None)
    return env


def probe(root: Path, folder: Path, files: list[str], repeats: int) -> dict[str, Any]:
    """Run `bench.dag_probe` on `files` of `folder`; its JSON result."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.dag_probe",
            str(folder),
            str(repeats),
            *[str(folder / f) for f in files],
        ],
        env=_environ(root, folder),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    if proc.returncode != 0:
        tail = [ln for ln in proc.stderr.splitlines() if ln.strip()][-3:]
        raise RuntimeError(f"DAG parse probe failed (exit {proc.returncode}): {' | '.join(tail)}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def parse_importtime(stderr: str) -> list[tuple[str, float, int]]:
    """`-X importtime` lines -> (module, cumulative ms, nesting depth), most expensive first.

    A package that only passes an import through (`airflow.providers` when importing
    `airflow.providers.google...` first imports `airflow`) has a nested import costing all but < 1 ms of
    its cumulative time; it is left out, so the list names the modules that do the work."""
    rows: list[tuple[str, float, int]] = []
    children: dict[int, list[int]] = {}  # depth -> cumulative µs of the entries not yet claimed by a parent
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line[len("import time:") :].split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue  # the header line
        name = parts[2].rstrip()
        depth = (len(name) - len(name.lstrip(" "))) // 2
        cumulative = int(parts[1])
        nested = children.pop(depth + 1, [])
        for deeper in [d for d in children if d > depth]:
            children.pop(deeper)
        children.setdefault(depth, []).append(cumulative)
        if any(c >= cumulative - 1000 for c in nested):
            continue
        rows.append((name.strip(), cumulative / 1000, depth))
    return sorted(rows, key=lambda r: r[1], reverse=True)


def import_costs(root: Path, folder: Path, file: str) -> list[tuple[str, float, int]]:
    """The imports of one DAG file, by cumulative time (a fresh interpreter: nothing pre-imported)."""
    code = (
        "import runpy, sys; sys.path.insert(0, sys.argv[1]); "
        "runpy.run_path(sys.argv[2], run_name='bench_dag_file')"
    )
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, str(folder), str(folder / file)],
        env=_environ(root, folder),
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if proc.returncode != 0:
        tail = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("import time")]
        raise RuntimeError(f"importing {file} failed: {tail[-1] if tail else proc.returncode}")
    return parse_importtime(proc.stderr)


def run(repeats: int = 5, files: list[str] | None = None, top: int = TOP_IMPORTS) -> list[Figure]:
    """Parse times per file and platform, and the top imports per file (gcp config); the figures."""
    files = files or dag_files()
    figures: list[Figure] = []
    imports: list[Figure] = []
    scratch = Path(tempfile.mkdtemp(prefix="bench-dag-parse-"))
    try:
        for platform, env_name in PLATFORM_ENVS.items():
            root = scratch / platform
            folder = stage(root, env_name)
            result = probe(root, folder, files, repeats)
            for name in files:
                runs = result["files"][name]
                errors = {k: v for run in runs for k, v in run["errors"].items()}
                ms = median([r["seconds"] * 1000 for r in runs])
                ok = not errors and all(r["dags"] for r in runs) and all(r["seconds"] >= 0 for r in runs)
                figures.append(
                    Figure(
                        f"DAG parse {name} ({platform} config, {env_name}; median of {len(runs)})",
                        ms,
                        "ms",
                        target=f"< {BUDGET_MS:g} ms",
                        met=ok and ms < BUDGET_MS,
                        details={
                            "samples_ms": [r["seconds"] * 1000 for r in runs],
                            "dags": runs[0]["dags"],
                            "errors": errors,
                            "pre_import_seconds": result["pre_import_seconds"],
                        },
                    )
                )
                if platform == "gcp":
                    for rank, (module, cum_ms, depth) in enumerate(import_costs(root, folder, name)[:top], 1):
                        imports.append(
                            Figure(
                                f"import cost {name} #{rank}: {module}",
                                cum_ms,
                                "ms",
                                details={"depth": depth, "kind": "cumulative, fresh interpreter"},
                            )
                        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return figures + imports


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.dag_parse [--repeats N] [--top N] [--json]`."""
    parser = argparse.ArgumentParser(prog="python -m bench.dag_parse", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="parses per file (median)")
    parser.add_argument("--top", type=int, default=TOP_IMPORTS, help="imports listed per DAG file")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.top < 0:
        print("error: --repeats must be at least 1 and --top not negative", file=sys.stderr)
        return 2
    figs = run(args.repeats, top=args.top)
    return report(figs, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
