"""A real Airflow 3 for the local platform: API server (UI), scheduler, DAG processor and triggerer as
subprocesses on loopback, fed from the emulated Composer bucket the way Composer feeds its own.

    with LocalAirflow(home) as airflow:            # a throw-away AIRFLOW_HOME; SQLite; LocalExecutor
        sync = BucketSync(gcs, "acme-local-composer", airflow.bucket_root).start()   # every 2 s
        airflow.api("GET", "/api/v2/dags")

Facts this module relies on (Airflow 3.1):
- SQLite carries the scheduler with the LocalExecutor (SequentialExecutor is gone in Airflow 3);
  `[core] parallelism` is kept at 2 because SQLite serialises writers.
- Every process gets its own session (`start_new_session`), so `stop` signals whole process groups:
  the scheduler's LocalExecutor workers and the DAG processor's parsers go with their parents.
- `--skip-serve-logs` on scheduler and triggerer: their log servers bind every interface; the API
  server reads the task logs from the shared local folder instead.
- The simple auth manager with one known admin: the passwords file is written before the start.
- Development mode, as Databricks bundles have it: time-based schedules do not fire here (a cluster
  policy in `$AIRFLOW_HOME/config/airflow_local_settings.py` gives every periodic DAG the None
  timetable). A daily DAG's `catchup` would otherwise start backfilling from its start date the moment
  it is parsed; runs happen when triggered (UI, REST API) or, for DAGs scheduled on assets, when their
  input assets are updated.

`deployer airflow start|stop|status --env local` runs one in the background (`serve` below) with a
state file under `.gen/airflow/`, which `deployer verify` reads to find the API.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from composer.local_run import lineage_events_file, openlineage_environ
from deployer.emulator import free_port, pid_alive
from deployer.gcs import Gcs
from platform_model import REPO_ROOT
from platform_model.errors import ConfigError
from platform_model.manifest import dag_files_last

ADMIN_USER = "admin"
SYNC_PREFIXES = ("dags/", "data/")
STATE_DIR_ENV = "DEPLOYER_AIRFLOW_STATE_DIR"
DEFAULT_STATE_DIR = REPO_ROOT / ".gen" / "airflow"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
LOCAL_SETTINGS = '''"""Development mode of the local Airflow (written by deployer/airflow_local.py)."""

from airflow.timetables.simple import NullTimetable


def dag_policy(dag):
    """Time-based schedules do not fire locally: runs are triggered, or started by asset events."""
    if dag.timetable.periodic:
        dag.timetable = NullTimetable()
        dag.catchup = False
'''


def state_file(env_name: str) -> Path:
    """Where `deployer airflow start --env ENV` records the running Airflow (JSON)."""
    return Path(os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR) / f"{env_name}.json"


def airflow_binary() -> str:
    """The `airflow` script of this interpreter's environment."""
    candidate = Path(sys.executable).parent / "airflow"
    if candidate.is_file():
        return str(candidate)
    found = shutil.which("airflow")
    if not found:
        raise ConfigError("no `airflow` executable beside this Python or on PATH (run: make setup)")
    return found


