"""`deployer approval grant --github-run RUN`: the grantor is the reviewer GitHub recorded for the run.

GitHub is replaced at the transport only: a loopback HTTP server (tests/github/helpers.py) answers
`GET /repos/{owner}/{repo}/actions/runs/{run_id}` and `.../approvals` like GitHub, and the deployer makes
its real requests to it through `GITHUB_API_URL`. `local-prod`'s GitHub environment is `local-prod`; its
approvers here are bob, carol and the GitHub reviewer `carol-gh`.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from deployer import identity
from platform_model.environment import load_environment
from platform_model.errors import ConfigError
from tests.conftest import DeployerEnv, write_local_envs
from tests.deployer.conftest import Releases
from tests.deployer.helpers import Result, cli, one_line_error
from tests.github.helpers import (
    PATH,
    REPO,
    RUN_ID,
    RUN_PATH,
    RUN_URL,
    FakeGitHub,
    review,
    serve_github,
    workflow_run,
)

ENV = "local-prod"
GH_ENV = "local-prod"  # github.environment of environments/local-prod.yaml
APPROVERS = ["bob", "carol", "github:carol-gh"]
TOKEN = "ghs_test-token"  # pragma: allowlist secret (a dummy for the loopback server)


@pytest.fixture
def github(
    env_with_releases: DeployerEnv, releases: Releases, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeGitHub]:
    write_local_envs(
        env_with_releases.env_dir, env_with_releases.suffix, {ENV: {"promotion.approvers": APPROVERS}}
    )
    assert cli("release", "publish", releases.a, "--env", ENV).code == 0
    with serve_github() as fake:
        monkeypatch.setenv("GITHUB_API_URL", fake.url)
        monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        yield fake


def request(release: str) -> str:
    made = cli("approval", "request", "--env", ENV, "--release", release, "--as", "ci-deployer", "--json")
    assert made.code == 0, made.err
    return str(made.json()["id"])


def grant(request_id: str, *extra: str) -> Result:
    return cli(
        "approval", "grant", request_id, "--env", ENV, "--as", "prod-approver", "--github-run", RUN_ID, *extra
    )


def last_audit() -> dict[str, Any]:
    return dict(cli("audit", "--env", ENV, "--json").json()["entries"][-1])


def status_of(request_id: str) -> str:
    listed = cli("approval", "list", "--env", ENV, "--json").json()["approvals"]
    return str(next(a["status"] for a in listed if a["id"] == request_id))


def test_a_listed_reviewer_grants_with_login_and_run_url(github: FakeGitHub, releases: Releases) -> None:
    github.body = [review("someone", envs=("staging",)), review("carol-gh", envs=(GH_ENV,))]
    rid = request(releases.a)
    result = grant(rid, "--json")
    assert result.code == 0, result.err
    granted = result.json()
    assert (granted["granted_by"], granted["granted_via"], granted["github_run"]) == (
        "github:carol-gh",
        "prod-approver",
        RUN_URL,
    )
    assert [path for path, _ in github.requests] == [RUN_PATH, PATH]
    headers = github.requests[1][1]
    assert (
        headers["Authorization"] == f"Bearer {TOKEN}" and headers["Accept"] == "application/vnd.github+json"
    )

    entry = last_audit()
    assert (entry["action"], entry["outcome"], entry["actor"], entry["via"]) == (
        "approval-grant",
        "ok",
        "github:carol-gh",
        "prod-approver",
    )
    assert entry["details"]["github_run"] == RUN_URL and entry["details"]["github_environment"] == GH_ENV
    text = cli("audit", "--env", ENV)
    assert any("github:carol-gh" in line and "approval-grant" in line for line in text.out.splitlines())

    promoted = cli("promote", "--env", ENV, "--release", releases.a, "--yes", "--as", "ci-deployer", "--json")
    assert promoted.code == 0, promoted.err
    assert promoted.json()["approval"] == {"id": rid, "approved_by": "github:carol-gh"}
    assert cli("status", "--env", ENV, "--json").json()["approved_by"] == "github:carol-gh"


def test_of_several_reviewers_the_listed_one_is_the_grantor(github: FakeGitHub, releases: Releases) -> None:
    github.body = [review("mallory", envs=(GH_ENV,)), review("Carol-GH", envs=("staging", GH_ENV))]
    result = grant(request(releases.a), "--json")
    assert result.code == 0, result.err
    assert result.json()["granted_by"] == "github:Carol-GH"


def test_an_unlisted_reviewer_is_refused_and_audited(github: FakeGitHub, releases: Releases) -> None:
    github.body = [review("mallory", envs=(GH_ENV,))]
    rid = request(releases.a)
    line = one_line_error(grant(rid), code=1)
    assert line == (
        "error: github:mallory is not an approver of local-prod: promotion.approvers in "
        "environments/local-prod.yaml lists bob, carol, github:carol-gh"
    )
    entry = last_audit()
    assert (entry["action"], entry["outcome"], entry["actor"], entry["via"]) == (
        "approval-grant",
        "refused",
        "github:mallory",
        "prod-approver",
    )
    assert entry["reason"] == line.removeprefix("error: ") and entry["details"]["github_run"] == RUN_URL
    assert status_of(rid) == "requested"


@pytest.mark.parametrize(
    ("body", "run", "message"),
    [
        (
            [],
            workflow_run(),
            f"workflow run {RUN_ID} has no approved review of GitHub environment 'local-prod'",
        ),
        ([review("carol-gh", envs=("production",))], workflow_run(), "has no approved review"),
        ([review("carol-gh", state="pending", envs=(GH_ENV,))], workflow_run(), "has no approved review"),
        (
            [review("carol-gh", envs=(GH_ENV,)), review("bob", state="rejected", envs=(GH_ENV,))],
            workflow_run(),
            f"bob rejected the deployment of run {RUN_ID} to local-prod",
        ),
        (
            [review("carol-gh", envs=(GH_ENV,))],
            workflow_run(actor="carol-gh"),
            "self-approval is not accepted",
        ),
        (
            [review("carol-gh", envs=(GH_ENV,))],
            workflow_run(actor="pusher", triggering_actor="CAROL-gh"),
            "which they triggered",
        ),
        ([review("bad login; rm", envs=(GH_ENV,))], workflow_run(), "malformed login"),
        ([review("carol-gh", envs=(GH_ENV,))], workflow_run(status="completed"), "is completed"),
        (
            [review("carol-gh", envs=(GH_ENV,))],
            {**workflow_run(), "repository": {"id": 1, "full_name": REPO}},
            "belongs to repository id 1, not 812345678",
        ),
    ],
)
def test_runs_without_an_acceptable_review_are_refused_and_audited(
    github: FakeGitHub, releases: Releases, body: list[Any], run: Any, message: str
) -> None:
    github.body, github.run = body, run
    rid = request(releases.a)
    line = one_line_error(grant(rid), code=1)
    assert message in line
    entry = last_audit()
    assert (entry["action"], entry["outcome"], entry["actor"]) == (
        "approval-grant",
        "refused",
        "prod-approver",
    )
    assert entry["reason"] == line.removeprefix("error: ")
    assert status_of(rid) == "requested"


def test_a_run_of_another_repository_is_refused(
    github: FakeGitHub, releases: Releases, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_REPOSITORY", "someone/fork")
    github.body = [review("carol-gh", envs=(GH_ENV,))]
    line = one_line_error(grant(request(releases.a)), code=1)
    assert "is in someone/fork, but environments/local-prod.yaml admits reviews of acme/data-platform" in line
    assert github.requests == []


@pytest.mark.parametrize(
    ("status", "body", "run_status", "message"),
    [
        (403, {"message": "Resource not accessible by integration"}, 200, "HTTP 403 (does the job have"),
        (200, {"total_count": 0}, 200, "expected a JSON list of reviews"),
        (200, [], 404, f"GET http://127.0.0.1:PORT{RUN_PATH}: HTTP 404"),
    ],
)
def test_bad_answers_are_exit_2(
    github: FakeGitHub, releases: Releases, status: int, body: Any, run_status: int, message: str
) -> None:
    github.status, github.body, github.run_status = status, body, run_status
    rid = request(releases.a)
    port = github.url.rsplit(":", 1)[1]
    assert message.replace("PORT", port) in one_line_error(grant(rid), code=2)
    assert status_of(rid) == "requested"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_github_unreachable_is_one_line_exit_2(
    github: FakeGitHub, releases: Releases, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("GITHUB_API_URL", url)
    rid = request(releases.a)
    line = one_line_error(grant(rid), code=2)
    assert line.startswith(f"error: GitHub API unreachable: GET {url}{RUN_PATH}: ")
    assert status_of(rid) == "requested"


@pytest.mark.parametrize(
    ("variable", "value", "run_id", "message"),
    [
        ("GITHUB_TOKEN", "", RUN_ID, "GITHUB_TOKEN is not set"),
        ("GITHUB_REPOSITORY", "../etc", RUN_ID, "GITHUB_REPOSITORY '../etc' is not owner/name"),
        ("GITHUB_API_URL", "http://api.github.example", RUN_ID, "must be an https URL"),
        ("GITHUB_TOKEN", TOKEN, "12; x", "--github-run: '12; x' is not a workflow run id"),
    ],
)
def test_bad_setup_is_exit_2_without_a_request(
    github: FakeGitHub,
    releases: Releases,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    run_id: str,
    message: str,
) -> None:
    monkeypatch.setenv(variable, value)
    rid = request(releases.a)
    result = cli("approval", "grant", rid, "--env", ENV, "--as", "prod-approver", "--github-run", run_id)
    assert message in one_line_error(result, code=2)
    assert github.requests == []


def test_plain_http_is_refused_on_gcp() -> None:
    """Plain http to loopback serves the local tests only; a gcp environment asks GitHub over https."""
    prod = load_environment("prod")
    environ = {"GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": REPO, "GITHUB_API_URL": "http://127.0.0.1:9"}
    with pytest.raises(
        ConfigError, match=re.escape("GITHUB_API_URL 'http://127.0.0.1:9' must be an https URL")
    ):
        identity.github_review(prod, RUN_ID, environ)
