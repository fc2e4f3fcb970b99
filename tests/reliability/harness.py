"""The reliability suite's world: generated releases, generated environments, the real deployer as a process,
and the invariants, checked by reading the buckets directly with google-cloud-storage.

Invariants ("nothing is lost", checked after every kill and every re-run):

- references: every `gs://<artifacts bucket>/...` URI of the runtime config's Spark jobs exists, and the
  dbt `project_path` and GX `suites_path` hold every file of the component whose digest they name (with
  the manifest's MD5); the config's `components` name the same digests as its paths;
- nothing lost: every DAG file of the release that was live before the attempt is in `dags/` with its
  bytes (MD5) or archived with them under `archive/<date>/<that release>/dags/<path>`; and every DAG
  file of every release ever live in the run is in `dags/` or in the archive (any label) with its bytes;
- the state record names a release whose Spark, dbt and GX files are all present (with their MD5s)
  and whose every DAG path is in `dags/` with its own bytes, or, while a promotion to `target` is in
  flight, with the target's bytes (the DAGs go up before the state record changes);
- converged (after a completed run): `dags/` holds exactly the live release's DAGs plus the runtime
  config, byte for byte, and no lock is left.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployer.release import build_release
from platform_model.manifest import Manifest, parse_manifest
from tests.conftest import write_local_envs
from tests.deployer.helpers import make_jobs, make_tree

REPO = Path(__file__).resolve().parents[2]
ACTOR = "reliability"


@dataclass
class Run:
    """A finished deployer process."""

    code: int
    out: str
    err: str
    seconds: float

    def error_lines(self) -> list[str]:
        """The `error:` lines on stderr."""
        return [ln for ln in self.err.splitlines() if ln.startswith("error: ")]

    def one_line_problem(self, code: int) -> str | None:
        """None when the run failed with `code`, exactly one `error:` line and no traceback; else why not."""
        if "Traceback" in self.err:
            return f"traceback: {self.err.strip().splitlines()[-1]}"
        if self.code != code:
            return f"exit {self.code}, expected {code}: {self.err.strip()[-300:]}"
        if len(self.error_lines()) != 1:
            return f"{len(self.error_lines())} error lines: {self.err.strip()[-300:]}"
        return None


@dataclass
class Section:
    """Figures of one section of the suite."""

    name: str
    attempts: int = 0
    killed: int = 0
    survived: int = 0
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)

    def check(self, ok: bool, what: str) -> bool:
        """Record a violation when not `ok`."""
        if not ok:
            self.violations.append(what)
        return ok


def dag_file(name: str, version: int) -> str:
    """A small DAG-folder module (no Airflow or pyspark import, so building and parsing stay fast)."""
    return f'"""Pipeline {name}, version {version}."""\n\nPIPELINE = {name!r}\nVERSION = {version}\n'


@dataclass
class World:
    """Generated environments (buckets unique to this world) and releases, in one emulator."""

    emulator_url: str
    workdir: Path
    env_dir: Path
    releases_dir: Path
    releases: list[str]
    suffix: str
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        emulator_url: str,
        workdir: Path,
        *,
        n_releases: int = 5,
        dags: int = 12,
        seed: int = 7,
        overrides: dict[str, dict[str, Any]] | None = None,
    ) -> World:
        """Build `n_releases` differing releases (DAGs added, removed, changed; jobs and dbt changed)."""
        rng = random.Random(seed)
        suffix = uuid.uuid4().hex[:10]
        env_dir = workdir / "environments"
        write_local_envs(env_dir, suffix, overrides)
        releases_dir = workdir / "releases"
        ids: list[str] = []
        current = {f"p{i:02d}.py": 1 for i in range(dags)}
        next_name = dags
        for n in range(n_releases):
            if n:
                for name in rng.sample(sorted(current), k=min(3, len(current))):
                    current[name] += 1  # changed
                for name in rng.sample(sorted(current), k=2):
                    del current[name]  # removed
                for _ in range(2):
                    current[f"p{next_name:02d}.py"] = 1  # added
                    next_name += 1
            files = {name: dag_file(name, version) for name, version in current.items()}
            files["common/util.py"] = f"SHARED = {n % 2}\n"
            # Every release brings its own jobs and dbt content: a first visit uploads artifacts (kills land
            # among those uploads), a later one finds them in place (content-addressed, never removed).
            root = make_tree(workdir / f"src-{n}", files, dbt_model=f"select {n} as id\n")
            jobs = make_jobs(workdir / f"jobs-{n}", str(n + 1))
            ids.append(build_release(root, releases_dir, jobs_dir=jobs, run_checks=False).release)
        return cls(emulator_url, workdir, env_dir, releases_dir, ids, suffix)

    # -- processes ---------------------------------------------------------------------------------

    def environ(self, **extra: str) -> dict[str, str]:
        """Variables for a deployer process acting on this world."""
        env = dict(os.environ)
        env.pop("DEPLOYER_ENV", None)
        env.update(
            STORAGE_EMULATOR_HOST=self.emulator_url,
            DEPLOYER_ENV_DIR=str(self.env_dir),
            DEPLOYER_RELEASES_DIR=str(self.releases_dir),
            DEPLOYER_GCS_RETRY_DEADLINE="10",
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            GX_ANALYTICS_ENABLED="false",
            PYTHONDONTWRITEBYTECODE="1",
        )
        env.update(self.extra_env)
        env.update(extra)
        return env

    def start(self, args: list[str], **extra: str) -> subprocess.Popen[str]:
        """Start `python -m deployer ARGS`."""
        return subprocess.Popen(
            [sys.executable, "-m", "deployer", *args],
            env=self.environ(**extra),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, args: list[str], timeout: float = 180, **extra: str) -> Run:
        """Run `python -m deployer ARGS` to its end."""
        t0 = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "deployer", *args],
            env=self.environ(**extra),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Run(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - t0)

    def promote_args(self, env: str, release: str, *extra: str) -> list[str]:
        """Arguments of a promotion."""
        return ["promote", "--env", env, "--release", release, "--yes", "--as", ACTOR, *extra]

    def publish_all(self, env: str = "local") -> None:
        """Publish every release to the store (one process)."""
        for rid in self.releases:
            result = self.run(["release", "publish", rid, "--env", env])
            if result.code != 0:
                raise RuntimeError(f"publish {rid}: {result.err}")

    # -- buckets -----------------------------------------------------------------------------------

    def environment(self, name: str) -> dict[str, Any]:
        """The generated environment file `name`."""
        import yaml

        return dict(yaml.safe_load((self.env_dir / f"{name}.yaml").read_text()))

    def buckets(self, name: str) -> dict[str, str]:
        """artifacts, composer and store bucket names of environment `name`."""
        env = self.environment(name)
        return {
            "artifacts": env["buckets"]["artifacts"]["name"],
            "composer": env["composer"]["dag_bucket"],
            "store": env["promotion"]["release_store"],
        }

    @property
    def client(self) -> Any:
        """A storage client on the emulator (not through any fault proxy)."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        old = os.environ.get("STORAGE_EMULATOR_HOST")
        os.environ["STORAGE_EMULATOR_HOST"] = self.emulator_url
        try:
            return storage.Client(project="acme-data-local", credentials=AnonymousCredentials())
        finally:
            if old is None:
                os.environ.pop("STORAGE_EMULATOR_HOST", None)
            else:
                os.environ["STORAGE_EMULATOR_HOST"] = old

    def listing(self, bucket: str, prefix: str = "") -> dict[str, tuple[int, str]]:
        """name -> (generation, md5) of every object under `prefix` (empty when the bucket is missing)."""
        from google.api_core.exceptions import NotFound

        try:
            return {
                b.name: (int(b.generation), str(b.md5_hash))
                for b in self.client.list_blobs(bucket, prefix=prefix)
            }
        except NotFound:
            return {}

    def snapshot(self, env: str) -> dict[str, tuple[int, str]]:
        """Every object of the environment's buckets (and the store) with generation and MD5."""
        out: dict[str, tuple[int, str]] = {}
        for bucket in self.buckets(env).values():
            out.update({f"{bucket}/{k}": v for k, v in self.listing(bucket).items()})
        return out

    def read_json(self, bucket: str, name: str) -> Any:
        """An object parsed as JSON, or None when absent."""
        blob = self.client.bucket(bucket).get_blob(name)
        return None if blob is None else json.loads(blob.download_as_bytes())

    def live(self, env: str) -> str | None:
        """The release the state record names."""
        state = self.read_json(self.buckets(env)["artifacts"], "deployer/state.json")
        return None if not state or not state.get("current") else str(state["current"]["release"])

    def audit(self, env: str) -> list[dict[str, Any]]:
        """The audit entries, oldest first (read directly)."""
        bucket = self.buckets(env)["artifacts"]
        names = sorted(self.listing(bucket, "deployer/audit/"))
        return [self.read_json(bucket, n) for n in names]

    def manifest(self, release: str) -> Manifest:
        """The built manifest of `release`."""
        return parse_manifest((self.releases_dir / release / "manifest.json").read_bytes(), release)

    # -- invariants --------------------------------------------------------------------------------

    def invariants(
        self,
        env: str,
        *,
        previous: str | None,
        target: str | None,
        ever_live: set[str],
        converged: bool,
    ) -> list[str]:
        """The violated invariants (see the module docstring); empty when all hold."""
        bad: list[str] = []
        b = self.buckets(env)
        composer = self.listing(b["composer"])
        artifacts = self.listing(b["artifacts"])
        md5 = {name: m for name, (_g, m) in composer.items()}
        amd5 = {name: m for name, (_g, m) in artifacts.items()}
        by_digest: dict[tuple[str, str], Manifest] = {}
        for rid in self.releases:
            m = self.manifest(rid)
            for comp in ("jobs", "dbt", "gx"):
                by_digest[(comp, m.components[comp])] = m

        state = self.read_json(b["artifacts"], "deployer/state.json")
        live = state["current"]["release"] if state and state.get("current") else None

        # references
        config = self.read_json(b["composer"], "dags/runtime_config.json")
        if config is None:
            if live is not None:
                bad.append(f"{live} is live but dags/runtime_config.json is missing")
        else:
            prefix = f"gs://{b['artifacts']}/"
            for job in config["spark"]["jobs"].values():
                for uri in [job["main_python_file_uri"], *job["python_file_uris"], *job["jar_file_uris"]]:
                    if uri.startswith(prefix) and uri.removeprefix(prefix) not in artifacts:
                        bad.append(f"runtime config references missing {uri}")
            for comp, path in (("dbt", config["dbt"]["project_path"]), ("gx", config["gx"]["suites_path"])):
                digest = path.rsplit("/", 1)[-1]
                if config.get("components", {}).get(comp) != digest:
                    bad.append(f"runtime config components.{comp} does not name {path}")
                owner = by_digest.get((comp, digest))
                if owner is None:
                    bad.append(f"runtime config {comp} path {path} is no release's {comp}")
                    continue
                for entry in owner.component_files(comp):
                    name = f"{path}/{entry.path.removeprefix(comp + '/')}"
                    if md5.get(name) != entry.md5:
                        bad.append(f"runtime config {comp} path: {name} missing or other bytes")

        # nothing lost
        archived: dict[tuple[str, str], set[str]] = {}  # (label, dags/path) -> md5s
        anywhere: set[tuple[str, str]] = {(n, m) for n, m in md5.items() if n.startswith("dags/")}
        for name, m in amd5.items():
            parts = name.split("/", 3)  # archive/<date>/<label>/dags/...
            if name.startswith("archive/") and len(parts) == 4:
                archived.setdefault((parts[2], parts[3]), set()).add(m)
                anywhere.add((parts[3], m))
        if previous is not None:
            for entry in self.manifest(previous).component_files("dags"):
                if md5.get(entry.path) != entry.md5 and entry.md5 not in archived.get(
                    (previous, entry.path), set()
                ):
                    bad.append(f"{entry.path} of {previous} is gone without an archived copy")
        for rid in sorted(ever_live):
            for entry in self.manifest(rid).component_files("dags"):
                if (entry.path, entry.md5) not in anywhere:
                    bad.append(f"{entry.path} of {rid} (once live) is nowhere: not in dags/, not archived")

        # the state names a release whose files are all present
        if live is not None:
            m = self.manifest(live)
            incoming = (
                {e.path: e.md5 for e in self.manifest(target).component_files("dags")}
                if target and not converged
                else {}
            )
            for entry in m.component_files("dags"):
                if md5.get(entry.path) not in {entry.md5, incoming.get(entry.path)}:
                    bad.append(f"state names {live} but {entry.path} is missing or foreign")
            for comp, bucket_md5, base in (
                ("jobs", amd5, f"jobs/{m.components['jobs']}/"),
                ("dbt", md5, f"data/dbt/{m.components['dbt']}/"),
                ("gx", md5, f"data/gx/{m.components['gx']}/"),
            ):
                for entry in m.component_files(comp):
                    if bucket_md5.get(base + entry.path.removeprefix(comp + "/")) != entry.md5:
                        bad.append(f"state names {live} but its {entry.path} is missing")

        if converged:
            if live != target:
                bad.append(f"converged run left {live} live, not {target}")
            elif live is not None:
                want = {e.path: e.md5 for e in self.manifest(live).component_files("dags")}
                have = {
                    n: m for n, m in md5.items() if n.startswith("dags/") and n != "dags/runtime_config.json"
                }
                if have != want:
                    extra = sorted(set(have) - set(want))[:3]
                    differ = sorted(p for p in want if have.get(p) != want[p])[:3]
                    bad.append(f"dags/ is not {live}: extra {extra}, missing or other bytes {differ}")
            if "deployer/lock" in artifacts:
                bad.append("a completed promotion left deployer/lock behind")
        return bad


def kill(proc: subprocess.Popen[str]) -> None:
    """SIGKILL a process and reap it."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)


def wait_paused(proc: subprocess.Popen[str], signal_file: Path, timeout: float = 90) -> bool:
    """True once the process paused (it wrote `signal_file`); False when it ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if signal_file.exists():
            return True
        if proc.poll() is not None:
            return signal_file.exists()
        time.sleep(0.02)
    kill(proc)
    raise TimeoutError(f"no pause within {timeout}s")