def process_tree_rss_kib(pids: list[int]) -> int:
    """Resident memory (KiB) of the processes `pids` and all their descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid = int(entry.name)
        children.setdefault(int(fields.get("PPid", "0").strip()), []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
    total, todo, seen = 0, list(pids), set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


def processes_of(home: Path, sessions: list[int] | None = None) -> list[int]:
    """Pids of every process of this Airflow: in one of `sessions` (each component leads its own) or
    running with AIRFLOW_HOME=`home` (/proc/<pid>/environ; setproctitle clobbers that in some, hence
    both). What `stop` must leave none of."""
    wanted = f"AIRFLOW_HOME={home.resolve()}".encode()
    in_sessions = set(sessions or [])
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            stat = (entry / "stat").read_text()
            session = int(stat.rsplit(")", 1)[1].split()[3])  # fields after the name: state ppid pgrp session
            environ = (entry / "environ").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if session in in_sessions or wanted in environ.split(b"\0"):
            found.append(int(entry.name))
    return sorted(found)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_groups(pgids: list[int], grace: float = 15.0) -> None:
    """SIGTERM every process group, then SIGKILL what is left after `grace` seconds."""
    for pgid in pgids:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_group_alive(g) for g in pgids):
        time.sleep(0.1)
    for pgid in pgids:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


class LocalAirflow:
    """Airflow's four long-running components in one AIRFLOW_HOME; a context manager."""

    def __init__(
        self, home: Path, *, port: int | None = None, extra_env: dict[str, str] | None = None
    ) -> None:
        """Prepare an Airflow in `home` (its `gcs/dags` is the DAGs folder) on `port` (a free one)."""
        self.home = home.resolve()
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.password = secrets.token_urlsafe(12)
        self.extra_env = dict(extra_env or {})
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.peak_rss_kib = 0
        self._token: str | None = None

    @property
    def bucket_root(self) -> Path:
        """The bucket's mirror (`/home/airflow/gcs` on Composer): holds `dags/` and `data/`."""
        return self.home / "gcs"

    @property
    def dags_folder(self) -> Path:
        """Airflow's DAGs folder."""
        return self.bucket_root / "dags"

    def environ(self) -> dict[str, str]:
        """The variables every Airflow process of this instance runs with."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
        env.update(
            AIRFLOW_HOME=str(self.home),
            AIRFLOW__CORE__DAGS_FOLDER=str(self.dags_folder),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__EXECUTOR="LocalExecutor",
            AIRFLOW__CORE__PARALLELISM="2",
            AIRFLOW__CORE__AUTH_MANAGER=(
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=f"{ADMIN_USER}:admin",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="False",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(self.home / "passwords.json"),
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{self.url}/execution/",
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{self.home / 'airflow.db'}",
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__PORT=str(self.port),
            AIRFLOW__API__BASE_URL=self.url,
            AIRFLOW__API__WORKERS="1",
            AIRFLOW__API__EXPOSE_CONFIG="False",
            AIRFLOW__API_AUTH__JWT_SECRET=self._secret("jwt"),
            AIRFLOW__API__SECRET_KEY=self._secret("api"),
            # Composer lists the folder every few minutes; locally a changed bucket should show in seconds.
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="3",
            AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="10",
            AIRFLOW__DAG_PROCESSOR__STALE_DAG_THRESHOLD="10",
            AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES="1",
            AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK="False",
            AIRFLOW__LOGGING__BASE_LOG_FOLDER=str(self.home / "logs"),
            AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
            PLATFORM_LOCAL_WAREHOUSE=str(self.home / "warehouse"),
            PYTHONDONTWRITEBYTECODE="1",
        )
        env.update(openlineage_environ(self.dags_folder, lineage_events_file(self.home)))
        env.update(self.extra_env)
        return env

    def _secret(self, name: str) -> str:
        path = self.home / f".{name}-secret"
        if not path.is_file():
            path.write_text(secrets.token_urlsafe(32))
        return path.read_text()

    def prepare(self) -> None:
        """Lay out the home: the bucket's mirror, the admin's password, the cluster policy."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.dags_folder.mkdir(parents=True, exist_ok=True)
        (self.bucket_root / "data").mkdir(parents=True, exist_ok=True)
        (self.home / "passwords.json").write_text(json.dumps({ADMIN_USER: self.password}) + "\n")
        (self.home / "config").mkdir(exist_ok=True)  # on every Airflow process's sys.path
        (self.home / "config" / "airflow_local_settings.py").write_text(LOCAL_SETTINGS)

    def start(self, timeout: float = 180.0) -> LocalAirflow:
        """Migrate the database, start the four components and wait until the API and the scheduler,
        DAG processor and triggerer report healthy; on any failure stop what was started."""
        self.prepare()
        env = self.environ()
        binary = airflow_binary()
        try:
            with open(self.home / "migrate.log", "wb") as log:
                code = subprocess.call(
                    [binary, "db", "migrate"], env=env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout
                )
            if code != 0:
                raise ConfigError(f"airflow db migrate failed (exit {code}): see {self.home / 'migrate.log'}")
            commands = {
                "api-server": [binary, "api-server", "--host", "127.0.0.1", "--port", str(self.port)],
                "scheduler": [binary, "scheduler", "--skip-serve-logs"],
                "dag-processor": [binary, "dag-processor"],
                "triggerer": [binary, "triggerer", "--skip-serve-logs"],
            }
            for name, cmd in commands.items():
                with open(self.home / f"{name}.log", "ab") as log:
                    self.processes[name] = subprocess.Popen(
                        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                    )
            self._wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            for name, proc in self.processes.items():
                if proc.poll() is not None:
                    raise ConfigError(
                        f"airflow {name} exited at start (code {proc.returncode}): see {self.home / name}.log"
                    )
            try:
                health = self.api("GET", "/api/v2/monitor/health", auth=False)
                states = {k: (v or {}).get("status") for k, v in health.items()}
                if all(
                    states.get(c) == "healthy"
                    for c in ("metadatabase", "scheduler", "triggerer", "dag_processor")
                ):
                    return
                last = json.dumps(states)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                last = str(exc)
            self.sample_rss()
            time.sleep(0.5)
        raise ConfigError(f"Airflow at {self.url} was not healthy within {timeout:.0f}s ({last})")

    def sample_rss(self) -> int:
        """The Airflow processes' resident memory now (KiB, all descendants); updates `peak_rss_kib`."""
        now = process_tree_rss_kib([p.pid for p in self.processes.values() if p.poll() is None])
        self.peak_rss_kib = max(self.peak_rss_kib, now)
        return now

    def pgids(self) -> list[int]:
        """The process groups of the components (each component leads its own)."""
        return [p.pid for p in self.processes.values()]

    def stop(self) -> None:
        """Stop every component with all its children (process groups: TERM, then KILL)."""
        if not self.processes:
            return
        with contextlib.suppress(Exception):
            self.sample_rss()
        stop_groups(self.pgids())
        for proc in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        self.processes = {}

    def token(self) -> str:
        """A JWT for the admin user (POST /auth/token), cached."""
        if self._token is None:
            self._token = fetch_token(self.url, ADMIN_USER, self.password)
        return self._token

    def api(self, method: str, path: str, body: Any = None, *, auth: bool = True) -> Any:
        """One JSON call on the API server."""
        headers = {"Authorization": f"Bearer {self.token()}"} if auth else {}
        return call_json(self.url, method, path, body, headers)

    def __enter__(self) -> LocalAirflow:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def call_json(
    base: str, method: str, path: str, body: Any, headers: dict[str, str], timeout: float = 30
) -> Any:
    """A JSON request to `base + path`; raises urllib.error.HTTPError on a non-2xx answer."""
    data = None if body is None else json.dumps(body).encode()
    # B310 cannot apply: `base` is the loopback API server or Composer's https airflow_uri.
    request = urllib.request.Request(  # noqa: S310
        base.rstrip("/") + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", "Accept": "application/json", **headers},
    )
    with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310  # nosec B310
        text = resp.read().decode()
    return json.loads(text) if text else None


