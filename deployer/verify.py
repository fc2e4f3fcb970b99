"""`deployer verify`: wait until Airflow runs the live release, report its import errors, pause leftovers.

A promotion ends when the last object is in the Composer bucket; the release is live when Airflow has
parsed it. A DAG of the release counts as live when the Airflow REST API (v2) lists it, not stale, with
- the release's tags: `env:<env>` and `<component>-<digest12>` for jobs, dbt and gx (the DAG library
  tags every DAG with them), so a DAG parsed against another release's artifacts does not pass;
- the source Airflow stored for it (`/api/v2/dagSources/<id>`) equal to the release's file (MD5), so a
  change to the DAG file alone is seen too;
- a parse (`last_parsed_time`) after the promotion: files of the DAG library beside it may have changed.
An import error counts when its file is one of the release's and it was recorded after the promotion.

The API: on `local` the API server that `deployer airflow start` runs (its state file), or
`DEPLOYER_AIRFLOW_URL` with `DEPLOYER_AIRFLOW_USER` / `DEPLOYER_AIRFLOW_PASSWORD` (tests); the simple
auth manager's JWT from `POST /auth/token`. On GCP Composer's `config.airflow_uri` from the Composer
API with the caller's Google OAuth access token (what Composer's Airflow API accepts).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
import urllib.error
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from deployer import airflow_local, composer_api
from deployer.context import Target
from deployer.state import parse_iso, read_state
from deployer.store import ReleaseStore
from platform_model.domain import resolve
from platform_model.errors import ConfigError
from platform_model.runtime import RUNTIME_COMPONENTS, release_domains

URL_ENV = "DEPLOYER_AIRFLOW_URL"
USER_ENV = "DEPLOYER_AIRFLOW_USER"
PASSWORD_ENV = "DEPLOYER_AIRFLOW_PASSWORD"  # noqa: S105  # pragma: allowlist secret (a variable name)
PAGE = 100
IGNORE_FILE = "dags/.airflowignore"
SETTLE_SECONDS = 30.0


# -- the API ----------------------------------------------------------------------------------------


@dataclass
class AirflowApi:
    """An Airflow REST API base URL and a way to get the Authorization header."""

    base: str
    auth: Callable[[], dict[str, str]]

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One JSON call; HTTP and connection failures become ConfigError naming the URL."""
        try:
            return airflow_local.call_json(self.base, method, path, body, self.auth())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:200]
            raise ConfigError(f"Airflow API {method} {self.base}{path}: HTTP {exc.code} {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ConfigError(f"Airflow API at {self.base} is unreachable: {reason}") from None

    def pages(
        self, path: str, key: str, params: dict[str, str | list[str]] | None = None
    ) -> list[dict[str, Any]]:
        """Every item of a paged collection (`limit`/`offset`); a list value repeats its parameter."""
        items: list[dict[str, Any]] = []
        while True:
            query = urllib.parse.urlencode(
                {**(params or {}), "limit": str(PAGE), "offset": str(len(items))}, doseq=True
            )
            answer = self.call("GET", f"{path}?{query}")
            batch = list(answer.get(key) or [])
            items.extend(batch)
            if not batch or len(items) >= int(answer.get("total_entries") or 0):
                return items


def _token_auth(base: str, user: str, password: str) -> Callable[[], dict[str, str]]:
    cache: dict[str, str] = {}

    def auth() -> dict[str, str]:
        if "token" not in cache:
            try:
                cache["token"] = airflow_local.fetch_token(base, user, password)
            except urllib.error.HTTPError as exc:
                raise ConfigError(f"Airflow at {base}: login as {user} refused (HTTP {exc.code})") from None
            except (urllib.error.URLError, OSError) as exc:
                raise ConfigError(
                    f"Airflow API at {base} is unreachable: {getattr(exc, 'reason', exc)}"
                ) from None
        return {"Authorization": f"Bearer {cache['token']}"}

    return auth


def composer_airflow_uri(target: Target) -> str:
    """Composer's Airflow web server / API URL (`config.airflow_uri`) from the Composer API."""
    from google.api_core import exceptions as gexc
    from google.cloud.orchestration.airflow.service_v1 import EnvironmentsClient

    endpoint = os.environ.get(composer_api.ENDPOINT_ENV)
    options: dict[str, Any] | None = {"api_endpoint": endpoint} if endpoint else None
    name = composer_api.environment_resource(target.env)
    client = EnvironmentsClient(credentials=target.credentials, transport="rest", client_options=options)
    try:
        composer = client.get_environment(name=name, timeout=30)
    except gexc.NotFound:
        raise ConfigError(f"Composer environment {name} not found (deploy the infra first)") from None
    uri = str(composer.config.airflow_uri or "")
    if not uri.startswith("https://"):
        raise ConfigError(f"Composer environment {name}: config.airflowUri {uri!r} is not an https URL")
    return uri


def _google_auth(credentials: Any) -> Callable[[], dict[str, str]]:
    def auth() -> dict[str, str]:
        from google.auth.transport.requests import Request

        if not credentials.valid:
            credentials.refresh(Request())
        return {"Authorization": f"Bearer {credentials.token}"}

    return auth


def api_for(target: Target) -> AirflowApi:
    """The Airflow API of the target's environment (see the module docstring)."""
    api = find_api(target)
    if api is None:
        name = target.env.name
        raise ConfigError(
            f"no Airflow is running for {name} (start one: deployer airflow start --env {name})"
        )
    return api


def find_api(target: Target) -> AirflowApi | None:
    """`api_for`, but None on the local platform when no Airflow is configured or running for the
    environment (no `DEPLOYER_AIRFLOW_URL`, no live `deployer airflow start`): then it has no DAG runs."""
    env = target.env
    if env.platform == "gcp":
        return AirflowApi(composer_airflow_uri(target), _google_auth(target.credentials))
    url = os.environ.get(URL_ENV)
    if url:
        user = os.environ.get(USER_ENV) or airflow_local.ADMIN_USER
        password = os.environ.get(PASSWORD_ENV)
        if not password:
            raise ConfigError(f"{URL_ENV} is set but {PASSWORD_ENV} is not")
        return AirflowApi(url, _token_auth(url, user, password))
    running = airflow_local.read_running(env.name)
    if running is None:
        return None
    return AirflowApi(running.url, _token_auth(running.url, running.user, running.password))


# -- DAG runs in progress (run-aware promotion) ---------------------------------------------------------

ACTIVE_STATES = ("queued", "running")


@dataclass(frozen=True)
class ActiveRun:
    """A DAG run Airflow has queued or running."""

    dag_id: str
    run_id: str
    state: str

    def __str__(self) -> str:
        return f"{self.dag_id} run {self.run_id} ({self.state})"

    def as_dict(self) -> dict[str, str]:
        """JSON form (reports and audit entries)."""
        return {"dag_id": self.dag_id, "run_id": self.run_id, "state": self.state}


def active_runs(api: AirflowApi) -> list[ActiveRun]:
    """Every queued or running DAG run, of every DAG (`GET /api/v2/dags/~/dagRuns?state=...`)."""
    items = api.pages("/api/v2/dags/~/dagRuns", "dag_runs", {"state": list(ACTIVE_STATES)})
    runs = {
        ActiveRun(str(r["dag_id"]), str(r["dag_run_id"]), str(r.get("state")))
        for r in items
        if r.get("state") in ACTIVE_STATES
    }
    return sorted(runs, key=lambda r: (r.dag_id, r.run_id))


def dag_files(api: AirflowApi) -> dict[str, list[str]]:
    """Bucket path (`dags/<file>`) -> the ids of the DAGs Airflow parsed from that file (stale ones too:
    a DAG whose file went stale can still have runs)."""
    files: dict[str, list[str]] = {}
    for dag in api.pages("/api/v2/dags", "dags", {"exclude_stale": "false"}):
        rel = str(dag.get("relative_fileloc") or "").replace("\\", "/").lstrip("/")
        if rel:
            files.setdefault(f"dags/{rel}", []).append(str(dag["dag_id"]))
    return {path: sorted(ids) for path, ids in files.items()}


# -- what the release declares ------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """The live release as Airflow should show it."""

    env: str
    release: str
    promoted_at: float
    dag_ids: list[str]
    tags: frozenset[str]
    dag_files: dict[str, str] = field(default_factory=dict, repr=False)  # dags/<path> -> md5 (base64)
    parsed_files: list[str] = field(default_factory=list)  # the .py files Airflow parses (not ignored)


def expected(target: Target, release: str | None = None) -> Expected:
    """The DAG ids, tags and DAG files of the live release (ConfigError when `release` is not live)."""
    state, _ = read_state(target.gcs, target.artifacts, target.env.name)
    current = state.current
    if current is None:
        raise ConfigError(f"{target.env.name} has no live release (promote one first)")
    if release is not None and release != current.release:
        raise ConfigError(f"--release {release} is not live in {target.env.name} (live: {current.release})")
    store = ReleaseStore(target.gcs, target.store)
    published = store.fetch(current.release, verify_files=False)
    manifest = published.manifest
    domains = resolve(target.env, release_domains(manifest, lambda p: store.read_file(published, p)))
    tags = {f"env:{target.env.name}"} | {
        f"{c}-{manifest.components[c][:12].lower()}" for c in RUNTIME_COMPONENTS if c in manifest.components
    }
    dag_files = {e.path: e.md5 for e in manifest.files if e.path.startswith("dags/")}
    ignore = store.read_file(published, IGNORE_FILE).decode() if IGNORE_FILE in dag_files else ""
    return Expected(
        env=target.env.name,
        release=current.release,
        promoted_at=parse_iso(current.promoted_at).timestamp(),
        dag_ids=[dag for domain in domains.values() for dag in domain.dag_ids()],
        tags=frozenset(tags),
        dag_files=dag_files,
        parsed_files=parsed_files(list(dag_files), ignore),
    )


def parsed_files(paths: list[str], airflowignore: str) -> list[str]:
    """The release's DAG files Airflow parses: `.py` files under dags/ that the top-level
    `.airflowignore` (regexp syntax, Airflow's default) does not exclude."""
    patterns = []
    for line in airflowignore.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            try:
                patterns.append(re.compile(line))
            except re.error:
                continue  # Airflow skips a bad pattern too
    out = []
    for path in paths:
        rel = path.removeprefix("dags/")
        if rel.endswith(".py") and not any(p.search(rel) for p in patterns):
            out.append(path)
    return sorted(out)


# -- one look at Airflow ---------------------------------------------------------------------------------


def _md5_b64(text: str) -> str:
    return base64.b64encode(hashlib.md5(text.encode(), usedforsecurity=False).digest()).decode()


def _when(value: str | None) -> float:
    return parse_iso(value).timestamp() if value else 0.0


def _release_path(filename: str, dag_files: dict[str, str]) -> str | None:
    """The release path (`dags/...`) of a file name Airflow reports (relative or absolute)."""
    name = filename.replace("\\", "/")
    for path in dag_files:
        rel = path.removeprefix("dags/")
        if name in (rel, path) or name.endswith("/" + rel):
            return path
    return None


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "unknown error"


@dataclass
class Look:
    """What Airflow shows of the release at one moment."""

    # dag id -> live | missing | stale | wrong tags (...) | old source of ... | not parsed since ...
    dags: dict[str, str]
    errors: list[dict[str, str]]
    # parsed files with neither a current DAG nor an import error yet
    pending: list[str] = field(default_factory=list)

    @property
    def live(self) -> bool:
        """Every DAG of the release is live."""
        return all(state == "live" for state in self.dags.values())


def look(api: AirflowApi, want: Expected) -> Look:
    """One look at the DAGs and import errors Airflow has."""
    known = {d["dag_id"]: d for d in api.pages("/api/v2/dags", "dags", {"exclude_stale": "false"})}
    states: dict[str, str] = {}
    current: set[str] = set()
    sources: dict[str, str] = {}

    def source_md5(dag_id: str) -> str:
        if dag_id not in sources:
            answer = api.call("GET", f"/api/v2/dagSources/{urllib.parse.quote(dag_id)}")
            sources[dag_id] = _md5_b64(str(answer.get("content") or ""))
        return sources[dag_id]

    for item in known.values():
        path = _release_path(str(item.get("relative_fileloc") or ""), want.dag_files)
        if path is None or path in current or item.get("is_stale"):
            continue
        if (
            _when(item.get("last_parsed_time")) >= want.promoted_at
            and source_md5(item["dag_id"]) == want.dag_files[path]
        ):
            current.add(path)
    for dag_id in want.dag_ids:
        dag = known.get(dag_id)
        if dag is None:
            states[dag_id] = "missing"
            continue
        if dag.get("is_stale"):
            states[dag_id] = "stale"
            continue
        tags = {t["name"] for t in dag.get("tags") or []}
        lacking = sorted(want.tags - tags)
        if lacking:
            states[dag_id] = f"wrong tags (lacks {', '.join(lacking)})"
            continue
        if _when(dag.get("last_parsed_time")) < want.promoted_at:
            states[dag_id] = "not parsed since the promotion"
            continue
        path = _release_path(str(dag.get("relative_fileloc") or dag.get("fileloc") or ""), want.dag_files)
        if path is None:
            states[dag_id] = f"declared by {dag.get('relative_fileloc')}, not a file of {want.release}"
            continue
        if source_md5(dag_id) != want.dag_files[path]:
            states[dag_id] = f"old source of {path}"
            continue
        states[dag_id] = "live"
    errors = []
    for item in api.pages("/api/v2/importErrors", "import_errors"):
        path = _release_path(str(item.get("filename") or ""), want.dag_files)
        if path is None or _when(item.get("timestamp")) < want.promoted_at:
            continue
        errors.append({"file": path, "message": _last_line(str(item.get("stack_trace") or ""))})
    errors.sort(key=lambda e: e["file"])
    failed = {e["file"] for e in errors}
    pending = [p for p in want.parsed_files if p not in current and p not in failed]
    return Look(states, errors, pending)


# -- verify and leftovers ----------------------------------------------------------------------------------


@dataclass
class Verdict:
    """The outcome of `verify`."""

    env: str
    release: str
    status: str  # live | import_errors | timeout
    seconds: float
    dags: dict[str, str]
    import_errors: list[dict[str, str]]
    paused_leftovers: list[str]
    no_dags: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 live, 1 otherwise."""
        return 0 if self.status == "live" else 1

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return dict(self.__dict__)


def verify(
    api: AirflowApi,
    want: Expected,
    *,
    timeout: float = 600.0,
    interval: float = 2.0,
    settle: float = SETTLE_SECONDS,
    progress: Callable[[Look], None] = lambda _look: None,
) -> Verdict:
    """Poll until every DAG of `want` is live and every parsed file of the release shows a current DAG
    or an import error (then pause the leftovers), until the same import errors show twice in a row,
    or until `timeout`. A file that declares no DAG (its domain is switched off here) shows neither:
    it is waited for `settle` seconds after the DAGs went live, then listed in `no_dags`.
    `seconds` counts from the promotion."""
    started = time.monotonic()
    live_since: float | None = None
    previous_errors: list[dict[str, str]] | None = None
    while True:
        seen = look(api, want)
        progress(seen)
        seconds = round(time.time() - want.promoted_at, 1)
        if seen.live and not seen.errors:
            live_since = live_since if live_since is not None else time.monotonic()
            if not seen.pending or time.monotonic() - live_since >= settle:
                paused = pause_leftovers(api, want)
                return Verdict(want.env, want.release, "live", seconds, seen.dags, [], paused, seen.pending)
        else:
            live_since = None
        if seen.errors and seen.errors == previous_errors:
            return Verdict(want.env, want.release, "import_errors", seconds, seen.dags, seen.errors, [])
        previous_errors = seen.errors or None
        if time.monotonic() - started >= timeout:
            return Verdict(want.env, want.release, "timeout", seconds, seen.dags, seen.errors, [])
        time.sleep(interval)


def leftovers(api: AirflowApi, want: Expected) -> list[dict[str, Any]]:
    """DAGs Airflow still knows that the live release does not declare and whose file it does not ship
    (archived by a promotion): dag id, file, paused, stale."""
    out = []
    for dag in api.pages("/api/v2/dags", "dags", {"exclude_stale": "false"}):
        if dag["dag_id"] in want.dag_ids:
            continue
        shipped = _release_path(str(dag.get("relative_fileloc") or ""), want.dag_files)
        if shipped is not None and not dag.get("is_stale"):
            continue
        out.append(
            {
                "dag_id": dag["dag_id"],
                "file": dag.get("relative_fileloc"),
                "is_paused": bool(dag.get("is_paused")),
                "is_stale": bool(dag.get("is_stale")),
            }
        )
    return sorted(out, key=lambda d: d["dag_id"])


def pause_leftovers(api: AirflowApi, want: Expected) -> list[str]:
    """Pause (PATCH is_paused) every leftover not paused yet; its runs and history stay. Returns their ids."""
    paused = []
    for dag in leftovers(api, want):
        if dag["is_paused"]:
            continue
        dag_id = urllib.parse.quote(dag["dag_id"])
        api.call("PATCH", f"/api/v2/dags/{dag_id}?update_mask=is_paused", {"is_paused": True})
        paused.append(dag["dag_id"])
    return paused


def status_leftovers(target: Target) -> dict[str, Any]:
    """For `deployer status`: the leftovers of the live release, or why they cannot be listed
    (`{"leftovers": [...]}` or `{"leftovers": None, "unavailable": "<reason>"}`); never raises ConfigError."""
    try:
        want = expected(target)
        return {"leftovers": leftovers(api_for(target), want)}
    except ConfigError as exc:
        return {"leftovers": None, "unavailable": str(exc)}
