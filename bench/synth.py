"""Synth: the bare cost of the provider bindings, a cold synth of every stack, a warm `make synth`, and
how a cold synth grows with the number of domains.

    (a) import + assembly load   a Python process that imports exactly the `cdktn_provider_google`
                                 submodules `infra/` imports (found by reading its sources), then builds an
                                 App with one stack, the provider and one trivial resource, and synthesizes
                                 it: what any synth of these bindings pays before doing its own work
    (b) cold synth               `python -m infra.synth --outdir <new temp dir>`: every stack, no cache
    (c) warm synth               `make synth` with the inputs unchanged (and `python -m infra.synth`)
    (d) growth                   (b) with the repository's domains, then with N domains: the repository's
                                 plus copies of TEMPLATE_DOMAIN renamed throughout (its topic, tables, job,
                                 secret, suites, marts and DAG ids all follow from the new name), in a temp
                                 copy of domains/ the app reads through `python -m infra.synth --domains`;
                                 the difference per added domain is the cost of a domain

(a) and (b) run in the same environment as the app (`infra.synth._app_env`: the same bytecode cache and
Node), interleaved, and the medians are compared: the goals are (b) <= 1.3 x (a), (d) with 10 domains
<= 1.5 x (a), and (c) < 0.5 s.
`profile()` runs the app once with the jsii kernel calls timed, to show where (b) - (a) goes; it runs
the steps one after the other (without `infra.bindings`, which overlaps reading the files with
the provider's load in (b) and (d)), so that each one's cost shows.

    python -m bench.synth [--repeats 3] [--domains 10] [--json]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.table import Figure, median, report
from infra import NODE_BIN
from infra.synth import _app_env
from platform_model.domain import DOMAINS_DIR, domain_files, load_domains

REPO_ROOT = Path(__file__).resolve().parent.parent
COLD_MAX_RATIO = 1.3
GROWN_MAX_RATIO = 1.5
WARM_MAX_SECONDS = 0.5
DEFAULT_DOMAINS = 10
TEMPLATE_DOMAIN = "customers"
"""The domain copied (a domain with an event: topic, tables, secret, job, suites and two DAGs)."""

_IMPORT_SCRIPT = """
import importlib, os, sys, tempfile
import infra  # selects the repo's Node before jsii starts it, as the app does
from cdktn import App, TerraformStack
for name in sys.argv[1:]:
    importlib.import_module(name)
from cdktn_provider_google.project_service import ProjectService
from cdktn_provider_google.provider import GoogleProvider
# inside the run's scratch directory (CDKTF_OUTDIR), which the bench removes
app = App(outdir=tempfile.mkdtemp(prefix="bench-import-", dir=os.environ["CDKTF_OUTDIR"]), stack_traces=False)
stack = TerraformStack(app, "bare")
GoogleProvider(stack, "google", project="bench-project", region="europe-west1")
ProjectService(stack, "api", project="bench-project", service="storage.googleapis.com")
app.synth()
"""

# The app, with every jsii kernel call timed by kind (the library's provider methods are wrapped in this
# measuring process only). Prints one JSON line.
_PROFILE_SCRIPT = """
import collections, json, os, sys, tempfile, time
t0 = time.perf_counter()
import infra
from infra.app import gcp_environments
envs = gcp_environments()
t1 = time.perf_counter()
import cdktn, cdktn_provider_google
from infra.stack import PlatformStack
t2 = time.perf_counter()
from jsii._kernel.providers import process
spent = collections.defaultdict(float)
calls = collections.Counter()
for name in ("create", "get", "set", "invoke", "sinvoke", "sget", "sset"):
    original = getattr(process.ProcessProvider, name, None)
    if original is None:
        continue
    def timed(self, *args, _original=original, _name=name, **kwargs):
        started = time.perf_counter()
        try:
            return _original(self, *args, **kwargs)
        finally:
            spent[_name] += time.perf_counter() - started
            calls[_name] += 1
    setattr(process.ProcessProvider, name, timed)