def fetch_token(base: str, user: str, password: str) -> str:
    """The simple auth manager's JWT for `user` (POST /auth/token)."""
    answer = call_json(base, "POST", "/auth/token", {"username": user, "password": password}, {})
    return str(answer["access_token"])


# -- the bucket -> folder sync --------------------------------------------------------------------


def _md5_b64(path: Path) -> str:
    import base64

    digest = hashlib.md5(path.read_bytes(), usedforsecurity=False).digest()
    return base64.b64encode(digest).decode()


@dataclass
class SyncResult:
    """What one sync pass changed (bucket-relative names)."""

    downloaded: list[str]
    deleted: list[str]


def sync_once(gcs: Gcs, bucket: str, root: Path, prefixes: tuple[str, ...] = SYNC_PREFIXES) -> SyncResult:
    """Mirror `gs://bucket/<prefix>` into `root/<prefix>` one way, as Composer's sync does: new and
    changed objects (by MD5) are downloaded (written to a temp file, then renamed), local files the
    bucket no longer has are deleted, and folders left empty removed."""
    downloaded: list[str] = []
    deleted: list[str] = []
    for prefix in prefixes:
        remote = {n: o for n, o in gcs.list(bucket, prefix).items() if not n.endswith("/")}
        base = root / prefix
        base.mkdir(parents=True, exist_ok=True)
        for name in dag_files_last(remote):  # a DAG file after what it imports
            info = remote[name]
            target = root / name
            if target.is_file() and info.md5 is not None and _md5_b64(target) == info.md5:
                continue
            obj = gcs.read(bucket, name)
            if obj is None:
                continue  # deleted between the list and the read: the next pass sees it gone
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".sync-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(obj.data)
            os.replace(tmp, target)
            downloaded.append(name)
        for path in sorted(base.rglob("*"), reverse=True):
            rel = path.relative_to(root).as_posix()
            if path.is_file() and not path.name.startswith(".sync-") and rel not in remote:
                path.unlink()
                deleted.append(rel)
            elif path.is_dir() and path.name == "__pycache__":
                continue
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    return SyncResult(downloaded, deleted)


