"""The workflows' structure: what zizmor cannot know about this project's promotion rules.

Each rule is a function returning its violations, so the same rule is shown to pass on the real
workflows and to fail on a small bad example.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from platform_model.environment import load_all

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONS = ROOT / ".github" / "actions"
DOCS = ROOT / "docs" / "github-setup.md"

PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"#\s*v\d+(\.\d+){0,2}\b")
AUTH_ACTION = "google-github-actions/auth@"
PROMOTE_GROUP = re.compile(r"^promote-(?P<env>[a-z][a-z0-9-]*)$")


def load(path: Path) -> dict[str, Any]:
    """A workflow as data, with YAML 1.1's `on: -> True` undone."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in data:
        data["on"] = data.pop(True)
    return data


def workflow(name: str) -> dict[str, Any]:
    """One of the repository's workflows."""
    return load(WORKFLOWS / name)


def all_documents() -> dict[str, dict[str, Any]]:
    """Every workflow and composite action, by path relative to the repo."""
    paths = sorted(WORKFLOWS.glob("*.yml")) + sorted(ACTIONS.rglob("action.yml"))
    return {str(p.relative_to(ROOT)): load(p) for p in paths}


def steps_of(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(job id or `action`, step) for every step of a workflow or a composite action."""
    if "runs" in doc:
        return [("action", s) for s in doc["runs"].get("steps", [])]
    return [(job_id, s) for job_id, job in doc.get("jobs", {}).items() for s in job.get("steps", [])]


ACTS_ON = [
    re.compile(r"deployer (?:promote|rollback|approval \w+)\b.*--env (?P<env>[a-z][a-z0-9-]*)"),
    re.compile(r"cdktf (?:deploy|diff) (?P<env>[a-z][a-z0-9-]*)"),
]


def deploy_env(job: dict[str, Any]) -> str | None:
    """The environment a job changes (promote, roll back, approve, cdktf deploy), read from its commands.

    Plans and publishing to the shared release store change no environment and do not count.
    """
    lines = "\n".join(str(s.get("run", "")) for s in job.get("steps", [])).splitlines()
    found = {m.group("env") for line in lines for rx in ACTS_ON if (m := rx.search(line))}
    if "args=(--env" in "\n".join(lines):  # the rollback scripts build their arguments first
        found |= set(re.findall(r"args=\(--env ([a-z][a-z0-9-]*)\)", "\n".join(lines)))
    assert len(found) <= 1, f"a job acts on several environments: {found}"
    return found.pop() if found else None


# --- rules ------------------------------------------------------------------------------------------


def unpinned_uses(doc: dict[str, Any], text: str) -> list[str]:
    """`uses:` that is neither a same-repo reference nor a third-party action at a full SHA with a version."""
    bad = []
    for where, step in steps_of(doc):
        uses = step.get("uses")
        if uses is None or uses.startswith(("$/", "./")):
            continue
        if not PINNED.match(uses):
            bad.append(f"{where}: {uses} is not pinned to a 40-hex commit")
            continue
        lines = [ln for ln in text.splitlines() if f"uses: {uses}" in ln]
        if not lines or not all(VERSION_COMMENT.search(ln) for ln in lines):
            bad.append(f"{where}: {uses} has no `# vX.Y.Z` comment")
    return bad


def checkout_persisting_credentials(doc: dict[str, Any]) -> list[str]:
    """Checkouts that leave the token in .git/config."""
    return [
        f"{where}: checkout without persist-credentials: false"
        for where, step in steps_of(doc)
        if str(step.get("uses", "")).startswith("actions/checkout@")
        and (step.get("with") or {}).get("persist-credentials") is not False
    ]


def expressions_in_run(doc: dict[str, Any]) -> list[str]:
    """`${{ }}` inside a `run:` script (everything reaches scripts through `env:`)."""
    return [
        f"{where}: run script contains {m.group(0)}"
        for where, step in steps_of(doc)
        for m in re.finditer(r"\$\{\{[^}]*\}\}", str(step.get("run", "")))
    ]


def permission_violations(doc: dict[str, Any]) -> list[str]:
    """Top-level permissions must be `{}`; each job declares its own; id-token: write only where auth runs."""
    if "jobs" not in doc:
        return []
    bad = [] if doc.get("permissions") == {} else ["top level: permissions is not {}"]
    for job_id, job in doc["jobs"].items():
        perms = job.get("permissions")
        if not isinstance(perms, dict):
            bad.append(f"{job_id}: no job-level permissions block")
            continue
        if "write-all" in perms.values() or perms == "write-all":
            bad.append(f"{job_id}: write-all")
        auths = any(str(s.get("uses", "")).startswith(AUTH_ACTION) for s in job.get("steps", []))
        if auths and perms.get("id-token") != "write":
            bad.append(f"{job_id}: authenticates but lacks id-token: write")
        if not auths and "id-token" in perms:
            bad.append(f"{job_id}: id-token permission without an auth step")
        for scope, level in perms.items():
            if level == "write" and scope != "id-token":
                bad.append(f"{job_id}: {scope}: write")
    return bad


def auth_violations(doc: dict[str, Any]) -> list[str]:
    """google-github-actions/auth only through WIF, provider and service account from variables."""
    bad = []
    for where, step in steps_of(doc):
        if not str(step.get("uses", "")).startswith(AUTH_ACTION):
            continue
        with_ = step.get("with") or {}
        if set(with_) - {"workload_identity_provider", "service_account"}:
            bad.append(f"{where}: auth takes {sorted(with_)}; only WIF inputs are allowed")
        for key in ("workload_identity_provider", "service_account"):
            value = str(with_.get(key, ""))
            if not re.fullmatch(r"\$\{\{ (vars\.[A-Z0-9_]+|matrix\.[a-z_]+) \}\}", value):
                bad.append(f"{where}: {key} is {value!r}, not a repository variable")
    return bad


def promotion_chain_violations(doc: dict[str, Any]) -> list[str]:
    """Prod after staging, in `production`, promoting exactly the id staging reports."""
    jobs = doc["jobs"]
    bad = []
    prod_jobs = {j: job for j, job in jobs.items() if deploy_env(job) == "prod" and "rollback" not in j}
    if not prod_jobs:
        return ["no job promotes to prod"]
    for job_id, job in prod_jobs.items():
        needs = job.get("needs")
        needs = [needs] if isinstance(needs, str) else list(needs or [])
        staging = [n for n in needs if deploy_env(jobs.get(n, {})) == "staging"]
        if job.get("environment") != "production":
            bad.append(f"{job_id}: environment is {job.get('environment')!r}, not production")
        if not staging:
            bad.append(f"{job_id}: does not need the staging job")
            continue
        ref = f"${{{{ needs.{staging[0]}.outputs.release }}}}"
        release_vars = {k for k, v in (job.get("env") or {}).items() if v == ref}
        if not release_vars:
            bad.append(f"{job_id}: does not take the release from {ref}")
        promotes = [
            str(s.get("run", "")) for s in job["steps"] if "deployer promote" in str(s.get("run", ""))
        ]
        if len(promotes) != 1 or not any(f'--release "${v}"' in promotes[0] for v in release_vars):
            bad.append(f"{job_id}: the promote command does not use the release staging got")
        out = (jobs[staging[0]].get("outputs") or {}).get("release")
        if not out:
            bad.append(f"{staging[0]}: has no `release` output")
    return bad


def concurrency_violations(doc: dict[str, Any]) -> list[str]:
    """Every job that acts on an environment queues per environment and is never cancelled mid-run."""
    bad = []
    for job_id, job in doc["jobs"].items():
        env = deploy_env(job)
        if env is None:
            continue
        conc = job.get("concurrency")
        if not isinstance(conc, dict):
            bad.append(f"{job_id}: no concurrency group")
            continue
        if conc.get("cancel-in-progress") is not False:
            bad.append(f"{job_id}: cancel-in-progress is not false")
        group = str(conc.get("group", ""))
        if not group.endswith(f"-{env}"):
            bad.append(f"{job_id}: group {group!r} is not per environment ({env})")
    return bad


CHANGES_ENV = re.compile(r"deployer (?:promote|rollback)\b")
VERIFY = re.compile(r"deployer verify --env (?P<env>[a-z][a-z0-9-]*)\b(?P<args>[^\n>]*)")


def verify_violations(doc: dict[str, Any]) -> list[str]:
    """Every job that promotes or rolls back verifies the environment it changed in Airflow afterwards
    (`deployer verify --env ENV ... --json`; a promotion names the release it promoted), and puts the
    answer in the job summary through verify_summary.py, also when verify fails."""
    bad = []
    for job_id, job in doc.get("jobs", {}).items():
        steps = [str(s.get("run", "")) for s in job.get("steps", [])]
        changing = [i for i, run in enumerate(steps) if CHANGES_ENV.search(run)]
        if not changing:
            continue
        env = deploy_env(job)
        later = [(i, m) for i, run in enumerate(steps) if i > changing[-1] and (m := VERIFY.search(run))]
        if not later:
            bad.append(f"{job_id}: no `deployer verify` after it changes {env}")
            continue
        index, match = later[0]
        script = steps[index]
        if match.group("env") != env:
            bad.append(f"{job_id}: verifies {match.group('env')}, but changes {env}")
        if "--json" not in match.group("args"):
            bad.append(f"{job_id}: deployer verify without --json")
        promoted = re.search(r'deployer promote [^\n]*--release "\$(\w+)"', steps[changing[-1]])
        if promoted and f'--release "${promoted.group(1)}"' not in match.group("args"):
            bad.append(f"{job_id}: verify does not name the release it promoted")
        if "verify_summary.py" not in script or "$GITHUB_STEP_SUMMARY" not in script:
            bad.append(f"{job_id}: the verify answer does not go into the job summary")
        elif "|| code=$?" not in script or 'exit "$code"' not in script:
            bad.append(f"{job_id}: a failed verify skips the summary or does not fail the step")
    return bad


# --- the real workflows -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def documents() -> dict[str, dict[str, Any]]:
    """Every workflow and composite action."""
    docs = all_documents()
    assert {"ci.yml", "infra.yml", "promote.yml"} <= {Path(p).name for p in docs}
    return docs


@pytest.mark.parametrize(
    "rule", [checkout_persisting_credentials, expressions_in_run, permission_violations, auth_violations]
)
def test_rule_holds_everywhere(documents: dict[str, dict[str, Any]], rule: Any) -> None:
    found = {path: rule(doc) for path, doc in documents.items()}
    assert {p: v for p, v in found.items() if v} == {}


def test_every_uses_is_pinned(documents: dict[str, dict[str, Any]]) -> None:
    found = {p: unpinned_uses(doc, (ROOT / p).read_text(encoding="utf-8")) for p, doc in documents.items()}
    assert {p: v for p, v in found.items() if v} == {}
    used = {s["uses"] for doc in documents.values() for _, s in steps_of(doc) if "uses" in s}
    assert any(u.startswith(AUTH_ACTION) for u in used)


def test_same_action_same_sha(documents: dict[str, dict[str, Any]]) -> None:
    by_action: dict[str, set[str]] = {}
    for doc in documents.values():
        for _, step in steps_of(doc):
            name, _, sha = str(step.get("uses", "")).partition("@")
            if sha:
                by_action.setdefault(name, set()).add(sha)
    assert {a: s for a, s in by_action.items() if len(s) > 1} == {}


@pytest.mark.parametrize("name", ["promote.yml", "infra.yml"])
def test_prod_jobs_follow_staging_in_production(name: str) -> None:
    doc = workflow(name)
    jobs = doc["jobs"]
    prod = [j for j, job in jobs.items() if deploy_env(job) == "prod" and "rollback" not in j]
    assert prod, f"{name}: no prod job"
    for job_id in prod:
        job = jobs[job_id]
        assert job["environment"] == "production"
        needs = [job["needs"]] if isinstance(job["needs"], str) else job["needs"]
        assert any(deploy_env(jobs[n]) == "staging" for n in needs)


def test_prod_promotes_the_release_staging_got() -> None:
    doc = workflow("promote.yml")
    assert promotion_chain_violations(doc) == []
    staging = doc["jobs"]["staging"]
    assert staging["outputs"]["release"] == "${{ steps.promote.outputs.release }}"
    assert doc["jobs"]["staging"]["environment"] == "staging"


def test_every_promotion_is_verified_in_airflow_into_the_summary() -> None:
    doc = workflow("promote.yml")
    assert verify_violations(doc) == []
    verified = sorted(
        j
        for j, job in doc["jobs"].items()
        if any("deployer verify" in str(s.get("run")) for s in job["steps"])
    )
    assert verified == ["prod", "rollback-prod", "rollback-staging", "staging"]


def test_release_built_and_published_once() -> None:
    doc = workflow("promote.yml")
    runs = [(j, str(s.get("run", ""))) for j, s in steps_of(doc)]
    builds = [j for j, r in runs if "deployer release build" in r]
    publishes = [j for j, r in runs if "deployer release publish" in r]
    assert builds == ["release"] and publishes == ["release"]
    assert doc["jobs"]["staging"]["env"]["RELEASE"] == "${{ needs.release.outputs.release }}"


@pytest.mark.parametrize("name", ["promote.yml", "infra.yml"])
def test_concurrency_per_environment(name: str) -> None:
    doc = workflow(name)
    assert concurrency_violations(doc) == []
    if name == "promote.yml":
        groups = {
            job["concurrency"]["group"]
            for job in doc["jobs"].values()
            if deploy_env(job) in ("staging", "prod")
        }
        assert groups == {"promote-staging", "promote-prod"}


def test_jobs_use_the_github_environment_of_their_env_file() -> None:
    envs = {e.name: e for e in load_all().values() if e.platform == "gcp"}
    assert {"dev", "staging", "prod"} <= set(envs)
    for name in ("promote.yml", "infra.yml"):
        for job_id, job in workflow(name)["jobs"].items():
            env = deploy_env(job)
            if env is not None and "environment" in job:
                assert job["environment"] == envs[env].github.environment, f"{name}: {job_id}"


def test_jobs_authenticate_only_in_the_environment_their_provider_admits() -> None:
    """infra/iam.py's provider condition requires `assertion.environment == github.environment`."""
    envs = {e.name: e for e in load_all().values() if e.platform == "gcp"}
    for name in ("promote.yml", "infra.yml"):
        for job_id, job in workflow(name)["jobs"].items():
            providers = {
                m.group(1).lower()
                for s in job.get("steps", [])
                if str(s.get("uses", "")).startswith(AUTH_ACTION)
                and (
                    m := re.search(
                        r"vars\.GCP_WIF_PROVIDER_([A-Z]+)", s["with"]["workload_identity_provider"]
                    )
                )
            }
            for env in providers:
                assert job.get("environment") == envs[env].github.environment, f"{name}: {job_id} ({env})"


def test_prod_approval_reviewer_comes_from_the_run() -> None:
    job = workflow("promote.yml")["jobs"]["prod"]
    expected = {"actions": "read", "contents": "read"}
    expected["id-token"] = "write"  # pragma: allowlist secret
    assert job["permissions"] == expected
    runs = [str(s.get("run", "")) for s in job["steps"]]
    # The grantor is the reviewer the deployer reads from this run's reviews, not a string the job passes.
    grant = next(s for s in job["steps"] if "deployer approval grant" in str(s.get("run", "")))
    assert '--github-run "$GITHUB_RUN_ID"' in grant["run"]
    assert grant["env"]["GITHUB_TOKEN"] == "${{ github.token }}"
    assert not any(k in grant["env"] for k in ("REVIEWER", "GITHUB_API_URL", "GITHUB_REPOSITORY"))
    services = [
        s["with"]["service_account"] for s in job["steps"] if str(s.get("uses", "")).startswith(AUTH_ACTION)
    ]
    # requester (CI deployer) and approver are different identities
    assert "${{ vars.GCP_APPROVER_SA_PROD }}" in services and "${{ vars.GCP_DEPLOYER_SA_PROD }}" in services
    order = [r for r in runs if "deployer approval" in r or "deployer promote" in r]
    assert ["approval request" in order[0], "approval grant" in order[1], "promote" in order[2]] == [True] * 3


def test_dispatch_inputs_are_validated_and_never_interpolated() -> None:
    doc = workflow("promote.yml")
    inputs = doc["on"]["workflow_dispatch"]["inputs"]
    assert inputs["action"]["options"] == ["promote", "rollback"]
    text = (WORKFLOWS / "promote.yml").read_text(encoding="utf-8")
    for job_id, step in steps_of(doc):
        env = step.get("env") or {}
        if any("inputs.release" in str(v) for v in env.values()):
            assert "RELEASE_ID_PATTERN" in step["run"], f"{job_id}: input release used unvalidated"
    assert "${{ inputs." not in "".join(str(s.get("run", "")) for _, s in steps_of(doc))
    assert doc["env"]["RELEASE_ID_PATTERN"] == "^r-[0-9a-f]{12}$"
    assert "github.event.inputs" not in text


def test_ci_runs_on_pull_requests_and_gates_credentials() -> None:
    doc = workflow("ci.yml")
    assert set(doc["on"]) == {"pull_request"}
    jobs = doc["jobs"]
    expected = {"lint", "test", "synth", "check", "dbt-parse", "dag-integrity", "diff", "plan-staging"}
    assert expected <= set(jobs)
    runs = {j: " ".join(str(s.get("run", "")) for s in job["steps"]) for j, job in jobs.items()}
    assert "make lint" in runs["lint"] and ".ci/run" in runs["test"] and "make check" in runs["check"]
    assert "dbt parse --target staging" in runs["dbt-parse"] and "tests/composer" in runs["dag-integrity"]
    for job_id, job in jobs.items():
        auths = any(str(s.get("uses", "")).startswith(AUTH_ACTION) for s in job["steps"])
        if auths:
            cond = " ".join(str(job.get("if", "")).split())
            assert "github.event.pull_request.head.repo.full_name == github.repository" in cond, job_id
            assert "vars.CI_CLOUD_CHECKS == 'true'" in cond, job_id
    assert "plan_summary.py" in runs["plan-staging"] and "GITHUB_STEP_SUMMARY" in runs["plan-staging"]


def test_every_variable_is_documented(documents: dict[str, dict[str, Any]]) -> None:
    used = set()
    for path in documents:
        used |= set(re.findall(r"vars\.([A-Z0-9_]+)", (ROOT / path).read_text(encoding="utf-8")))
    docs = DOCS.read_text(encoding="utf-8")
    assert used and {v for v in used if f"`{v}`" not in docs} == set()


def test_no_service_account_keys_anywhere(documents: dict[str, dict[str, Any]]) -> None:
    for path in documents:
        text = (ROOT / path).read_text(encoding="utf-8")
        assert "credentials_json" not in text and "secrets." not in text, path


# --- the rules fail on bad input --------------------------------------------------------------------

BAD = """
name: bad
on:
  push:
permissions:
  contents: write
jobs:
  build:
    runs-on: ubuntu-latest
    permissions:
      id-token: write
    outputs:
      other: x
    steps:
      - uses: actions/checkout@v5
      - uses: google-github-actions/auth@7c6bc770dae815cd3e89ee6cdf493a5fab2cc093
        with:
          credentials_json: ${{ secrets.KEY }}
      - run: echo "${{ github.event.head_commit.message }}"
  staging:
    runs-on: ubuntu-latest
    permissions:
      contents: read
    concurrency:
      group: promote
      cancel-in-progress: true
    steps:
      - uses: actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8
        with:
          persist-credentials: false
      - run: deployer promote --env staging --release "$R" --yes
  prod:
    needs: build
    environment: prod
    runs-on: ubuntu-latest
    permissions:
      contents: read
      id-token: write
    env:
      RELEASE: ${{ needs.build.outputs.other }}
    steps:
      - run: deployer promote --env prod --release "$RELEASE" --yes
"""


def test_rules_catch_a_bad_workflow() -> None:
    doc = yaml.safe_load(BAD)
    doc["on"] = doc.pop(True)
    assert unpinned_uses(doc, BAD) == [
        "build: actions/checkout@v5 is not pinned to a 40-hex commit",
        f"build: {AUTH_ACTION}7c6bc770dae815cd3e89ee6cdf493a5fab2cc093 has no `# vX.Y.Z` comment",
        "staging: actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8 has no `# vX.Y.Z` comment",
    ]
    assert checkout_persisting_credentials(doc) == ["build: checkout without persist-credentials: false"]
    assert expressions_in_run(doc) == ["build: run script contains ${{ github.event.head_commit.message }}"]
    assert permission_violations(doc) == [
        "top level: permissions is not {}",
        "prod: id-token permission without an auth step",
    ]
    assert len(auth_violations(doc)) == 3
    assert promotion_chain_violations(doc) == [
        "prod: environment is 'prod', not production",
        "prod: does not need the staging job",
    ]
    assert concurrency_violations(doc) == [
        "staging: cancel-in-progress is not false",
        "staging: group 'promote' is not per environment (staging)",
        "prod: no concurrency group",
    ]
    assert verify_violations(doc) == [
        "staging: no `deployer verify` after it changes staging",
        "prod: no `deployer verify` after it changes prod",
    ]
    doc["jobs"]["staging"]["steps"].append({"run": "deployer verify --env prod > v.json"})
    doc["jobs"]["prod"]["steps"].append(
        {"run": 'deployer verify --env prod --json || code=$?\nverify_summary.py >> "$GITHUB_STEP_SUMMARY"'}
    )
    assert verify_violations(doc) == [
        "staging: verifies prod, but changes staging",
        "staging: deployer verify without --json",
        "staging: verify does not name the release it promoted",
        "staging: the verify answer does not go into the job summary",
        "prod: verify does not name the release it promoted",
        "prod: a failed verify skips the summary or does not fail the step",
    ]
    doc["jobs"]["prod"]["needs"] = ["staging"]
    doc["jobs"]["prod"]["environment"] = "production"
    assert promotion_chain_violations(doc) == [
        "prod: does not take the release from ${{ needs.staging.outputs.release }}",
        "prod: the promote command does not use the release staging got",
        "staging: has no `release` output",
    ]


def test_promotion_runs_when_anything_a_release_holds_changes() -> None:
    """Every source folder of a release component (platform_model.manifest) is in promote.yml's paths,
    and so are what renders the runtime config: the environment files, the core model, the deployer."""
    from platform_model.manifest import COMPONENTS

    sources = {
        "dags": "composer",
        "jobs": "dataproc_jobs",
        "dbt": "dbt",
        "gx": "gx",
        "domains": "domains",
    }
    assert set(COMPONENTS) == set(sources)
    paths = set(workflow("promote.yml")["on"]["push"]["paths"])
    renderers = {"environments/**", "platform_model/**", "deployer/**"}
    assert {f"{folder}/**" for folder in sources.values()} | renderers <= paths


def test_infra_runs_when_what_the_stacks_read_changes() -> None:
    """The stacks read the environment files and the domains through the core model."""
    paths = set(workflow("infra.yml")["on"]["push"]["paths"])
    assert {"infra/**", "environments/**", "domains/**", "platform_model/**"} <= paths
    assert not any(p.startswith("deployer/") for p in paths), "infra does not read the deployer"
