"""Who acts: the authenticated principal on GCP, a declared name on the local platform.

On a `gcp` environment the actor is what the credentials say (`google.auth.default()`: the service
account's e-mail, or the user's e-mail from the token info endpoint); `--as` is refused there, so an
audit entry can never carry a typed-in name. On the `local` platform (the GCS emulator) there are no
credentials: `--as NAME` (default `$USER`) is accepted and every audit entry marks it
`authenticated: false`.
"""

from __future__ import annotations

import getpass
import os
import re
from dataclasses import dataclass
from typing import Any

from platform_model.environment import Environment
from platform_model.errors import ConfigError

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+:-]{0,127}$")
TOKENINFO_URL = "https://oauth2.googleapis.com/tokeninfo"
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


@dataclass(frozen=True)
class Actor:
    """The principal an action is recorded for."""

    name: str
    authenticated: bool


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
