"""`deployer plan|promote|rollback|status|drift|audit|unlock`: move releases through an environment."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from deployer.commands._common import (
    AsOption,
    EnvOption,
    JsonOption,
    ReleaseOption,
    YesOption,
    emit_json,
    out,
)
from platform_model.errors import ConfigError, Refused


def _print_plan(data: dict[str, Any], show_config: bool = True) -> None:
    console = out()
    current = data["current_release"] or "none"
    console.print(
        f"Plan for {data['env']}: {data['release']} (live now: {current}, digest {data['digest']})",
        markup=False,
    )
    for line in _domain_lines(data["domains"]):
        console.print(line, markup=False)
    if data["switched_off_domains"]:
        console.print(
            f"  not deployed here (switched off in the environment file): "
            f"{', '.join(data['switched_off_domains'])}",
            markup=False,
        )
    for line in data.get("contract_lines", []):
        console.print(line, markup=False)
    for item in data["upload"]:
        copy = f" (server-side copy of {item['copy_of']})" if item.get("copy_of") else ""
        console.print(f"  + {item['uri']}  [{item['phase']}, {item['size']} B]{copy}", markup=False)
    for item in data["change"]:
        console.print(f"  ~ {item['uri']}  [{item['phase']}, {item['size']} B]", markup=False)
    for item in data["archive"]:
        why = " (overwritten)" if item.get("reason") == "overwritten" else ""
        console.print(f"  > {item['uri']}  -> {item['to']}{why}", markup=False)
    for bucket in data["missing_buckets"]:
        console.print(
            f"  (bucket gs://{bucket} does not exist yet: created on the local platform)", markup=False
        )
    s = data["summary"]
    console.print(
        f"Plan: {s['upload']} to upload, {s['change']} to change, {s['archive']} to archive, "
        f"{s['unchanged']} unchanged ({s['bytes']} bytes).",
        markup=False,
    )
    if show_config:
        import json

        console.print("Runtime config (dags/runtime_config.json):", markup=False)
        console.print(json.dumps(data["runtime_config"], indent=2, sort_keys=True), markup=False)


def _domain_lines(domains: dict[str, Any]) -> list[str]:
    """`Domains (N):` and one line per domain: its contract version and DAG ids."""
    lines = [f"Domains ({len(domains)}):"]
    for name, domain in domains.items():
        dags = ", ".join(domain["dags"]) or "no DAGs"
        lines.append(f"  {name} {domain['version']}: {dags}")
    return lines


def _confirm(json_out: bool) -> Any:
    def ask(plan: Any) -> bool:
        data = plan.as_dict()
        if not json_out:
            _print_plan(data, show_config=False)
        if plan.is_noop:
            return True
        return typer.confirm(f"Promote {plan.release} into {plan.env}?", default=False, err=True)

    return ask


# Kept in step with deployer.promote.DEFAULT_WAIT_SECONDS (not imported here: the module is heavy).
WaitOption = Annotated[
    float,
    typer.Option(
        "--wait",
        help=(
            "Seconds to wait for queued or running DAG runs of the DAGs this promotion changes (their DAG "
            "file, or for every DAG the shared DAG library, the runtime config or data changed in place); "
            "still running after that: refused (exit 1), naming DAG and run ids, nothing uploaded. "
            "0: do not wait. On local with no Airflow running there are no runs (said so); an Airflow "
            "API that cannot be reached (GCP: Composer's) is refused unless --force."
        ),
    ),
]
ForceOption = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Promote even over DAG runs in progress (or an unreachable Airflow API); the audit entry "
        "records the DAG and run ids.",
    ),
]


def _say() -> Any:
    """Progress lines of the DAG-run check, on stderr (stdout stays one JSON object with --json)."""
    from deployer import log

    def say(line: str) -> None:
        if not log.is_json():
            typer.echo(line, err=True)

    return say


def _needs_yes(yes: bool, what: str) -> None:
    if not yes and not sys.stdin.isatty():
        raise Refused(f"{what} asks for confirmation and stdin is not a terminal: pass --yes")


def _print_report(report: dict[str, Any]) -> None:
    c = report["counters"]
    verb = {
        "ok": "promoted" if report["kind"] == "promote" else "rolled back to",
        "unchanged": "already live:",
    }[report["outcome"]]
    out().print(
        f"{verb} {report['release']} in {report['env']}: {report['uploaded']} uploaded, "
        f"{report['skipped']} unchanged, {report['archived']} archived; "
        f"{c['api_calls']} API calls in {report['duration_seconds']}s",
        markup=False,
    )
    if report.get("approval"):
        out().print(
            f"  approval {report['approval']['id']} by {report['approval']['approved_by']}", markup=False
        )
    for name in report.get("archive", []):
        out().print(f"  archived to gs://{report['buckets']['artifacts']}/{name}", markup=False)
    contracts = report.get("contracts") or {}
    if contracts.get("compared_with") and not contracts.get("note"):
        changes = contracts["changes"]
        out().print(
            f"  contracts: {len(changes)} change(s) against {contracts['compared_with']}", markup=False
        )
    elif contracts.get("note"):
        out().print(f"  contracts: {contracts['note']}", markup=False)


def register(app: typer.Typer) -> None:
    """Add plan, promote, rollback, status, drift, audit and unlock."""

    @app.command()
    def plan(release: ReleaseOption, env: EnvOption = None, json_out: JsonOption = False) -> None:
        """Show what promoting RELEASE into ENV would upload, change and archive, and the runtime config.
        Writes nothing."""
        from deployer import plan as planning
        from deployer.context import load_env, open_target
        from deployer.store import ReleaseStore
        from platform_model.manifest import check_release_id

        check_release_id(release)
        target = open_target(load_env(env))
        store = ReleaseStore(target.gcs, target.store)
        published = store.fetch(release)
        state = _read_state_or_empty(target)
        data = planning.compute(target, store, published, state).as_dict()
        data["counters"] = target.gcs.counters.as_dict()
        if json_out:
            emit_json(data)
        else:
            _print_plan(data)

    @app.command()
    def promote(
        release: ReleaseOption,
        env: EnvOption = None,
        yes: YesOption = False,
        as_name: AsOption = None,
        json_out: JsonOption = False,
        wait: WaitOption = 300.0,
        force: ForceOption = False,
    ) -> None:
        """Promote a published RELEASE into ENV: artifacts, dbt and GX, runtime config, then DAGs.
        Waits first for DAG runs in progress on the DAGs it changes (--wait, --force)."""
        from deployer import identity
        from deployer.context import load_env, open_target
        from deployer.promote import check_wait
        from deployer.promote import promote as run
        from platform_model.manifest import check_release_id

        check_release_id(release)
        environment = load_env(env)
        check_wait(environment, wait)  # before any round trip
        _needs_yes(yes, "promote")
        identity.check_as(environment, as_name)
        target = open_target(environment)
        actor = identity.resolve(environment, as_name, target.credentials)
        report = run(
            target,
            release,
            actor,
            kind="promote",
            confirm=None if yes else _confirm(json_out),
            quiet=json_out,
            wait=wait,
            force=force,
            say=_say(),
        )
        emit_json(report) if json_out else _print_report(report)

    @app.command()
    def rollback(
        env: EnvOption = None,
        to: Annotated[
            str | None,
            typer.Option("--to", help="Release to return to (default: the one live before the current)."),
        ] = None,
        yes: YesOption = False,
        as_name: AsOption = None,
        json_out: JsonOption = False,
        wait: WaitOption = 300.0,
        force: ForceOption = False,
    ) -> None:
        """Re-promote the previous (or a named) release that was live in ENV. Needs no new approval: that
        release was approved when it first went live, and the store's manifest must still have the digest
        recorded then. Like promote, it waits for DAG runs in progress on the DAGs it changes."""
        from deployer import identity
        from deployer.context import load_env, open_target
        from deployer.promote import check_wait
        from deployer.promote import promote as run
        from platform_model.manifest import check_release_id

        if to is not None:
            check_release_id(to)
        environment = load_env(env)
        check_wait(environment, wait)  # before any round trip
        _needs_yes(yes, "rollback")
        identity.check_as(environment, as_name)
        target = open_target(environment)
        actor = identity.resolve(environment, as_name, target.credentials)
        state = _read_state_or_empty(target)
        if to is None:
            previous = state.previous()
            if previous is None:
                raise Refused(f"{environment.name} has no previous release to roll back to")
            to = previous.release
        _check_rollback_digest(target, state, to, actor)
        report = run(
            target,
            to,
            actor,
            kind="rollback",
            confirm=None if yes else _confirm(json_out),
            quiet=json_out,
            wait=wait,
            force=force,
            say=_say(),
        )
        emit_json(report) if json_out else _print_report(report)

    @app.command()
    def status(env: EnvOption = None, json_out: JsonOption = False) -> None:
        """The live release of ENV: when, by whom, file counts, and the last promotion's figures."""
        from deployer.context import load_env, open_target
        from deployer.promote import last_report

        environment = load_env(env)
        target = open_target(environment)
        state = _read_state_or_empty(target)
        current = state.current
        previous = state.previous()
        report = last_report(target, state)
        data: dict[str, Any] = {
            "env": environment.name,
            "release": current.release if current else None,
            "digest": current.digest if current else None,
            "promoted_at": current.promoted_at if current else None,
            "promoted_by": current.promoted_by if current else None,
            "authenticated": current.authenticated if current else None,
            "kind": current.kind if current else None,
            "approved_by": current.approved_by if current else None,
            "approval_id": current.approval_id if current else None,
            "files": current.files if current else {},
            "domains": ({name: d.model_dump() for name, d in current.domains.items()} if current else {}),
            "previous_release": previous.release if previous else None,
            "history": [h.release for h in state.history],
            "last_promotion": _figures(report),
        }
        if current is not None and environment.platform == "local":
            # DAGs Airflow still knows that the live release does not declare (their files were archived)
            from deployer.verify import status_leftovers

            data["airflow"] = status_leftovers(target)
        if json_out:
            emit_json(data)
            return
        console = out()
        if current is None:
            console.print(f"{environment.name}: no release promoted yet", markup=False)
            return
        who = current.promoted_by + ("" if current.authenticated else " (unauthenticated, local)")
        console.print(
            f"{environment.name}: {current.release} ({current.kind}) since {current.promoted_at} by {who}",
            markup=False,
        )
        console.print("  files: " + ", ".join(f"{n} {c}" for c, n in current.files.items()), markup=False)
        for line in _domain_lines(data["domains"]):
            console.print(f"  {line}", markup=False)
        if current.approved_by:
            console.print(f"  approved by {current.approved_by} ({current.approval_id})", markup=False)
        if data["previous_release"]:
            console.print(f"  previous: {data['previous_release']}", markup=False)
        airflow = data.get("airflow")
        if airflow and airflow.get("leftovers"):
            console.print(
                "  Airflow still knows (paused, history kept): "
                + ", ".join(
                    str(d.get("dag_id", d)) if isinstance(d, dict) else str(d) for d in airflow["leftovers"]
                ),
                markup=False,
            )
        elif airflow and airflow.get("unavailable"):
            console.print(f"  Airflow: not checked ({airflow['unavailable']})", markup=False)
        figures = data["last_promotion"]
        if figures:
            console.print(
                f"  last promotion: {figures['uploaded']} uploaded, {figures['skipped']} unchanged, "
                f"{figures['archived']} archived, {figures['api_calls']} API calls, "
                f"{figures['duration_seconds']}s",
                markup=False,
            )

    @app.command()
    def drift(env: EnvOption = None, json_out: JsonOption = False) -> None:
        """Compare ENV's buckets with the live release's manifest: added, changed, missing (exit 1)."""
        from deployer import plan as planning
        from deployer.context import load_env, open_target
        from deployer.store import ReleaseStore

        target = open_target(load_env(env))
        state = _read_state_or_empty(target)
        result = planning.drift(target, ReleaseStore(target.gcs, target.store), state)
        if json_out:
            emit_json(result)
        else:
            console = out()
            for key, mark in (("added", "+"), ("changed", "~"), ("missing", "-")):
                for uri in result[key]:
                    console.print(f"  {mark} {uri}", markup=False)
            verdict = "drift found" if result["drift"] else "no drift"
            console.print(
                f"{result['env']} vs {result['release']}: {verdict} ({len(result['added'])} added, "
                f"{len(result['changed'])} changed, {len(result['missing'])} missing, "
                f"{result['unchanged']} unchanged)",
                markup=False,
            )
        if result["drift"]:
            raise typer.Exit(1)

    @app.command("audit")
    def audit_log(
        env: EnvOption = None,
        json_out: JsonOption = False,
        limit: Annotated[
            int, typer.Option("--limit", min=0, help="Show only the last N entries (0: all).")
        ] = 0,
    ) -> None:
        """The append-only audit log of ENV: requests, approvals, promotions, rollbacks and refusals."""
        from google.api_core.exceptions import NotFound

        from deployer import audit
        from deployer.context import load_env, open_target

        environment = load_env(env)
        target = open_target(environment)
        try:
            entries = audit.read_all(target.gcs, target.artifacts)
        except NotFound:
            entries = []
        if limit:
            entries = entries[-limit:]
        if json_out:
            emit_json({"env": environment.name, "entries": [e.model_dump() for e in entries]})
            return
        console = out()
        if not entries:
            console.print(f"no audit entries in {environment.name}", markup=False)
        for e in entries:
            who = e.actor + ("" if e.authenticated else "*")
            reason = f"  ({e.reason})" if e.reason else ""
            console.print(
                f"{e.time}  {who:24} {e.action:17} {e.outcome:9} {e.release or '-':15}{reason}", markup=False
            )
        if any(not e.authenticated for e in entries):
            console.print("* declared with --as on the local platform (not authenticated)", markup=False)

    @app.command()
    def unlock(
        lock_id: Annotated[
            int, typer.Argument(help="The lock id (its generation), as the refusal message shows it.")
        ],
        env: EnvOption = None,
        force: Annotated[
            bool, typer.Option("--force", help="Break the lock even if it is not stale.")
        ] = False,
        as_name: AsOption = None,
    ) -> None:
        """Break a stale lock of ENV (only when stale or abandoned, or with --force). Audited."""
        from deployer import audit, identity, lock
        from deployer.context import load_env, open_target

        environment = load_env(env)
        identity.check_as(environment, as_name)
        target = open_target(environment)
        actor = identity.resolve(environment, as_name, target.credentials)
        try:
            info = lock.unlock(target.gcs, target.artifacts, environment.name, lock_id, force=force)
        except Refused as exc:
            audit.try_append(
                target.gcs, target.artifacts, actor, "unlock", environment.name, "refused", reason=str(exc)
            )
            raise
        audit.append(
            target.gcs,
            target.artifacts,
            actor,
            "unlock",
            environment.name,
            "ok",
            release=info.release,
            reason=f"broke lock {lock_id} of {info.holder} (pid {info.pid} on {info.host}, "
            f"created {info.created})" + (" with --force" if force else ""),
        )
        out().print(f"unlocked {environment.name}: lock {lock_id} of {info.holder} removed", markup=False)