from infra.app import build_app, synth
app = build_app(outdir=tempfile.mkdtemp(prefix="bench-profile-", dir=os.environ["CDKTF_OUTDIR"]))
t3 = time.perf_counter()
synth(app)
t4 = time.perf_counter()
print(json.dumps({
    "load_environments": t1 - t0, "import_bindings": t2 - t1, "build_constructs": t3 - t2,
    "synthesize": t4 - t3, "stacks": len(envs), "calls": dict(calls), "call_seconds": dict(spent),
}))
"""


def provider_modules(infra_dir: Path = REPO_ROOT / "infra") -> list[str]:
    """Every `cdktn_provider_google` submodule the infra sources import (sorted)."""
    found: set[str] = set()
    for path in infra_dir.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            # submodules only: each imports the package itself (`infra.bindings` names it bare)
            found.update(n for n in names if n.startswith("cdktn_provider_google."))
    return sorted(found)


def app_environ(outdir: Path, domains: Path | None = None) -> dict[str, str]:
    """The environment `infra.synth` gives the app (bytecode cache, no DONTWRITEBYTECODE), and the Node."""
    env = _app_env(outdir, REPO_ROOT / "environments", domains or DOMAINS_DIR)
    env["PATH"] = f"{NODE_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("CHECKPOINT_DISABLE", "1")
    return env


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        raise RuntimeError(f"{' '.join(cmd[:4])} exited {proc.returncode}: {lines[-1] if lines else ''}")
    return seconds


def import_cost(modules: list[str], scratch: Path) -> float:
    """(a): seconds for a process importing `modules` and synthesizing one trivial resource."""
    return _timed([sys.executable, "-c", _IMPORT_SCRIPT, *modules], app_environ(scratch))


def generate_domains(target: Path, total: int, source: Path = DOMAINS_DIR) -> list[str]:
    """Fill `target` with the domain files of `source` plus copies of TEMPLATE_DOMAIN, `total` in all.

    A copy is the template's file with its name replaced throughout (`bench01`, `bench02`, ...): the
    domain, topic, tables, job, secret, suites, marts and dbt selector all carry the name, so the
    copies claim nothing twice. Returns the domain names; ConfigError if a copy does not validate.
    """
    target.mkdir(parents=True, exist_ok=True)
    files = domain_files(source)
    for path in files:
        shutil.copyfile(path, target / path.name)
    template = (source / f"{TEMPLATE_DOMAIN}.yaml").read_text(encoding="utf-8")
    for i in range(1, total - len(files) + 1):
        name = f"bench{i:02d}"
        (target / f"{name}.yaml").write_text(template.replace(TEMPLATE_DOMAIN, name), encoding="utf-8")
    return sorted(load_domains(target))


def cold_synth(scratch: Path, domains: Path | None = None) -> float:
    """(b): seconds for `python -m infra.synth` into a new, empty output directory (of `domains`)."""
    outdir = Path(tempfile.mkdtemp(prefix="bench-cold-", dir=scratch))
    cmd = [sys.executable, "-m", "infra.synth", "--outdir", str(outdir)]
    if domains is not None:
        cmd += ["--domains", str(domains)]
    seconds = _timed(cmd, app_environ(scratch, domains))
    stacks = sorted(p.name for p in (outdir / "stacks").iterdir())
    if not stacks or not all((outdir / "stacks" / s / "cdk.tf.json").is_file() for s in stacks):
        raise RuntimeError(f"cold synth wrote no stacks into {outdir}")
    shutil.rmtree(outdir, ignore_errors=True)
    return seconds


def warm(cmd: list[str], repeats: int) -> list[float]:
    """(c): seconds of `cmd` with the inputs unchanged (one untimed run first makes sure of that)."""
    env = dict(os.environ)
    _timed(cmd, env)
    return [_timed(cmd, env) for _ in range(repeats)]


def profile(scratch: Path) -> dict[str, Any]:
    """One run of the app with its jsii kernel calls timed: where a cold synth's time goes."""
    env = app_environ(scratch)
    proc = subprocess.run(
        [sys.executable, "-c", _PROFILE_SCRIPT], env=env, cwd=REPO_ROOT, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise RuntimeError(f"synth profile failed: {proc.stderr.strip().splitlines()[-1:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def growth(scratch: Path, bare: list[float], cold: list[float], n_domains: int, repeats: int) -> list[Figure]:
    """(d): cold synth with `n_domains` domains against (a) (`bare`; the goal is <= 1.5x), and the cost
    of each added domain against the repository's domains (`cold`, measured alike)."""
    grown_dir = scratch / "domains"
    names = generate_domains(grown_dir, n_domains)
    base_count = len(domain_files(DOMAINS_DIR))
    added = len(names) - base_count
    grown = [cold_synth(scratch, grown_dir) for _ in range(repeats)]
    floor, base, big = median(bare), median(cold), median(grown)
    figures = [
        Figure(
            f"synth (d): cold synth, {len(names)} domains ({added} generated, median of {repeats})",
            big,
            baseline=floor,
            ratio=big / floor,
            target=f"<= {GROWN_MAX_RATIO:g}x (a)",
            met=big <= GROWN_MAX_RATIO * floor,
            details={
                "samples": grown,
                "domains": names,
                "baseline_domains": base_count,
                "against_cold_synth": big / base,
            },
        )
    ]
    if added > 0:
        figures.append(
            Figure(
                f"synth (d): cost per domain ({base_count} -> {len(names)} domains)",
                (big - base) / added,
                details={"cold_base": base, "cold_grown": big, "added": added},
            )
        )
    return figures


def run(
    repeats: int = 3, warm_repeats: int = 5, with_make: bool = True, domains: int = DEFAULT_DOMAINS
) -> list[Figure]:
    """Measure (a), (b), (c), (d) with `domains` domains, and the profile; return the figures."""
    modules = provider_modules()
    scratch = Path(tempfile.mkdtemp(prefix="bench-synth-"))
    try:
        bare: list[float] = []
        cold: list[float] = []
        for _ in range(repeats):  # interleaved, so a busy machine weighs on both alike
            bare.append(import_cost(modules, scratch))
            cold.append(cold_synth(scratch))
        prof = profile(scratch)
        grown = growth(scratch, bare, cold, domains, repeats)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    a, b = median(bare), median(cold)
    figures = [
        Figure(
            f"synth (a): import {len(modules)} provider modules + assembly load",
            a,
            details={"samples": bare, "modules": modules},
        ),
        Figure(
            f"synth (b): cold synth, {prof['stacks']} stacks (median of {repeats})",
            b,
            baseline=a,
            ratio=b / a,
            target=f"<= {COLD_MAX_RATIO:g}x (a)",
            met=b <= COLD_MAX_RATIO * a,
            details={"samples": cold},
        ),
    ]
    calls = prof["calls"]
    call_seconds = sum(prof["call_seconds"].values())
    figures += [
        Figure("synth profile: load environment files", prof["load_environments"]),
        Figure("synth profile: import provider bindings", prof["import_bindings"]),
        Figure(
            f"synth profile: build constructs ({sum(calls.values())} jsii calls)",
            prof["build_constructs"],
            details={"calls": calls, "call_seconds": prof["call_seconds"]},
        ),
        Figure("synth profile: of which waiting on jsii calls", call_seconds),
        Figure("synth profile: synthesize (app.synth)", prof["synthesize"]),
        *grown,
    ]
    py_warm = warm([sys.executable, "-m", "infra.synth"], warm_repeats)
    figures.append(
        Figure(
            f"synth (c): warm python -m infra.synth (median of {warm_repeats})",
            median(py_warm),
            target=f"< {WARM_MAX_SECONDS:g} s",
            met=median(py_warm) < WARM_MAX_SECONDS,
            details={"samples": py_warm},
        )
    )
    if with_make and shutil.which("make"):
        make_warm = warm(["make", "--no-print-directory", "synth"], warm_repeats)
        figures.append(
            Figure(
                f"synth (c): warm make synth (median of {warm_repeats})",
                median(make_warm),
                target=f"< {WARM_MAX_SECONDS:g} s",
                met=median(make_warm) < WARM_MAX_SECONDS,
                details={"samples": make_warm},
            )
        )
    return figures


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.synth [--repeats N] [--no-make] [--json]`."""
    parser = argparse.ArgumentParser(prog="python -m bench.synth", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of (a) and (b) (medians)")
    parser.add_argument("--no-make", action="store_true", help="skip the `make synth` measurement")
    parser.add_argument(
        "--domains", type=int, default=DEFAULT_DOMAINS, help="domains of the growth measurement (d)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        print("error: --repeats must be at least 1", file=sys.stderr)
        return 2
    if args.domains < 1:
        print("error: --domains must be at least 1", file=sys.stderr)
        return 2
    figs = run(args.repeats, with_make=not args.no_make, domains=args.domains)
    return report(figs, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
