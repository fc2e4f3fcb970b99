"""Print who approved this workflow run's deployment to an environment, from GitHub's own record.

    python .github/scripts/deployment_reviewer.py --environment production

Reads `GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals` (the run's deployment review
history) with the job's token (`GH_TOKEN`, needs `actions: read`), keeps the approved reviews of
the environment, and prints the reviewer's login. The login therefore comes from the review GitHub
enforced before the job started, never from an input someone typed.

Refuses (exit 1, one line) when no approved review exists, when a reviewer of the environment
rejected the run, or when the reviewer is the person who triggered the run (GitHub's "prevent
self-review" should already forbid it; checked again because the deployer's rule depends on it).
Bad configuration (missing variables, unreachable API) exits 2. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
TIMEOUT_SECONDS = 30


class Refused(Exception):
    """The run has no acceptable approval: exit 1."""


class BadSetup(Exception):
    """The script cannot ask GitHub (configuration or transport): exit 2."""


def approvals_url(api_url: str, repository: str, run_id: str) -> str:
    """The review-history endpoint of one run; only https (or http on loopback, for tests)."""
    parsed = urllib.parse.urlsplit(api_url)
    if parsed.scheme != "https" and not (parsed.scheme == "http" and parsed.hostname in LOOPBACK_HOSTS):
        raise BadSetup(f"GITHUB_API_URL {api_url!r} must be an https URL")
    owner, _, name = repository.partition("/")
    if not (LOGIN.fullmatch(owner) and re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", name) and name.strip(".")):
        raise BadSetup(f"GITHUB_REPOSITORY {repository!r} is not owner/name")
    if not run_id.isdigit():
        raise BadSetup(f"GITHUB_RUN_ID {run_id!r} is not a number")
    return f"{api_url.rstrip('/')}/repos/{repository}/actions/runs/{run_id}/approvals"


def fetch_approvals(url: str, token: str) -> list[Any]:
    """The JSON list the endpoint returns."""
    request = urllib.request.Request(  # noqa: S310 - scheme checked in approvals_url
        url,
        headers={
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {token}",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "deployment-reviewer",
        },
    )
    try:
        # Scheme checked in approvals_url: https, or http on loopback only.
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310  # nosec B310
            body = response.read()
    except urllib.error.HTTPError as exc:
        hint = " (does the job have `permissions: actions: read`?)" if exc.code in (401, 403, 404) else ""
        raise BadSetup(f"GET {url}: HTTP {exc.code}{hint}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise BadSetup(f"GET {url}: {getattr(exc, 'reason', exc)}") from None
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        raise BadSetup(f"GET {url}: the answer is not JSON") from None
    if not isinstance(data, list):
        raise BadSetup(f"GET {url}: expected a JSON list of reviews")
    return data


def approving_reviewers(reviews: list[Any], environment: str, triggered_by: set[str]) -> list[str]:
    """Logins that approved `environment`, in review order; refuse rejections and self-approval."""
    approved: list[str] = []
    for review in reviews:
        if not isinstance(review, Mapping):
            continue
        names = {e.get("name") for e in review.get("environments") or [] if isinstance(e, Mapping)}
        if environment not in names:
            continue
        user = review.get("user")
        login = str(user.get("login", "")) if isinstance(user, Mapping) else ""
        state = review.get("state")
        if state == "rejected":
            raise Refused(f"{login or 'a reviewer'} rejected the deployment to {environment}")
        if state != "approved":
            continue
        if not LOGIN.fullmatch(login):
            raise Refused(f"an approval of {environment} carries a malformed login {login[:60]!r}")
        if login.lower() in {t.lower() for t in triggered_by if t}:
            raise Refused(f"{login} approved a run they triggered: self-approval is not accepted")
        if login not in approved:
            approved.append(login)
    if not approved:
        raise Refused(f"no approved review for environment {environment!r} in this run")
    return approved


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Command line: print the reviewer login(s), comma-separated."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--environment", required=True, help="GitHub environment name, e.g. production")
    args = parser.parse_args(argv)
    env = os.environ if environ is None else environ
    try:
        missing = [k for k in ("GH_TOKEN", "GITHUB_REPOSITORY", "GITHUB_RUN_ID") if not env.get(k)]
        if missing:
            raise BadSetup(f"environment variable {missing[0]} is not set")
        api_url = env.get("GITHUB_API_URL", "https://api.github.com")
        url = approvals_url(api_url, env["GITHUB_REPOSITORY"], env["GITHUB_RUN_ID"])
        reviews = fetch_approvals(url, env["GH_TOKEN"])
        triggered_by = {env.get("GITHUB_ACTOR", ""), env.get("GITHUB_TRIGGERING_ACTOR", "")}
        print(",".join(approving_reviewers(reviews, args.environment, triggered_by)))
    except Refused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    except BadSetup as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
