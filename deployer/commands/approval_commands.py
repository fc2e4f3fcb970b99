"""`deployer approval request|grant|list`: a person's approval, bound to a release digest and an env."""

from __future__ import annotations

from typing import Annotated

import typer

from deployer.commands._common import AsOption, EnvOption, JsonOption, ReleaseOption, emit_json, out

approval_app = typer.Typer(help="Request, grant and list approvals.", no_args_is_help=True)


@approval_app.command("request")
def request(
    release: ReleaseOption, env: EnvOption = None, as_name: AsOption = None, json_out: JsonOption = False
) -> None:
    """Request approval to promote RELEASE (its stored manifest digest) into ENV."""
    from deployer import approval, audit, identity
    from deployer.context import load_env, open_target
    from deployer.store import ReleaseStore
    from platform_model.errors import Refused
    from platform_model.manifest import check_release_id

    check_release_id(release)
    environment = load_env(env)
    identity.check_as(environment, as_name)
    target = open_target(environment)
    actor = identity.resolve(environment, as_name, target.credentials)
    target.ensure_buckets(target.artifacts)
    try:
        published = ReleaseStore(target.gcs, target.store).fetch(release)
    except Refused as exc:
        audit.try_append(
            target.gcs,
            target.artifacts,
            actor,
            "approval-request",
            environment.name,
            "refused",
            release=release,
            reason=str(exc),
        )
        raise
    made = approval.request(target.gcs, target.artifacts, environment, release, published.digest, actor)
    audit.append(
        target.gcs,
        target.artifacts,
        actor,
        "approval-request",
        environment.name,
        "ok",
        release=release,
        digest=published.digest,
        details={"request_id": made.id},
    )
    if json_out:
        emit_json(made.model_dump())
        return
    out().print(
        f"requested {made.id}: {release} into {environment.name} (digest {made.digest})", markup=False
    )
    out().print(
        f"  someone else grants it: deployer approval grant {made.id} --env {environment.name}", markup=False
    )


GitHubRunOption = Annotated[
    str | None,
    typer.Option(
        "--github-run",
        help="Grant as the reviewer who approved this GitHub Actions run's deployment to the environment's "
        "github.environment, read from GitHub (GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL).",
        show_default=False,
    ),
]


@approval_app.command("grant")
def grant(
    request_id: Annotated[str, typer.Argument(help="The approval request id (from `approval request`).")],
    env: EnvOption = None,
    as_name: AsOption = None,
    github_run: GitHubRunOption = None,
    json_out: JsonOption = False,
) -> None:
    """Grant an approval request (not your own) for ENV, as one of its promotion.approvers. With
    --github-run the grantor is `github:<login>` of the run's deployment reviewer."""
    import os

    from deployer import approval, audit, identity
    from deployer.context import load_env, open_target
    from deployer.store import ReleaseStore
    from platform_model.errors import Refused

    approval.check_request_id(request_id)
    environment = load_env(env)
    identity.check_as(environment, as_name)
    target = open_target(environment)
    actor = identity.resolve(environment, as_name, target.credentials)
    stored = approval.read(target.gcs, target.artifacts, request_id)
    req = stored.approval
    details: dict[str, object] = {"request_id": request_id}
    run_url: str | None = None
    try:
        if github_run is not None:
            details["github_run"] = github_run
            review = identity.github_review(environment, github_run, os.environ)
            run_url = review.run_url
            details |= {"github_run": run_url, "github_environment": review.environment}
            grantor = review.grantor(environment.promotion.approvers)
            actor = identity.Actor(grantor, authenticated=actor.authenticated, via=actor.name)
        published = ReleaseStore(target.gcs, target.store).fetch(req.release)
        granted = approval.grant(
            target.gcs, target.artifacts, environment, stored, published.digest, actor, github_run=run_url
        )
    except Refused as exc:
        audit.try_append(
            target.gcs,
            target.artifacts,
            actor,
            "approval-grant",
            environment.name,
            "refused",
            release=req.release,
            digest=req.digest,
            reason=str(exc),
            details=details,
        )
        raise
    audit.append(
        target.gcs,
        target.artifacts,
        actor,
        "approval-grant",
        environment.name,
        "ok",
        release=granted.release,
        digest=granted.digest,
        details=details | {"requested_by": granted.requested_by, "expires_at": granted.expires_at},
    )
    if json_out:
        emit_json(granted.model_dump())
        return
    by = f" by {granted.granted_by}" + (f" (GitHub review, {run_url})" if run_url else "")
    out().print(
        f"granted {granted.id}{by}: {granted.release} into {environment.name}, "
        f"requested by {granted.requested_by}, valid until {granted.expires_at}",
        markup=False,
    )


@approval_app.command("list")
def list_(env: EnvOption = None, json_out: JsonOption = False) -> None:
    """List the approvals of ENV, oldest first."""
    from deployer import approval
    from deployer.context import load_env, open_target

    environment = load_env(env)
    target = open_target(environment)
    from google.api_core.exceptions import NotFound

    try:
        items = [s.approval for s in approval.list_all(target.gcs, target.artifacts)]
    except NotFound:
        items = []
    if json_out:
        emit_json({"env": environment.name, "approvals": [a.model_dump() for a in items]})
        return
    if not items:
        out().print(f"no approvals in {environment.name}", markup=False)
    for a in items:
        who = f"granted by {a.granted_by}" if a.granted_by else "not granted"
        out().print(f"{a.id}  {a.status:9}  {a.release}  requested by {a.requested_by}, {who}", markup=False)


def register(app: typer.Typer) -> None:
    """Add `deployer approval ...`."""
    app.add_typer(approval_app, name="approval")
