"""Shared helpers for the GitHub tests: the stdlib scripts as modules, a loopback GitHub API serving one
workflow run and its review history."""

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
    """Import `.github/scripts/<name>.py` (they are scripts, not a package); their folder goes on the
    import path first, as when the script runs (`python .github/scripts/x.py`), for their sibling imports."""
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    path = SCRIPTS / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"gh_scripts_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


REPO = "acme/data-platform"
RUN_ID = "4242"
REPO_ID = 812345678  # github.repository_id of the committed environment files
RUN_PATH = f"/repos/{REPO}/actions/runs/{RUN_ID}"
PATH = f"{RUN_PATH}/approvals"
RUN_URL = f"https://github.com/{REPO}/actions/runs/{RUN_ID}"


def workflow_run(
    actor: str = "pusher", triggering_actor: str | None = None, status: str = "in_progress"
) -> Any:
    """`GET /repos/{owner}/{repo}/actions/runs/{run_id}`: the fields the deployer reads, like GitHub's."""
    return {
        "id": int(RUN_ID),
        "name": "promote",
        "path": ".github/workflows/promote.yml",
        "event": "push",
        "status": status,
        "conclusion": None,
        "run_attempt": 1,
        "html_url": RUN_URL,
        "actor": {"login": actor, "id": 7, "type": "User"},
        "triggering_actor": {"login": triggering_actor or actor, "id": 8, "type": "User"},
        "repository": {"id": REPO_ID, "full_name": REPO, "name": REPO.split("/")[1]},
    }


@dataclass
class FakeGitHub:
    """What the server answers (`body`/`status` for the review history, `run`/`run_status` for the run),
    and what it was asked."""

    status: int = 200
    body: Any = field(default_factory=list)
    run: Any = field(default_factory=workflow_run)
    run_status: int = 200
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
    """A loopback server answering `GET /repos/{REPO}/actions/runs/{RUN_ID}` and `.../approvals` like
    GitHub (anything else: 404)."""
    fake = FakeGitHub()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fake.requests.append((self.path, dict(self.headers)))
            answers = {PATH: (fake.status, fake.body), RUN_PATH: (fake.run_status, fake.run)}
            status, body = answers.get(self.path, (404, {"message": "Not Found"}))
            payload = json.dumps(body).encode()
            self.send_response(status)
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
