"""Who acts: the authenticated principal on GCP, a declared name on the local platform.

On a `gcp` environment the actor is what the credentials say (`google.auth.default()`: the service
account's e-mail, or the user's e-mail from the token info endpoint); `--as` is refused there, so an
audit entry can never carry a typed-in name. On the `local` platform (the GCS emulator) there are no
credentials: `--as NAME` (default `$USER`) is accepted and every audit entry marks it
`authenticated: false`.

A grant made from a GitHub deployment review (`approval grant --github-run RUN`) acts as
`github:<login>` of the reviewer, read from GitHub's record of the run (`github_review`), never typed in;
the principal that writes it (the approver service account, or the local name) is kept as `via`.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from platform_model.environment import Environment
from platform_model.errors import ConfigError, Refused

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+:-]{0,127}$")
TOKENINFO_URL = "https://oauth2.googleapis.com/tokeninfo"
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


@dataclass(frozen=True)
class Actor:
    """The principal an action is recorded for."""

    name: str
    authenticated: bool
    via: str | None = None  # the principal that wrote on the actor's behalf (a GitHub reviewer's grant)


def same(a: str, b: str) -> bool:
    """Whether two identities are the same person: e-mails and GitHub logins ignore case, and so do local
    names, so `Alice` cannot approve what `alice` requested."""
    return a.casefold() == b.casefold()


def gcp_credentials() -> Any:
    """Application-default credentials (raises google.auth errors, turned into one line by the CLI)."""
    import google.auth

    credentials, _project = google.auth.default(scopes=SCOPES)
    return credentials


def _principal(credentials: Any) -> str:
    import google.auth.transport.requests

    email = getattr(credentials, "service_account_email", None)
    if isinstance(email, str) and "@" in email:
        return email
    request = google.auth.transport.requests.Request()
    credentials.refresh(request)
    email = getattr(credentials, "service_account_email", None)
    if isinstance(email, str) and "@" in email:
        return email
    import requests

    resp = requests.get(TOKENINFO_URL, params={"access_token": credentials.token}, timeout=30)
    info = resp.json() if resp.ok else {}
    if isinstance(info.get("email"), str):
        return str(info["email"])
    raise ConfigError(
        "cannot tell who the credentials belong to (no service account e-mail, no token e-mail)"
    )


def check_as(env: Environment, as_name: str | None) -> None:
    """Refuse `--as` on a gcp environment (before anything connects anywhere)."""
    if as_name is not None and env.platform != "local":
        raise ConfigError(
            f"--as is only accepted on the local platform; on {env.name} the actor comes from the credentials"
        )


def resolve(env: Environment, as_name: str | None, credentials: Any = None) -> Actor:
    """The actor for a command on `env`; `as_name` is the `--as` option (local platform only)."""
    if env.platform == "local":
        name = as_name if as_name is not None else (os.environ.get("USER") or _login())
        if not _NAME_RE.fullmatch(name):
            raise ConfigError(
                f"--as: {name!r} is not a valid name (letters, digits and ._@+:- only, at most 128)"
            )
        return Actor(name, authenticated=False)
    check_as(env, as_name)
    return Actor(
        _principal(credentials if credentials is not None else gcp_credentials()), authenticated=True
    )


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


GITHUB_API_URL = "https://api.github.com"
GITHUB_TIMEOUT_SECONDS = 30
_GITHUB_LOGIN_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
_REPOSITORY_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9_.-]{1,100}$")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class GitHubReview:
    """Who approved a workflow run's deployment to a GitHub environment, as GitHub recorded it."""

    logins: tuple[str, ...]
    environment: str
    run_id: int
    run_url: str

    def grantor(self, approvers: list[str]) -> str:
        """`github:<login>` of the reviewer to record: the first who is an approver, else the first."""
        names = [f"github:{login}" for login in self.logins]
        return next((n for n in names if any(same(n, a) for a in approvers)), names[0])


