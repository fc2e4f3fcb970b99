"""Promotion at scale: releases of 100, 1,000 and 5,000 files against the local GCS emulator.

For each size, three releases are generated and built with the deployer's own build (A; B = A with one
DAG file changed; C = B with one dbt model changed) and published to a release store. Then, once
directly against the emulator and once through `bench.proxy.LatencyProxy` (+30 ms per request, what a
round trip to GCS costs), into fresh buckets:

    baseline        every file of A uploaded sequentially (`blob.upload_from_filename` in a loop: what
                    Google's Composer CI sample does with `gsutil cp` of everything)
    first           `deployer promote A` into empty buckets
    no-op           `deployer promote A` again (median of 3)
    one-DAG change  `deployer promote B`, then A, then B (median of 3; each changes one DAG file)
    one-dbt change  `deployer promote C` after B (one dbt model changed)

Promotions run the real CLI (`python -m deployer promote --json`) in a fresh process, the way a user or
CI does, with no local copy of the release (as on a CI runner that did not build it): wall time is the
process's. The deployer copies the release's files server-side from the store (or from the live
release's prefix, for a component's unchanged files) and uploads only what it renders and the DAG files
that overwrite. Objects written (uploaded or copied) and API calls are counted at the transport by the
proxy; in direct mode the deployer's own counters are reported (the proxy runs show that they agree with
the proxy's count).

    python -m bench.promotion [--sizes 100,1000,5000] [--delay-ms 30] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.proxy import LatencyProxy, delta
from bench.table import Figure, median, report
from platform_model.domain import domain_files, load_domains
from platform_model.environment import load_environment

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SIZES = (100, 1000, 5000)
DEFAULT_DELAY_MS = 30.0
NOOP_REPEATS = 3
ENV_NAME = "local"
# The deployer's own records (lock, state, audit, approvals, reports): writes, but not uploads of the release.
BOOKKEEPING_PREFIX = "deployer/"
ARCHIVE_PREFIX = "archive/"  # copies of DAGs leaving or overwritten (deployer.plan.archive_prefix)
# The targets of issue 16 (item 4), through the latency proxy.
NOOP_SIZE = 1000
NOOP_MAX_SECONDS = 2.0
NOOP_MIN_SPEEDUP = 20.0
FIRST_MIN_SPEEDUP = {100: 3.0, 1000: 5.0}  # release size -> first promotion vs the sequential baseline
RENDERED = "dags/runtime_config.json"  # rendered per environment, not a release file

DAG_SOURCE = '''"""Generated pipeline {index} (benchmark)."""

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG(
    dag_id="bench_pipeline_{index:03d}", schedule=None, tags=["bench"], default_args={{"owner": "bench"}}
):
    EmptyOperator(task_id="{task}")
'''


@dataclass(frozen=True)
class Config:
    """What to run."""

    sizes: tuple[int, ...] = DEFAULT_SIZES
    """Release sizes in files (every file of the release: DAGs, SQL, dbt, GX, jobs, domains)."""
    delay_ms: float = DEFAULT_DELAY_MS
    """Latency the proxy adds to every request."""
    noop_repeats: int = NOOP_REPEATS
    """Runs of the no-op and one-DAG-change promotions (the median is reported)."""
    workdir: Path | None = None
    """Where sources and builds go (a temp dir, removed afterwards, when None)."""


# -- generated releases ----------------------------------------------------------------------------


def _text(label: str, index: int, size: int) -> bytes:
    line = f"-- {label} {index}: generated benchmark content, deterministic and compressible\n"
    return (line * (size // len(line) + 1))[:size].encode()


def source_files(n_files: int) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The source tree (repo-relative path -> bytes) and the built Spark artifacts of an `n_files` release.

    About the shape of a real repository: a few DAG files, SQL beside them, dbt models, GX suites, the
    repository's domain files and, for every Spark job they declare, its entry point, package zip and
    jars, indexed by jobs.json as the Spark build writes it."""
    domains = load_domains()
    index: dict[str, dict[str, Any]] = {}
    jobs: dict[str, bytes] = {}
    for domain in domains.values():
        for name, job in domain.spark_jobs.items():
            package = f"{domain.job_package(name)}.zip"
            jars = [f"{jar}.jar" for jar in job.jars]
            index[name] = {
                "main": f"{name}.py",
                "py_files": [package],
                "jars": jars,
                "connectors": job.connectors,
            }
            jobs[f"{name}.py"] = b"# entry point\n"
            jobs[package] = b"PK\x05\x06" + bytes(18) + _text("zip", 0, 20_000)
            jobs.update({jar: b"PK\x03\x04" + _text("jar", 0, 8_000) for jar in jars})
    jobs["jobs.json"] = json.dumps({"jobs": dict(sorted(index.items()))}, indent=2).encode()
    tree: dict[str, bytes] = {f"domains/{p.name}": p.read_bytes() for p in domain_files()}
    tree["dbt/dbt_project.yml"] = b"name: platform\nversion: '1.0'\nprofile: platform\n"
    n_dags = max(2, min(10, n_files // 100))
    for i in range(n_dags):
        tree[f"composer/dags/pipeline_{i:03d}.py"] = DAG_SOURCE.format(index=i, task="run").encode()
    rest = n_files - len(tree) - len(jobs)
    if rest < 0:
        raise ValueError(f"--sizes: {n_files} files is too few (at least {n_files - rest})")
    n_sql, n_models = rest * 3 // 10, rest * 45 // 100
    for i in range(n_sql):
        tree[f"composer/dags/sql/query_{i:05d}.sql"] = _text("query", i, 700)
    for i in range(n_models):
        tree[f"dbt/models/model_{i:05d}.sql"] = _text("model", i, 900)
    for i in range(rest - n_sql - n_models):
        tree[f"gx/expectations/suite_{i:05d}.json"] = _text("suite", i, 1_500)
    return tree, jobs


def _write(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


@dataclass(frozen=True)
class Releases:
    """The three built releases of one size."""

    size: int
    a: str
    b: str
    c: str
    dir: Path
    files: int
    bytes: int
    store: str
    """The release store bucket they are published to."""


def build_releases(size: int, workdir: Path) -> Releases:
    """Build A, B (one DAG changed) and C (B + one dbt model changed) with the deployer's build."""
    from deployer.release import build_release

    tree, jobs = source_files(size)
    out = workdir / "releases"
    jobs_dir = _write(workdir / "jobs", jobs)
    dag = "composer/dags/pipeline_000.py"
    model = "dbt/models/model_00000.sql"
    variants = {
        "a": tree,
        "b": {**tree, dag: DAG_SOURCE.format(index=0, task="run_v2").encode()},
    }
    variants["c"] = {**variants["b"], model: tree[model] + b"\n-- changed\n"}
    ids: dict[str, str] = {}
    for name, files in variants.items():
        root = _write(workdir / f"src-{name}", files)
        ids[name] = build_release(root, out, jobs_dir=jobs_dir, run_checks=False).release
    manifest = json.loads((out / ids["a"] / "manifest.json").read_text())
    n_bytes = sum(int(f["size"]) for f in manifest["files"])
    store = f"bp-store-{uuid.uuid4().hex[:6]}-{size}"
    return Releases(size, ids["a"], ids["b"], ids["c"], out, len(manifest["files"]), n_bytes, store)


# -- environments and CLI runs -------------------------------------------------------------------


def write_env(env_dir: Path, prefix: str, store: str) -> dict[str, str]:
    """The committed `local` environment with buckets of its own (`prefix-*`); returns the bucket names."""
    env_dir.mkdir(parents=True, exist_ok=True)
    data = load_environment(ENV_NAME).model_dump(mode="json", by_alias=True)
    for key in ("artifacts", "dataproc_staging", "dataproc_temp"):
        data["buckets"][key]["name"] = f"{prefix}-{key.replace('_', '-')}"
    data["buckets"].pop("releases", None)
    data["composer"]["dag_bucket"] = f"{prefix}-composer"
    data["promotion"]["release_store"] = store
    (env_dir / f"{ENV_NAME}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    load_environment(ENV_NAME, env_dir)  # what the deployer will read must be a valid environment
    return {"artifacts": f"{prefix}-artifacts", "composer": f"{prefix}-composer", "store": store}


def deployer_env(endpoint: str, env_dir: Path, releases_dir: Path) -> dict[str, str]:
    """Variables for a deployer process acting on `env_dir`'s environments through `endpoint`.

    The deployer runs as an installed CLI does, from compiled bytecode: `make` exports
    PYTHONDONTWRITEBYTECODE (no `__pycache__` in the checkout), which would recompile every module of
    the repository in every process (~0.2-0.3 s here); the bench's processes keep their bytecode in a
    cache beside `env_dir` instead (PYTHONPYCACHEPREFIX), warmed by the publish runs."""
    env = dict(os.environ)
    env.update(
        STORAGE_EMULATOR_HOST=endpoint,
        DEPLOYER_ENV_DIR=str(env_dir),
        DEPLOYER_RELEASES_DIR=str(releases_dir),
        DEPLOYER_GCS_RETRY_DEADLINE="30",
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        PYTHONPYCACHEPREFIX=str(env_dir.parent / "pycache"),
    )
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("DEPLOYER_ENV", None)
    env.pop("DEPLOYER_TEST_PAUSE_AT", None)
    return env


def run_cli(args: list[str], env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    """Run `python -m deployer ARGS --json`; (wall seconds, parsed output). Raises on failure."""
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "deployer", *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
        cwd=REPO_ROOT,
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        raise RuntimeError(
            f"deployer {' '.join(args)} exited {proc.returncode}: {lines[-1] if lines else ''}"
        )
    return wall, json.loads(proc.stdout)


def sequential_upload(endpoint: str, bucket: str, release_dir: Path) -> tuple[float, int, int]:
    """The baseline: every file of the release uploaded one after the other with the storage library.
    Returns (seconds, objects uploaded, HTTP requests sent)."""
    import requests
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage  # type: ignore[attr-defined]

    sent = [0]

    class Counting(requests.Session):
        def request(self, *args: Any, **kwargs: Any) -> Any:
            sent[0] += 1
            return super().request(*args, **kwargs)

    with _emulator_host(endpoint):
        anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
        client = storage.Client(project="bench", credentials=anonymous, _http=Counting())
        client.create_bucket(bucket)
        sent[0] = 0
        files = sorted(p for p in (release_dir / "files").rglob("*") if p.is_file())
        started = time.perf_counter()
        target = client.bucket(bucket)
        for path in files:
            target.blob(path.relative_to(release_dir / "files").as_posix()).upload_from_filename(str(path))
        seconds = time.perf_counter() - started
    return seconds, len(files), sent[0]


@contextmanager
def _emulator_host(endpoint: str) -> Iterator[None]:
    old = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = endpoint
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = old


# -- one size, one mode -----------------------------------------------------------------------------


@dataclass
class Run:
    """One promotion: wall time, what the deployer reported, what the proxy counted."""

    wall: float
    written: int
    """Release objects written: uploaded, or copied server-side (bookkeeping and archive copies aside)."""
    api_calls: int
    proxy: dict[str, int] = field(default_factory=dict)
    objects: list[str] = field(default_factory=list)
    """Names of the release objects written, uploaded or copied server-side (proxy runs), bookkeeping
    writes and archive copies aside."""
    report_seconds: float = 0.0
    bookkeeping: int = 0
    """Writes of the lock, state, audit entry and report (proxy runs)."""
    moved: list[str] = field(default_factory=list)
    """Objects whose bytes came from the release (uploaded, or copied from the store) rather than
    copied from the live release's prefix (proxy runs)."""

    @property
    def non_list_calls(self) -> int:
        """Requests other than object listings (proxy count)."""
        return self.proxy.get("total", 0) - self.proxy.get("list", 0)


@dataclass
class ModeResult:
    """Everything measured for one size in one mode."""

    size: int
    mode: str
    baseline_seconds: float
    baseline_uploads: int
    baseline_calls: int
    first: Run
    noop: list[Run]
    dag_change: list[Run]
    dbt_change: Run


def _promote(release: str, env: dict[str, str], proxy: LatencyProxy | None, store: str) -> Run:
    before = proxy.counts() if proxy else {}
    first_upload = len(proxy.uploads()) if proxy else 0
    first_copy = len(proxy.copies()) if proxy else 0
    wall, report = run_cli(
        ["promote", "--env", ENV_NAME, "--release", release, "--yes", "--as", "bench"], env
    )
    counters = report["counters"]
    if proxy is None:
        written = int(counters["uploads"]) + int(report["server_side_copies"])
        return Run(wall, written, int(counters["api_calls"]), {}, [], report["duration_seconds"])
    names = [name for _bucket, name in proxy.uploads()[first_upload:]]
    uploaded = [n for n in names if not n.startswith(BOOKKEEPING_PREFIX)]
    # Release objects copied server-side: from the store, or from the live release's prefix (archive
    # copies of DAGs leaving or overwritten are not release objects).
    copies = [c for c in proxy.copies()[first_copy:] if not c[3].startswith(ARCHIVE_PREFIX)]
    return Run(
        wall=wall,
        written=len(uploaded) + len(copies),
        api_calls=int(counters["api_calls"]),
        proxy=delta(proxy.counts(), before),
        objects=uploaded + [c[3] for c in copies],
        report_seconds=float(report["duration_seconds"]),
        bookkeeping=len(names) - len(uploaded),
        moved=uploaded + [c[3] for c in copies if c[0] == store],
    )


def run_mode(
    rel: Releases, mode: str, emulator_url: str, proxy: LatencyProxy | None, cfg: Config, workdir: Path
) -> ModeResult:
    """Baseline, first, no-op, one-DAG and one-dbt promotions of one size in fresh buckets."""
    endpoint = proxy.url if proxy else emulator_url
    tag = uuid.uuid4().hex[:6]
    env_dir = workdir / f"env-{mode}-{tag}"
    write_env(env_dir, f"bp-{tag}-{rel.size}", store=rel.store)
    empty = workdir / "no-local-copy"
    empty.mkdir(exist_ok=True)
    env = deployer_env(endpoint, env_dir, empty)

    seconds, uploads, calls = sequential_upload(endpoint, f"bp-{tag}-{rel.size}-baseline", rel.dir / rel.a)
    first = _promote(rel.a, env, proxy, rel.store)
    noop = [_promote(rel.a, env, proxy, rel.store) for _ in range(cfg.noop_repeats)]
    dag_change = []
    for i in range(cfg.noop_repeats):
        dag_change.append(_promote(rel.b if i % 2 == 0 else rel.a, env, proxy, rel.store))
    if cfg.noop_repeats % 2 == 0:
        _promote(rel.b, env, proxy, rel.store)  # C is measured against B
    dbt_change = _promote(rel.c, env, proxy, rel.store)
    return ModeResult(rel.size, mode, seconds, uploads, calls, first, noop, dag_change, dbt_change)


def publish(rel: Releases, emulator_url: str, workdir: Path) -> None:
    """Publish A, B and C to the size's release store, directly (the store is not what is measured)."""
    env_dir = workdir / f"env-publish-{rel.size}"
    write_env(env_dir, f"bp-pub-{rel.size}", store=rel.store)
    env = deployer_env(emulator_url, env_dir, rel.dir)
    for release in (rel.a, rel.b, rel.c):
        run_cli(["release", "publish", release, "--env", ENV_NAME], env)


# -- figures ---------------------------------------------------------------------------------------


def _mode_label(mode: str, delay_ms: float) -> str:
    return "direct" if mode == "direct" else f"+{delay_ms:g}ms"


def figures(results: list[ModeResult], cfg: Config) -> list[Figure]:
    """The table rows of every size and mode, with the targets of issue 8."""
    out: list[Figure] = []
    for r in results:
        label = f"promote {r.size} files {_mode_label(r.mode, cfg.delay_ms)}"
        via = "proxy" if r.mode != "direct" else "deployer counters"
        out.append(
            Figure(
                f"{label}: baseline sequential upload",
                r.baseline_seconds,
                details={"uploads": r.baseline_uploads, "requests": r.baseline_calls},
            )
        )
        latency = r.mode != "direct"
        first_ratio = r.baseline_seconds / r.first.wall
        first_target = FIRST_MIN_SPEEDUP.get(r.size) if latency else None
        out.append(
            Figure(
                f"{label}: first promotion",
                r.first.wall,
                baseline=r.baseline_seconds,
                target=f">= {first_target:g}x" if first_target else "",
                met=first_ratio >= first_target if first_target else None,
                details={"report_seconds": r.first.report_seconds, "proxy": r.first.proxy},
            )
        )
        out.append(
            Figure(
                f"{label}: first promotion objects written (uploaded or copied server-side)",
                r.first.written,
                "objects",
                r.baseline_uploads,
                details={
                    "proxy_uploads": r.first.proxy.get("upload", 0),
                    "proxy_copies": r.first.proxy.get("copy", 0),
                },
            )
        )
        out.append(
            Figure(
                f"{label}: first promotion API calls ({via})", r.first.api_calls, "calls", r.baseline_calls
            )
        )
        noop_wall = median([x.wall for x in r.noop])
        is_target = r.size == NOOP_SIZE
        speedup = r.baseline_seconds / noop_wall
        noop_met: bool | None = None
        target = ""
        if is_target:
            if latency:
                target = f"< {NOOP_MAX_SECONDS:g} s, >= {NOOP_MIN_SPEEDUP:g}x"
                noop_met = noop_wall < NOOP_MAX_SECONDS and speedup >= NOOP_MIN_SPEEDUP
            else:
                target = f"< {NOOP_MAX_SECONDS:g} s"
                noop_met = noop_wall < NOOP_MAX_SECONDS
        out.append(
            Figure(
                f"{label}: no-op promotion (median of {len(r.noop)})",
                noop_wall,
                baseline=r.baseline_seconds,
                target=target,
                met=noop_met,
                details={
                    "samples": [x.wall for x in r.noop],
                    "report_seconds": [x.report_seconds for x in r.noop],
                },
            )
        )
        out.append(
            Figure(
                f"{label}: no-op objects written",
                max(x.written for x in r.noop),
                "objects",
                r.baseline_uploads,
                target="0",
                met=all(x.written == 0 for x in r.noop),
            )
        )
        out.append(
            Figure(
                f"{label}: no-op API calls ({via})",
                median([x.api_calls for x in r.noop]),
                "calls",
                r.baseline_calls,
                details={"proxy": [x.proxy for x in r.noop]},
            )
        )
        change_wall = median([x.wall for x in r.dag_change])
        out.append(
            Figure(
                f"{label}: one-DAG change (median of {len(r.dag_change)})",
                change_wall,
                baseline=r.baseline_seconds,
                details={
                    "samples": [x.wall for x in r.dag_change],
                    "report_seconds": [x.report_seconds for x in r.dag_change],
                },
            )
        )
        out.append(
            Figure(
                f"{label}: one-DAG change objects written",
                max(x.written for x in r.dag_change),
                "objects",
                r.baseline_uploads,
                target="1",
                met=all(x.written == 1 for x in r.dag_change),
                details={
                    "samples": [x.written for x in r.dag_change],
                    "objects": [x.objects for x in r.dag_change],
                    "bookkeeping_writes": [x.bookkeeping for x in r.dag_change],
                },
            )
        )
        out.append(
            Figure(
                f"{label}: one-DAG change API calls ({via})",
                median([x.api_calls for x in r.dag_change]),
                "calls",
                r.baseline_calls,
                details={"proxy": [x.proxy for x in r.dag_change]},
            )
        )
        moved = [n for n in r.dbt_change.moved if n != RENDERED]
        out.append(
            Figure(
                f"{label}: one-dbt-model change, files taken from the release "
                "(the rest copied from the live one)",
                len(moved) if latency else r.dbt_change.written,
                "objects",
                r.baseline_uploads,
                target="1" if latency else "",
                met=len(moved) == 1 if latency else None,
                details={
                    "wall": r.dbt_change.wall,
                    "api_calls": r.dbt_change.api_calls,
                    "objects": r.dbt_change.objects,
                    "server_side_copies": r.dbt_change.proxy.get("copy", 0),
                },
            )
        )
    out += _scaling(results, cfg)
    return out


def _scaling(results: list[ModeResult], cfg: Config) -> list[Figure]:
    """Do API calls grow with the change, not the release? (proxy counts, listings aside)."""
    out: list[Figure] = []
    latency = sorted((r for r in results if r.mode != "direct"), key=lambda r: r.size)
    if len(latency) >= 2:
        small, large = latency[0], latency[-1]
        for scenario in ("noop", "dag_change"):
            lo = median([x.non_list_calls for x in getattr(small, scenario)])
            hi = median([x.non_list_calls for x in getattr(large, scenario)])
            name = "no-op" if scenario == "noop" else "one-DAG change"
            out.append(
                Figure(
                    f"{name}: non-list API calls, {large.size} vs {small.size} files "
                    f"(+{cfg.delay_ms:g}ms proxy)",
                    hi,
                    "calls",
                    ratio=hi / lo if lo else None,
                    target=f"= {lo:g} (grows with the change)",
                    met=hi <= lo,
                    details={
                        "lists_small": median([x.proxy.get("list", 0) for x in getattr(small, scenario)]),
                        "lists_large": median([x.proxy.get("list", 0) for x in getattr(large, scenario)]),
                    },
                )
            )
    mismatches = [
        (r.size, x.api_calls, x.proxy.get("total"))
        for r in latency
        for x in [r.first, *r.noop, *r.dag_change, r.dbt_change]
        if x.api_calls != x.proxy.get("total")
    ]
    if latency:
        out.append(
            Figure(
                "deployer API-call counter = proxy count (every promotion)",
                len(mismatches),
                "mismatches",
                target="0",
                met=not mismatches,
                details={"mismatches": mismatches},
            )
        )
    return out


def run(cfg: Config, log: Any = print) -> list[Figure]:
    """Run the whole promotion benchmark; return its figures."""
    from deployer.emulator import Emulator

    workdir = cfg.workdir or Path(tempfile.mkdtemp(prefix="bench-promotion-"))
    results: list[ModeResult] = []
    try:
        with Emulator(log_file=workdir / "emulator.log") as emulator:
            for size in cfg.sizes:
                t0 = time.perf_counter()
                rel = build_releases(size, workdir / f"size-{size}")
                publish(rel, emulator.url, workdir / f"size-{size}")
                log(
                    f"promotion: {rel.files} files ({rel.bytes} bytes) built and published "
                    f"in {time.perf_counter() - t0:.1f}s"
                )
                t0 = time.perf_counter()
                results.append(run_mode(rel, "direct", emulator.url, None, cfg, workdir / f"size-{size}"))
                log(f"promotion: {size} files direct in {time.perf_counter() - t0:.1f}s")
                t0 = time.perf_counter()
                with LatencyProxy(emulator.url, cfg.delay_ms / 1000) as proxy:
                    results.append(
                        run_mode(rel, "latency", emulator.url, proxy, cfg, workdir / f"size-{size}")
                    )
                log(f"promotion: {size} files +{cfg.delay_ms:g}ms in {time.perf_counter() - t0:.1f}s")
    finally:
        if cfg.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return figures(results, cfg)


def parse_sizes(raw: str) -> tuple[int, ...]:
    """`100,1000,5000` -> (100, 1000, 5000); ValueError naming the bad item."""
    sizes = []
    for item in raw.split(","):
        item = item.strip().replace("_", "")
        if not item.isdigit() or int(item) < 10:
            raise ValueError(f"--sizes: {item!r} is not a file count of at least 10")
        sizes.append(int(item))
    return tuple(sizes)


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.promotion [--sizes 100,1000,5000] [--delay-ms 30] [--repeats 3] [--json]`."""
    parser = argparse.ArgumentParser(prog="python -m bench.promotion", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="release sizes in files")
    parser.add_argument("--delay-ms", type=float, default=DEFAULT_DELAY_MS, help="latency the proxy adds")
    parser.add_argument("--repeats", type=int, default=NOOP_REPEATS, help="runs of no-op and one-DAG change")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    try:
        sizes = parse_sizes(args.sizes)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not 0 <= args.delay_ms <= 1000 or args.repeats < 1:
        print("error: --delay-ms must be 0..1000 and --repeats at least 1", file=sys.stderr)
        return 2
    cfg = Config(sizes=sizes, delay_ms=args.delay_ms, noop_repeats=args.repeats)
    figs = run(cfg, log=lambda msg: print(msg, file=sys.stderr))
    return report(figs, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