def _read_state_or_empty(target: Any) -> Any:
    """The state record; an empty one when the artifacts bucket does not exist yet (local platform)."""
    from google.api_core.exceptions import NotFound

    from deployer.state import State, read_state

    try:
        state, _generation = read_state(target.gcs, target.artifacts, target.env.name)
    except NotFound:
        if not target.is_local:
            raise ConfigError(
                f"bucket gs://{target.artifacts} does not exist (deploy the infra first)"
            ) from None
        return State(env=target.env.name)
    return state


def _figures(report: dict[str, Any] | None) -> dict[str, Any] | None:
    if report is None:
        return None
    counters = report.get("counters", {})
    return {
        "release": report.get("release"),
        "kind": report.get("kind"),
        "uploaded": report.get("uploaded"),
        "skipped": report.get("skipped"),
        "archived": report.get("archived"),
        "bytes_uploaded": report.get("bytes_uploaded"),
        "api_calls": counters.get("api_calls"),
        "duration_seconds": report.get("duration_seconds"),
        "phases": report.get("phases"),
        "approver": (report.get("approval") or {}).get("approved_by"),
        "started_at": report.get("started_at"),
        "finished_at": report.get("finished_at"),
    }


def _check_rollback_digest(target: Any, state: Any, release: str, actor: Any) -> None:
    """Refuse (and audit) a rollback to `release` when the store's manifest of it is not the one that was
    live: the rollback skips the approval gate on the strength of that earlier approval, which covered the
    manifest digest recorded in the state when `release` went live (its latest time)."""
    from deployer import audit
    from deployer.store import ReleaseStore

    every = [*state.history, *([state.current] if state.current else [])]
    lived = [item for item in every if item.release == release]
    if not lived:
        return  # never live here: the promotion refuses it with its own reason
    recorded = lived[-1].digest
    env = target.env.name
    try:
        published = ReleaseStore(target.gcs, target.store).fetch(release, verify_files=False)
    except Refused as exc:
        audit.try_append(
            target.gcs, target.artifacts, actor, "rollback", env, "refused", release=release, reason=str(exc)
        )
        raise
    if published.digest == recorded:
        return
    reason = (
        f"rollback to {release} refused: the store's manifest of {release} has digest {published.digest}, "
        f"but {release} was live in {env} with {recorded} (the release store's manifest was replaced)"
    )
    audit.try_append(
        target.gcs,
        target.artifacts,
        actor,
        "rollback",
        env,
        "refused",
        release=release,
        digest=published.digest,
        reason=reason,
    )
    raise Refused(reason)