def github_review(env: Environment, run_id: str, environ: Mapping[str, str]) -> GitHubReview:
    """The approved review of `env.github.environment` in workflow run `run_id` of `env.github.repository`,
    read with `GITHUB_TOKEN` from `GITHUB_API_URL` (default api.github.com): the run
    (`GET /repos/{repo}/actions/runs/{id}`) and its review history (`.../approvals`).

    ConfigError (exit 2) when it cannot ask (missing variables, bad URL, GitHub unreachable or answering
    nonsense); Refused when the run has no approval to offer: another repository, a finished run, a rejected
    or missing review of that environment, a malformed login, or a reviewer who triggered the run."""
    if not run_id.isdigit() or len(run_id) > 20:
        raise ConfigError(f"--github-run: {run_id!r} is not a workflow run id (digits, e.g. $GITHUB_RUN_ID)")
    environment = env.github.environment
    if not environment:
        raise ConfigError(
            f"{env.file}: github.environment is not set, so no GitHub deployment review can approve "
            f"{env.name}"
        )
    token = environ.get("GITHUB_TOKEN", "")
    if not token:
        raise ConfigError(
            "--github-run: GITHUB_TOKEN is not set (the job's token, with `permissions: actions: read`)"
        )
    repository = environ.get("GITHUB_REPOSITORY", "")
    if not _REPOSITORY_RE.fullmatch(repository) or repository.split("/")[1].strip(".") == "":
        raise ConfigError(f"--github-run: GITHUB_REPOSITORY {repository[:120]!r} is not owner/name")
    if not same(repository, env.github.repository):
        raise Refused(
            f"workflow run {run_id} is in {repository}, but {env.file} admits reviews of "
            f"{env.github.repository} only (github.repository)"
        )
    api = _api_url(env, environ.get("GITHUB_API_URL") or GITHUB_API_URL)
    base = f"{api}/repos/{repository}/actions/runs/{run_id}"
    run = _get_json(base, token)
    if not isinstance(run, Mapping):
        raise ConfigError(f"GitHub API: GET {base}: expected a workflow run object")
    repo = run.get("repository")
    repo_id = str(repo.get("id", "")) if isinstance(repo, Mapping) else ""
    if repo_id != env.github.repository_id:
        raise Refused(
            f"workflow run {run_id} belongs to repository id {repo_id or '?'}, not "
            f"{env.github.repository_id} ({env.file} github.repository_id)"
        )
    if run.get("status") == "completed":
        raise Refused(
            f"workflow run {run_id} is completed: only the run that is deploying now can grant an approval"
        )
    run_url = run.get("html_url")
    if not isinstance(run_url, str) or not run_url.startswith(("https://", "http://")) or len(run_url) > 500:
        raise ConfigError(f"GitHub API: GET {base}: the run has no html_url")
    reviews = _get_json(f"{base}/approvals", token)
    if not isinstance(reviews, list):
        raise ConfigError(f"GitHub API: GET {base}/approvals: expected a JSON list of reviews")
    triggered_by = {_login_of(run.get(k)) for k in ("actor", "triggering_actor")} - {""}
    logins = _approving(reviews, environment, triggered_by, int(run_id))
    return GitHubReview(logins, environment, int(run_id), run_url)


def _api_url(env: Environment, api_url: str) -> str:
    """GITHUB_API_URL, https only (plain http on loopback is accepted on the local platform, for tests)."""
    parsed = urllib.parse.urlsplit(api_url)
    loopback = parsed.scheme == "http" and parsed.hostname in _LOOPBACK and env.platform == "local"
    if not (parsed.scheme == "https" and parsed.hostname) and not loopback:
        raise ConfigError(f"GITHUB_API_URL {api_url[:120]!r} must be an https URL")
    return api_url.rstrip("/")


def _get_json(url: str, token: str) -> Any:
    request = urllib.request.Request(  # noqa: S310 - scheme checked in _api_url
        url,
        headers={
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {token}",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "platform-deployer",
        },
    )
    try:
        # Scheme checked in _api_url: https, or http on loopback for the local platform only.
        with urllib.request.urlopen(request, timeout=GITHUB_TIMEOUT_SECONDS) as response:  # noqa: S310  # nosec B310
            body = response.read(4 * 1024 * 1024)
    except urllib.error.HTTPError as exc:
        hint = " (does the job have `permissions: actions: read`?)" if exc.code in (401, 403, 404) else ""
        raise ConfigError(f"GitHub API: GET {url}: HTTP {exc.code}{hint}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise ConfigError(f"GitHub API unreachable: GET {url}: {getattr(exc, 'reason', exc)}") from None
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ConfigError(f"GitHub API: GET {url}: the answer is not JSON") from None


def _login_of(user: object) -> str:
    return str(user.get("login") or "") if isinstance(user, Mapping) else ""


def _approving(reviews: list[Any], environment: str, triggered_by: set[str], run_id: int) -> tuple[str, ...]:
    """Logins that approved `environment`, in review order; Refused on a rejection, a malformed login,
    self-review, or when there is none."""
    approved: list[str] = []
    for review in reviews:
        if not isinstance(review, Mapping):
            continue
        names = {e.get("name") for e in review.get("environments") or [] if isinstance(e, Mapping)}
        if environment not in names:
            continue
        login = _login_of(review.get("user"))
        state = review.get("state")
        if state == "rejected":
            raise Refused(f"{login or 'a reviewer'} rejected the deployment of run {run_id} to {environment}")
        if state != "approved":
            continue
        if not _GITHUB_LOGIN_RE.fullmatch(login):
            raise Refused(
                f"an approval of {environment} in run {run_id} carries a malformed login {login[:60]!r}"
            )
        if any(same(login, t) for t in triggered_by):
            raise Refused(
                f"github:{login} approved run {run_id}, which they triggered: self-approval is not accepted"
            )
        if login not in approved:
            approved.append(login)
    if not approved:
        raise Refused(f"workflow run {run_id} has no approved review of GitHub environment {environment!r}")
    return tuple(approved)
