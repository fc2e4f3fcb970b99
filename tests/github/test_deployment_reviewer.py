"""`.github/scripts/deployment_reviewer.py` against a local HTTP server speaking the approvals API.

Only GitHub itself is replaced, at the transport: the script makes its real HTTP request to a
loopback server that answers like `GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from typing import Any

import pytest

from tests.github.helpers import PATH, REPO, RUN_ID, SCRIPTS, FakeGitHub, review


def run(api_url: str, actor: str = "pusher", **overrides: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GH_"))}
    env |= {
        "GITHUB_API_URL": api_url,
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_RUN_ID": RUN_ID,
        "GITHUB_ACTOR": actor,
        "GITHUB_TRIGGERING_ACTOR": actor,
        "GH_TOKEN": "ghs_test-token",  # pragma: allowlist secret (a dummy for the loopback server)
    }
    env |= overrides
    env = {k: v for k, v in env.items() if v != ""}
    return subprocess.run(
        [sys.executable, str(SCRIPTS / "deployment_reviewer.py"), "--environment", "production"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_prints_the_approving_reviewer(github: FakeGitHub) -> None:
    github.body = [review("carol", envs=("staging",)), review("alice")]
    proc = run(github.url)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "alice\n", "")
    path, headers = github.requests[0]
    assert path == PATH
    assert headers["Authorization"] == "Bearer ghs_test-token"
    assert headers["Accept"] == "application/vnd.github+json"


def test_several_reviewers_are_all_named_once(github: FakeGitHub) -> None:
    github.body = [review("alice"), review("bob", envs=("staging", "production")), review("alice")]
    assert run(github.url).stdout == "alice,bob\n"


@pytest.mark.parametrize(
    ("body", "actor", "message"),
    [
        ([], "pusher", "no approved review for environment 'production'"),
        ([review("carol", envs=("staging",))], "pusher", "no approved review"),
        ([review("alice", state="pending")], "pusher", "no approved review"),
        ([review("alice"), review("bob", state="rejected")], "pusher", "bob rejected the deployment"),
        ([review("alice")], "alice", "alice approved a run they triggered"),
        ([review("Alice")], "alice", "self-approval is not accepted"),
        ([review("bad login; rm")], "pusher", "malformed login"),
    ],
)
def test_refusals_exit_1(github: FakeGitHub, body: list[Any], actor: str, message: str) -> None:
    github.body = body
    proc = run(github.url, actor=actor)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and message in proc.stderr


def test_self_approval_by_the_triggering_actor_of_a_rerun(github: FakeGitHub) -> None:
    github.body = [review("dave")]
    proc = run(github.url, actor="pusher", GITHUB_TRIGGERING_ACTOR="dave")
    assert proc.returncode == 1 and "dave approved a run they triggered" in proc.stderr


def test_missing_permission_is_exit_2_with_a_hint(github: FakeGitHub) -> None:
    github.status, github.body = 403, {"message": "Resource not accessible by integration"}
    proc = run(github.url)
    assert proc.returncode == 2 and "HTTP 403" in proc.stderr and "actions: read" in proc.stderr


def test_unexpected_answer_is_exit_2(github: FakeGitHub) -> None:
    github.body = {"total_count": 0}
    proc = run(github.url)
    assert proc.returncode == 2 and "expected a JSON list" in proc.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("api_url", "overrides", "message"),
    [
        ("http://api.github.example", {}, "must be an https URL"),
        ("https://api.github.com", {"GH_TOKEN": ""}, "GH_TOKEN is not set"),
        ("https://api.github.com", {"GITHUB_RUN_ID": "12; x"}, "GITHUB_RUN_ID"),
        ("https://api.github.com", {"GITHUB_REPOSITORY": "../etc"}, "GITHUB_REPOSITORY"),
    ],
)
def test_bad_setup_is_exit_2_without_a_request(api_url: str, overrides: dict[str, str], message: str) -> None:
    proc = run(api_url, **overrides)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and message in proc.stderr


def test_unreachable_api_is_exit_2() -> None:
    proc = run(f"http://127.0.0.1:{free_port()}")
    assert proc.returncode == 2 and proc.stderr.startswith("error: GET http://127.0.0.1:")
