"""Replay promote.yml's own scripts against the local platform: release -> staging -> prod.

The `run:` scripts are taken from the workflow file and executed with bash as GitHub would
(`bash -eo pipefail`), with the job/step `env:` expressions resolved from the outputs earlier steps
wrote to `$GITHUB_OUTPUT`. Only what cannot exist here is swapped, at the boundaries:

- environment names: `staging` -> `local`, `prod` -> `local-prod` (approval required; its GitHub
  environment is `local-prod`, its approvers here also list the reviewer `github:alice`), in the GCS
  emulator (tests/conftest.py `deployer_env`);
- Workload Identity Federation: each auth step switches the acting name instead (`$USER`, which the
  deployer records unauthenticated on the local platform): the deployer account acts as
  `ci-deployer`, the approver account as `prod-approver`;
- GitHub's API (the run and its deployment reviews, which `approval grant --github-run` reads): a
  loopback HTTP server (tests/github/helpers.py), reached through `GITHUB_API_URL`;
- Composer's Airflow, which `deployer verify` asks after each promotion: the session's real local
  Airflow (tests/airflow_fixture.py), fed from the Composer bucket of the environment the job acts on.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from deployer.verify import PASSWORD_ENV, URL_ENV, USER_ENV
from tests import airflow_fixture
from tests.airflow_fixture import AirflowOn
from tests.conftest import DeployerEnv, write_local_envs
from tests.github.helpers import RUN_URL, FakeGitHub, review, workflow_run
from tests.github.test_workflows import AUTH_ACTION, ROOT, workflow

ENV_NAMES = {"staging": "local", "prod": "local-prod"}
IDENTITIES = {"GCP_DEPLOYER_SA": "ci-deployer", "GCP_APPROVER_SA": "prod-approver"}
EXPRESSION = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")
GH_PROD = "local-prod"  # github.environment of local-prod (`production` for prod)
APPROVERS = ["bob", "carol", "github:alice"]

pytestmark = pytest.mark.slow
local_airflow = airflow_fixture.local_airflow
airflow_on = airflow_fixture.airflow_on


@dataclass
class Run:
    """One replayed workflow run: its context, the outputs so far and the files GitHub provides."""

    tmp: Path
    environ: dict[str, str]
    github: dict[str, str]
    inputs: dict[str, str] = field(default_factory=dict)
    jobs: dict[str, dict[str, str]] = field(default_factory=dict)
    summary: Path = field(init=False)

    def __post_init__(self) -> None:
        self.summary = self.tmp / "summary.md"
        self.summary.touch()

    def resolve(self, value: Any, steps: dict[str, dict[str, str]]) -> str:
        """Evaluate the `${{ }}` forms the workflow uses; anything else fails the test."""

        def one(match: re.Match[str]) -> str:
            expr = match.group(1)
            parts = expr.split(".")
            if parts[0] == "needs" and parts[2] == "outputs":
                return self.jobs[parts[1]][parts[3]]
            if parts[0] == "steps" and parts[2] == "outputs":
                return steps.get(parts[1], {}).get(parts[3], "")
            if parts[0] == "github" and len(parts) == 2:
                return self.github[parts[1]]
            if parts[0] == "inputs":
                return self.inputs.get(parts[1], "")
            raise AssertionError(f"the replay does not know the expression {expr!r}")

        return EXPRESSION.sub(one, str(value))

    def job(self, name: str, acting_as: str = "nobody") -> tuple[dict[str, str], list[str]]:
        """Run job `name` of promote.yml; its outputs and the names of the steps that ran."""
        doc = workflow("promote.yml")
        job = doc["jobs"][name]
        steps: dict[str, dict[str, str]] = {}
        ran: list[str] = []
        user = acting_as
        for index, step in enumerate(job["steps"]):
            uses = str(step.get("uses", ""))
            if uses.startswith(AUTH_ACTION):
                account = step["with"]["service_account"]
                user = next(v for k, v in IDENTITIES.items() if k in account)
                continue
            if "run" not in step:
                continue
            script = step["run"]
            for real, local in ENV_NAMES.items():
                script = script.replace(f"--env {real}", f"--env {local}")
                script = script.replace(f"args=(--env {real})", f"args=(--env {local})")
            env = dict(self.environ)
            for scope in (doc.get("env") or {}, job.get("env") or {}, step.get("env") or {}):
                env.update({k: self.resolve(v, steps) for k, v in scope.items()})
            output = self.tmp / f"{name}-{index}.out"
            output.touch()
            env |= {
                "USER": user,
                "GITHUB_OUTPUT": str(output),
                "GITHUB_STEP_SUMMARY": str(self.summary),
                "RUNNER_TEMP": str(self.tmp),
            }
            proc = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            label = step.get("name", step.get("id", f"step {index}"))
            if proc.returncode != 0:
                raise StepFailed(name, label, proc)
            ran.append(label)
            lines = output.read_text(encoding="utf-8").splitlines()
            steps[step.get("id", f"_{index}")] = dict(line.split("=", 1) for line in lines if "=" in line)
        outputs = {k: self.resolve(v, steps) for k, v in (job.get("outputs") or {}).items()}
        self.jobs[name] = outputs
        return outputs, ran

    def status(self, env: str) -> dict[str, Any]:
        """`deployer status --env ENV --json` of a local environment."""
        proc = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "deployer"), "status", "--env", env, "--json"],
            env=self.environ,
            capture_output=True,
            text=True,
            check=True,
        )
        return dict(json.loads(proc.stdout))


class StepFailed(AssertionError):
    """A replayed step exited non-zero."""

    def __init__(self, job: str, step: str, proc: subprocess.CompletedProcess[str]) -> None:
        super().__init__(
            f"{job}: {step!r} exited {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        )
        self.step = step
        self.returncode = proc.returncode
        self.stderr = proc.stderr


@pytest.fixture
def run(deployer_env: DeployerEnv, github: FakeGitHub, tmp_path: Path) -> Iterator[Run]:
    write_local_envs(
        deployer_env.env_dir, deployer_env.suffix, {"local-prod": {"promotion.approvers": APPROVERS}}
    )
    environ = deployer_env.environ(
        GITHUB_API_URL=github.url,
        GITHUB_REPOSITORY="acme/data-platform",
        GITHUB_RUN_ID="4242",
        GITHUB_ACTOR="pusher",
        GITHUB_TRIGGERING_ACTOR="pusher",
        # The replay checks the workflow's steps, not the parse budget (tested by the deployer's own
        # tests); a loaded test machine parses slower than a runner.
        DEPLOYER_DAG_PARSE_BUDGET_MS="5000",
    )
    environ = {k: v for k, v in environ.items() if k not in ("DEPLOYER_ENV", "GH_TOKEN", "GITHUB_TOKEN")}
    context = {
        "event_name": "push",
        "token": "ghs_replay-token",
        "server_url": "https://github.com",
        "repository": "acme/data-platform",
        "run_id": "4242",
    }
    yield Run(tmp_path, environ, context)


def test_push_to_main_promotes_the_same_release_through_staging_to_prod(
    run: Run, github: FakeGitHub, airflow_on: AirflowOn
) -> None:
    run.environ.update({k: os.environ[k] for k in (URL_ENV, USER_ENV, PASSWORD_ENV)})
    github.body = [review("alice", envs=(GH_PROD,))]
    built, _ = run.job("release", acting_as="ci-deployer")
    release = built["release"]
    assert re.fullmatch(r"r-[0-9a-f]{12}", release)

    staged, _ = run.job("staging")
    assert staged == {"release": release}
    assert run.status("local")["release"] == release

    airflow_on.feed("local-prod")
    _, ran = run.job("prod")
    assert ran == [
        "Plan (job summary), then request the approval",
        "Grant it as the reviewer who approved this run (read from GitHub by the deployer)",
        "Promote",
        "Verify in Airflow (job summary)",
    ]
    prod = run.status("local-prod")
    assert prod["release"] == release
    assert prod["approved_by"] == "github:alice" and prod["promoted_by"] == "ci-deployer"
    grant = next(e for e in audit(run) if e["action"] == "approval-grant")
    assert (grant["actor"], grant["via"], grant["details"]["github_run"]) == (
        "github:alice",
        "prod-approver",
        RUN_URL,
    )

    summary = run.summary.read_text(encoding="utf-8")
    assert f"### Release plan: {release} → local\n" in summary
    assert f"### Release plan: {release} → local-prod\n" in summary
    assert "#### summary" in summary and "| upload | change | archive |" in summary
    assert f"for `{release}`: approved in GitHub by github:alice ({RUN_URL})" in summary
    assert f"Promoted `{release}` to prod, approved by github:alice." in summary
    for env in ("local", "local-prod"):
        assert re.search(rf"### Airflow: `{release}` live in {env} after \d+ s \(\d+ DAGs\)\n", summary), (
            summary
        )


def audit(run: Run) -> list[dict[str, Any]]:
    """`deployer audit --env local-prod --json` entries."""
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "deployer"), "audit", "--env", "local-prod", "--json"],
        env=run.environ,
        capture_output=True,
        text=True,
        check=True,
    )
    return list(json.loads(proc.stdout)["entries"])


REFUSED_REVIEWS = [
    ([review("pusher", envs=(GH_PROD,))], "pusher", "self-approval is not accepted"),
    ([review("mallory", envs=(GH_PROD,))], "pusher", "github:mallory is not an approver of local-prod"),
    (
        [review("alice", envs=("production",))],
        "pusher",
        "no approved review of GitHub environment 'local-prod'",
    ),
]


def test_prod_grant_is_refused_and_audited_without_an_approver_review(run: Run, github: FakeGitHub) -> None:
    built, _ = run.job("release", acting_as="ci-deployer")  # built once: each case reruns the prod job
    run.jobs["staging"] = built  # published; the prod job needs nothing else from staging
    for reviews, triggered_by, message in REFUSED_REVIEWS:
        github.body, github.run = reviews, workflow_run(actor=triggered_by)
        with pytest.raises(StepFailed) as failed:
            run.job("prod")
        assert failed.value.returncode == 1 and message in failed.value.stderr, message
        assert (
            failed.value.step
            == "Grant it as the reviewer who approved this run (read from GitHub by the deployer)"
        )
        assert run.status("local-prod")["release"] is None
        entry = audit(run)[-1]
        assert (entry["action"], entry["outcome"]) == ("approval-grant", "refused") and message in entry[
            "reason"
        ]


def test_dispatch_refuses_a_malformed_release_before_anything_runs(run: Run) -> None:
    run.github["event_name"] = "workflow_dispatch"
    run.inputs = {"action": "promote", "release": "r-0123; touch /tmp/pwned"}
    with pytest.raises(StepFailed) as failed:
        run.job("release")
    assert failed.value.returncode == 2
    assert not Path("/tmp/pwned").exists()
    assert os.listdir(run.environ["DEPLOYER_RELEASES_DIR"]) == []
