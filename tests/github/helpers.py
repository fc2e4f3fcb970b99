"""Shared helpers for the GitHub tests: the stdlib scripts as modules, a loopback approvals API."""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / ".github" / "scripts"


def load_script(name: str) -> ModuleType:
    """Import `.github/scripts/<name>.py` (they are scripts, not a package)."""
    path = SCRIPTS / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"gh_scripts_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


REPO = "acme/data-platform"
RUN_ID = "4242"
PATH = f"/repos/{REPO}/actions/runs/{RUN_ID}/approvals"


@dataclass
class FakeGitHub:
    """What the server answers, and what it was asked."""

    status: int = 200
    body: Any = field(default_factory=list)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    url: str = ""


def review(login: str, state: str = "approved", envs: tuple[str, ...] = ("production",)) -> dict[str, Any]:
    """One entry of the review history, shaped like GitHub's."""
    return {
        "state": state,
        "comment": "ship it",
        "environments": [
            {"id": i, "name": name, "url": f"https://api.github.com/x/{name}"} for i, name in enumerate(envs)
        ],
        "user": {"login": login, "id": 1, "type": "User"},
    }


@contextmanager
def serve_github() -> Iterator[FakeGitHub]:
    """A loopback server answering `GET /repos/{REPO}/actions/runs/{RUN_ID}/approvals` like GitHub."""
    fake = FakeGitHub()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fake.requests.append((self.path, dict(self.headers)))
            payload = json.dumps(fake.body).encode() if self.path == PATH else b'{"message": "Not Found"}'
            self.send_response(fake.status if self.path == PATH else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