class BucketSync:
    """`sync_once` in a background thread every `interval` seconds (errors logged, the loop goes on)."""

    def __init__(
        self,
        gcs: Gcs,
        bucket: str,
        root: Path,
        interval: float = 2.0,
        log: Callable[[str], None] = lambda _msg: None,
    ) -> None:
        """Mirror `bucket` into `root` (see `sync_once`)."""
        self.gcs = gcs
        self.bucket = bucket
        self.root = root
        self.interval = interval
        self.log = log
        self.passes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run_once(self) -> SyncResult:
        """One pass now (serialised with the background loop)."""
        with self._lock:
            result = sync_once(self.gcs, self.bucket, self.root)
            self.passes += 1
            return result

    def retarget(self, bucket: str) -> SyncResult:
        """Mirror another bucket from now on (one pass right away)."""
        with self._lock:
            self.bucket = bucket
        return self.run_once()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                result = self.run_once()
                if result.downloaded or result.deleted:
                    self.log(f"sync: {len(result.downloaded)} downloaded, {len(result.deleted)} deleted")
            except Exception as exc:  # the loop outlives one failed pass, as Composer's does
                self.log(f"sync failed: {exc}")

    def start(self) -> BucketSync:
        """Start the background loop."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="bucket-sync", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the loop (waits for a running pass)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def __enter__(self) -> BucketSync:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


# -- the background service behind `deployer airflow start` ---------------------------------------


@dataclass
class Running:
    """A background Airflow as its state file records it."""

    pid: int
    url: str
    user: str
    password: str
    home: str
    bucket: str
    pgids: list[int]

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return dict(self.__dict__)


def read_running(env_name: str) -> Running | None:
    """The background Airflow of `env_name`, or None when no state file exists or its process is gone."""
    path = state_file(env_name)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        running = Running(**data)
    except (json.JSONDecodeError, TypeError):
        raise ConfigError(f"{path}: not a state file of `deployer airflow start` (delete it)") from None
    return running if pid_alive(running.pid) else None


@contextlib.contextmanager
def serving(
    gcs: Gcs, bucket: str, home: Path, *, interval: float = 2.0, log: Callable[[str], None] = print
) -> Iterator[tuple[LocalAirflow, BucketSync]]:
    """An Airflow fed from `bucket`: the first sync pass runs before the components start."""
    airflow = LocalAirflow(home)
    sync = BucketSync(gcs, bucket, airflow.bucket_root, interval, log)
    airflow.bucket_root.mkdir(parents=True, exist_ok=True)
    sync.run_once()
    with airflow, sync:
        yield airflow, sync


def serve(env_name: str, gcs: Gcs, bucket: str, home: Path, interval: float = 2.0) -> int:
    """Run an Airflow for `env_name` until SIGTERM/SIGINT, recording it in the state file."""
    path = state_file(env_name)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        with serving(gcs, bucket, home, interval=interval) as (airflow, _sync):
            running = Running(
                os.getpid(), airflow.url, ADMIN_USER, airflow.password, str(home), bucket, airflow.pgids()
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(running.as_dict(), indent=2))
            tmp.chmod(0o600)
            os.replace(tmp, path)
            print(f"airflow ready at {airflow.url}", flush=True)
            while not stop.wait(1.0):
                if any(p.poll() is not None for p in airflow.processes.values()):
                    print("an Airflow component exited: stopping", flush=True)
                    return 1
        return 0
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def main(argv: list[str] | None = None) -> int:
    """`python -m deployer.airflow_local serve --env ENV --home DIR`: what `deployer airflow start` runs."""
    import argparse

    from deployer.context import load_env, open_target

    parser = argparse.ArgumentParser(prog="python -m deployer.airflow_local")
    parser.add_argument("action", choices=["serve"])
    parser.add_argument("--env", required=True)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--interval", type=float, default=2.0)
    args = parser.parse_args(argv)
    try:
        env = load_env(args.env)
        target = open_target(env)
        target.ensure_buckets(target.composer)
        return serve(env.name, target.gcs, target.composer, args.home, args.interval)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())


# -- the UI, seen by a browser ----------------------------------------------------------------------


class _DevTools:
    """The Chrome DevTools protocol over `--remote-debugging-pipe` (fd 3 in, fd 4 out of the browser)."""

    def __init__(self, send_fd: int, recv_fd: int) -> None:
        self.send_fd = send_fd
        self.recv_fd = recv_fd
        self.next_id = 0
        self.buffer = b""

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> Any:
        """Send one command and return its result (events in between are skipped)."""
        import select

        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.send_fd, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + 60
        while True:
            while b"\0" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\0", 1)
                answer = json.loads(raw)
                if answer.get("id") == self.next_id:
                    if "error" in answer:
                        raise ConfigError(f"chromium: {method} failed: {answer['error'].get('message')}")
                    return answer.get("result", {})
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.recv_fd], [], [], left)[0]:
                raise ConfigError(f"chromium did not answer {method} within 60 s")
            chunk = os.read(self.recv_fd, 1 << 20)
            if not chunk:
                raise ConfigError(f"chromium exited while waiting for {method}")
            self.buffer += chunk


def _above_four(fd: int) -> int:
    """`fd` moved to a number above 4, so that the shell moving it to 3 or 4 cannot clobber another."""
    import fcntl

    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


def ui_snapshot(
    base: str, token: str, path: str, wait_for: list[str], png: Path, dom: Path, timeout: float = 120.0
) -> float:
    """Open `base + path` in headless Chromium (Debian's `chromium`) logged in with `token` (the API
    server's `_token` cookie, as its login sets it), wait until the rendered page shows every string of
    `wait_for`, then save a PNG screenshot and the rendered DOM. Returns the seconds it took to render."""
    import base64

    binary = shutil.which("chromium")
    if binary is None:
        raise ConfigError("no `chromium` on PATH (Debian package chromium: run `make .tools/.debian.stamp`)")
    profile = Path(tempfile.mkdtemp(prefix="chromium-"))
    to_browser, from_us = os.pipe()
    to_us, from_browser = os.pipe()
    to_browser, from_browser = _above_four(to_browser), _above_four(from_browser)

    args = [binary, "--headless", "--remote-debugging-pipe", f"--user-data-dir={profile}", "--disable-gpu"]
    args += ["--no-first-run", "--no-default-browser-check", "--hide-scrollbars", "--mute-audio"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to start its sandbox as root
    # The protocol's descriptors are 3 (commands in) and 4 (answers out): bash moves them there.
    moves = f'exec "$0" "$@" 3<&{to_browser} 4>&{from_browser} {to_browser}<&- {from_browser}>&-'
    browser = subprocess.Popen(
        ["/bin/bash", "-c", moves, *args, "about:blank"],  # dash takes one-digit descriptors only
        pass_fds=(to_browser, from_browser),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    os.close(to_browser)
    os.close(from_browser)
    started = time.monotonic()
    try:
        tools = _DevTools(from_us, to_us)
        target = tools.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = tools.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        cookie = {"name": "_token", "value": token, "url": base, "path": "/", "httpOnly": True}
        tools.call("Network.setCookie", cookie, session)
        metrics = {"width": 1440, "height": 1200, "deviceScaleFactor": 1, "mobile": False}
        tools.call("Emulation.setDeviceMetricsOverride", metrics, session)
        tools.call("Page.navigate", {"url": base.rstrip("/") + path}, session)
        deadline = time.monotonic() + timeout
        text, missing = "", list(wait_for)
        while missing:
            if time.monotonic() > deadline:
                raise ConfigError(f"{base}{path} did not show {', '.join(missing)} within {timeout:.0f}s")
            time.sleep(0.5)
            expression = "document.body ? document.body.innerText : ''"
            params = {"expression": expression, "returnByValue": True}
            answer = tools.call("Runtime.evaluate", params, session)
            text = str(answer.get("result", {}).get("value") or "")
            missing = [w for w in wait_for if w not in text]
        rendered = time.monotonic() - started
        time.sleep(1.0)  # let the last fetches paint (icons, counts) before the picture
        shot = tools.call("Page.captureScreenshot", {"format": "png"}, session)
        png.write_bytes(base64.b64decode(shot["data"]))
        html = tools.call(
            "Runtime.evaluate",
            {"expression": "document.documentElement.outerHTML", "returnByValue": True},
            session,
        )
        dom.write_text(str(html["result"]["value"]), encoding="utf-8")
        with contextlib.suppress(ConfigError, OSError):
            tools.call("Browser.close")
        return rendered
    finally:
        stop_groups([browser.pid], grace=5)
        with contextlib.suppress(subprocess.TimeoutExpired):
            browser.wait(timeout=5)
        os.close(from_us)
        os.close(to_us)
        shutil.rmtree(profile, ignore_errors=True)
