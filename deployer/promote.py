"""Promote: converge an environment's buckets to a published release, in an order that is always safe.

    0. compare the release's domain contracts with the live release's (`deployer.plan.check_contracts`):
       a breaking change not covered by a major bump and its migration is refused, nothing written
    1. take the environment's lock (one promotion at a time)
    2. check the approval gate (environments with `promotion.requires_approval`)
    2b. wait for the DAG runs in progress that the promotion would change files under (`check_runs`),
       or refuse, naming them, before anything is uploaded (`force` goes on and audits them)
    3. Spark artifacts, dbt and GX (one parallel wave) -> runtime config -> DAGs (so no DAG ever points at
       a missing artifact; artifacts are content-addressed and never removed); a DAG the release
       overwrites with other content is first copied to the archive (server-side), and the overwrite is
       conditioned on the generation that was copied
    4. copy what leaves the DAG folder to the archive
    5. write the state record (generation-conditioned) and mark the approval used
    6. remove what was archived from the DAG folder; write the report and the audit entry; release the lock

Killed at any point, running it again converges: every step compares what is there with what should be
(one listing per prefix) and does only what is missing. A completed promotion run again uploads nothing.
"""

from __future__ import annotations

import json
import mimetypes
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from deployer import approval, audit, lock, log, pause
from deployer.context import Target
from deployer.identity import Actor
from deployer.plan import PHASE_GROUPS, ArchiveMove, Plan, Upload, check_contracts, compute, domain_summary
from deployer.state import Live, LiveDomain, State, iso, read_state, utc_now, write_state
from deployer.store import PublishedRelease, ReleaseStore
from deployer.transfer import run_all
from platform_model.environment import Environment
from platform_model.errors import ConfigError, Refused
from platform_model.manifest import COMPONENTS, is_dag_file, md5_b64

REPORTS_PREFIX = "deployer/reports/"
Kind = Literal["promote", "rollback"]
DEFAULT_WAIT_SECONDS = 300.0
RUN_POLL_SECONDS = 2.0


def _content_type(name: str) -> str:
    if name.endswith((".yml", ".yaml")):
        return "text/yaml"
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


def needs_approval(target: Target, state: State, published: PublishedRelease, kind: Kind) -> bool:
    """Whether this promotion must present a grant (see deployer.approval for the rule)."""
    if not target.env.promotion.requires_approval or kind == "rollback":
        return False
    current = state.current
    return not (
        current is not None and current.release == published.release and current.digest == published.digest
    )


def gate(
    target: Target, state: State, published: PublishedRelease, kind: Kind, actor: Actor
) -> approval.Stored | None:
    """The approval this promotion relies on (None when it needs none); Refused, audited, otherwise."""
    if not needs_approval(target, state, published, kind):
        return None
    try:
        return approval.find_usable(
            target.gcs, target.artifacts, target.env, published.release, published.digest
        )
    except Refused as exc:
        audit.try_append(
            target.gcs,
            target.artifacts,
            actor,
            kind,
            target.env.name,
            "refused",
            release=published.release,
            digest=published.digest,
            reason=str(exc),
        )
        raise


def fetch_checked(
    target: Target, store: ReleaseStore, release_id: str, actor: Actor, kind: Kind
) -> PublishedRelease:
    """The published release, its store copy verified; a tampered store is refused and audited."""
    try:
        return store.fetch(release_id)
    except Refused as exc:
        audit.try_append(
            target.gcs,
            target.artifacts,
            actor,
            kind,
            target.env.name,
            "refused",
            release=release_id,
            reason=str(exc),
        )
        raise


def uploader(store: ReleaseStore, published: PublishedRelease, plan: Plan) -> Callable[[Upload], None]:
    """The function writing one of the plan's uploads: a server-side copy when the plan found a source,
    else (or when that source is gone) the bytes read, checked against the plan and uploaded."""

    def one(item: Upload) -> None:
        if item.copy_from is not None and _copy(store, item):
            return
        data = plan.runtime_config_bytes if item.source is None else store.read_file(published, item.source)
        if md5_b64(data) != item.md5:
            raise Refused(
                f"{item.source or item.name}: content does not match the plan (changed while promoting)"
            )
        from google.api_core.exceptions import PreconditionFailed

        try:
            store.gcs.write(
                item.bucket,
                item.name,
                data,
                content_type=_content_type(item.name),
                if_generation_match=item.replaces,
            )
        except PreconditionFailed:
            raise Refused(
                f"gs://{item.bucket}/{item.name} changed after it was archived (another writer); run it again"
            ) from None

    return one


def _copy(store: ReleaseStore, item: Upload) -> bool:
    """Server-side copy of the object with this content the plan found (`Upload.copy_from`: the live
    release's copy in the same bucket, or the store's), from the generation listed, so the bytes are
    the ones listed; False when that generation is gone meanwhile (then the file is uploaded, its bytes
    read and checked). A copy whose MD5 is not the manifest's is refused."""
    from google.api_core.exceptions import NotFound

    assert item.copy_from is not None
    bucket, name, generation = item.copy_from
    try:
        md5 = store.gcs.copy(
            bucket,
            name,
            item.bucket,
            item.name,
            source_generation=generation,
            content_type=_content_type(item.name),
        )
    except NotFound:
        return False
    if md5 is not None and md5 != item.md5:
        raise Refused(
            f"gs://{item.bucket}/{item.name}: the copy of gs://{bucket}/{name} does not match the plan's MD5"
        )
    return True


def _archive_copy(target: Target, plan: Plan, quiet: bool, *, overwritten: bool) -> int:
    """Copy the DAG objects the release overwrites (`overwritten`) or that leave the DAG folder to the
    archive, server-side and from the generation the plan saw (skipping copies already there)."""
    to_copy = [a for a in plan.archive if not a.copied and a.overwritten == overwritten]

    def copy(move: ArchiveMove) -> None:
        target.gcs.copy(
            plan.composer_bucket,
            move.name,
            move.archive_bucket,
            move.archive_name,
            source_generation=move.generation,
        )

    phase = "dags-archive-copy" if overwritten else "archive-copy"
    run_all(to_copy, copy, label="archiving", phase=phase, quiet=quiet)
    return len(to_copy)


def _archive_remove(target: Target, plan: Plan, quiet: bool) -> int:
    """Remove what was archived from the DAG folder (conditioned on the generation that was copied)."""
    from google.api_core.exceptions import PreconditionFailed

    removed = 0

    def remove(move: ArchiveMove) -> None:
        nonlocal removed
        try:
            if target.gcs.delete(plan.composer_bucket, move.name, if_generation_match=move.generation):
                removed += 1
        except PreconditionFailed:
            log.event(
                "archive_skip",
                level="warning",
                message=f"{move.name} changed after it was archived; left in place",
            )

    leaving = [a for a in plan.archive if not a.overwritten]
    run_all(leaving, remove, label="removing archived DAG files", phase="archive-remove", quiet=quiet)
    return removed


def _settle_approval(target: Target, live: Live | None, fresh: approval.Stored | None, by: str) -> str | None:
    """Mark the approval behind the live release used (also when a killed run left it unmarked)."""
    if fresh is not None:
        approval.consume(target.gcs, target.artifacts, fresh, by)
        return fresh.approval.id
    if live is None or live.approval_id is None:
        return None
    try:
        stored = approval.read(target.gcs, target.artifacts, live.approval_id)
    except ConfigError:
        return None
    if stored.approval.status == "granted" and stored.approval.digest == live.digest:
        approval.consume(target.gcs, target.artifacts, stored, by)
        return stored.approval.id
    return None


# -- DAG runs in progress ---------------------------------------------------------------------------


def affected_dags(plan: Plan, files: dict[str, list[str]]) -> dict[str, str]:
    """DAG id -> the first object (`gs://...`) this promotion changes under it, for every DAG whose runs
    in progress would see the promotion. `files` maps each DAG file of the bucket (`dags/...`) to the DAG
    ids Airflow parsed from it (`verify.dag_files`).

    Only objects that exist and change count (`Plan.in_place`: overwritten or removed). An overwritten or
    removed DAG file affects the DAGs Airflow parsed from it. Any other object changed in place may be
    read by every DAG and affects them all: a module of the shared DAG library or `.airflowignore`, the
    runtime config beside the DAGs (it names the dbt, GX and Spark paths the tasks read, so a new dbt or
    GX digest or Spark build reaches running DAGs through it), or a dbt/GX/Spark object repaired in
    place."""
    everyone = sorted({dag for ids in files.values() for dag in ids})
    out: dict[str, str] = {}
    for bucket, name in plan.in_place():
        declared = files.get(name) if bucket == plan.composer_bucket else None
        for dag in declared if declared is not None else everyone:
            out.setdefault(dag, f"gs://{bucket}/{name}")
    return out


def check_runs(
    target: Target,
    plan: Plan,
    *,
    wait: float,
    force: bool,
    say: Callable[[str], None],
    refuse: Callable[[str, dict[str, object]], None],
) -> dict[str, Any]:
    """Wait (up to `wait` seconds, polling) until no DAG in `affected_dags` has a queued or running run.

    Runs still in progress at the end: `refuse(reason, details)` is called (it raises) unless `force`.
    Airflow is asked only when the plan changes something in place. On the local platform with no Airflow
    running there are no runs (said so); an Airflow that is configured but cannot be asked (GCP:
    Composer's airflow_uri; local: DEPLOYER_AIRFLOW_URL or `deployer airflow start`) is refused unless
    `force`. Returns the report's `dag_runs`."""
    if not plan.in_place():
        return {"checked": False, "note": "nothing changes in place: no DAG run can see this promotion"}
    from deployer import verify  # the Airflow client: only when something changes in place

    env = target.env.name
    try:
        api = verify.find_api(target)
        if api is None:
            note = f"no Airflow is running for {env}: no DAG runs to wait for"
            say(note)
            return {"checked": False, "note": note}
        affected = affected_dags(plan, verify.dag_files(api))
        pending = [r for r in verify.active_runs(api) if r.dag_id in affected]
        waited: dict[tuple[str, str], verify.ActiveRun] = {}  # (dag id, run id) -> as first seen
        started = time.monotonic()
        while pending:
            for run in pending:
                if (run.dag_id, run.run_id) not in waited:
                    waited[(run.dag_id, run.run_id)] = run
                    doing = f"waiting up to {wait:g} s for" if wait > 0 else "in progress:"
                    say(f"{doing} DAG run {run} ({affected[run.dag_id]} changes)")
            left = wait - (time.monotonic() - started)
            if left <= 0:
                break
            time.sleep(min(RUN_POLL_SECONDS, left))
            pending = [r for r in verify.active_runs(api) if r.dag_id in affected]
    except ConfigError as exc:
        if not force:
            reason = (
                f"cannot check the DAG runs of {env} ({exc}); nothing uploaded "
                "(--force promotes without the check)"
            )
            refuse(reason, {"dag_runs_not_checked": str(exc)})
        say(f"--force: DAG runs not checked ({exc})")
        return {"checked": False, "note": str(exc), "forced": True}
    seconds = round(time.monotonic() - started, 1)
    report: dict[str, Any] = {
        "checked": True,
        "affected_dags": sorted(affected),
        "waited_for": [r.as_dict() for r in waited.values()],
        "waited_seconds": seconds,
        "forced_over": [r.as_dict() for r in pending],
    }
    if pending and not force:
        listing = ", ".join(str(r) for r in pending)
        reason = (
            f"{len(pending)} DAG run(s) still in progress after waiting {seconds:g} s (--wait {wait:g}) "
            f"on DAGs this promotion changes: {listing}; nothing uploaded (wait longer, or --force)"
        )
        refuse(reason, {"dag_runs": [r.as_dict() for r in pending]})
    if pending:
        say(f"--force: promoting while {', '.join(str(r) for r in pending)} in progress")
    elif waited:
        say(f"DAG runs finished after {seconds:g} s: promoting")
    return report


def _forced_details(dag_runs: dict[str, Any]) -> dict[str, object]:
    """What `--force` went over, for the audit entry: the DAG and run ids, or the check it skipped."""
    details: dict[str, object] = {}
    if dag_runs.get("forced_over"):
        details["forced_over_dag_runs"] = dag_runs["forced_over"]
        details["forced_over_dags"] = sorted({r["dag_id"] for r in dag_runs["forced_over"]})
    if dag_runs.get("forced"):
        details["dag_runs_not_checked"] = dag_runs.get("note")
    return details


def _forced_reason(dag_runs: dict[str, Any]) -> str | None:
    """The audit entry's reason when `--force` went over DAG runs or over a check it could not make."""
    if dag_runs.get("forced_over"):
        runs = ", ".join(f"{r['dag_id']} run {r['run_id']}" for r in dag_runs["forced_over"])
        return f"--force: promoted while DAG runs were in progress: {runs}"
    if dag_runs.get("forced"):
        return f"--force: DAG runs not checked ({dag_runs.get('note')})"
    return None


def _files(published: PublishedRelease) -> dict[str, int]:
    return {c: len(published.manifest.component_files(c)) for c in COMPONENTS}


def check_wait(env: Environment, wait: float) -> None:
    """`--wait` must leave the lock fresh: between 0 and the environment's lock TTL (ConfigError)."""
    if not 0 <= wait < env.promotion.lock_ttl_seconds:
        raise ConfigError(
            f"--wait: {wait:g} is not between 0 and the lock's promotion.lock_ttl_seconds "
            f"({env.promotion.lock_ttl_seconds}) of {env.name}: the lock would turn stale while waiting"
        )


def promote(
    target: Target,
    release_id: str,
    actor: Actor,
    *,
    kind: Kind = "promote",
    confirm: Callable[[Plan], bool] | None = None,
    quiet: bool = False,
    wait: float = DEFAULT_WAIT_SECONDS,
    force: bool = False,
    say: Callable[[str], None] = lambda _line: None,
) -> dict[str, Any]:
    """Promote (or roll back to) `release_id`; returns the promotion report. See the module docstring.

    `wait`, `force`: DAG runs in progress on the DAGs the promotion changes (`check_runs`); `say`
    prints a progress line for people (which runs it waits for)."""
    started_at = utc_now()
    t0 = time.monotonic()
    env = target.env
    check_wait(env, wait)
    store = ReleaseStore(target.gcs, target.store)
    # Local platform: the buckets must exist before a refusal can be audited.
    target.ensure_buckets(target.artifacts, target.composer)
    # Two round trips that do not depend on each other: the release (manifest and listing) and the state.
    with ThreadPoolExecutor(max_workers=1) as pool:
        reading = pool.submit(read_state, target.gcs, target.artifacts, env.name)
        published = fetch_checked(target, store, release_id, actor, kind)
        state, _generation = reading.result()
    if kind == "rollback" and not state.was_live(release_id):
        reason = (
            f"{release_id} was never live in {env.name}: rollback only returns to a release that was; "
            "promote it instead"
        )
        audit.try_append(
            target.gcs, target.artifacts, actor, kind, env.name, "refused", release=release_id, reason=reason
        )
        raise Refused(reason)
    # Before the gate and the lock: a breaking contract change is refused with nothing written. A
    # rollback returns to a release that was live (its contracts were accepted then): listed only.
    enforce = kind == "promote"
    contracts = check_contracts(target, store, published, state)
    if enforce:
        contracts.refuse()
    gate(target, state, published, kind, actor)  # early, so nobody confirms a promotion that will be refused
    if confirm is not None and not confirm(
        compute(target, store, published, state, contracts=contracts, enforce_contracts=enforce)
    ):
        raise Refused("promotion not confirmed; nothing changed")

    held, broken = lock.acquire(
        target.gcs,
        target.artifacts,
        env.name,
        holder=actor.name,
        command=kind,
        release=release_id,
        ttl_seconds=env.promotion.lock_ttl_seconds,
    )
    if broken is not None:
        audit.append(
            target.gcs,
            target.artifacts,
            actor,
            "lock-break",
            env.name,
            "ok",
            release=broken.release,
            reason=f"abandoned lock of {broken.holder} (pid {broken.pid} on {broken.host}) broken by {kind}",
        )
    log.event(
        "promotion_started", env=env.name, release=release_id, kind=kind, actor=actor.name, lock=held.id
    )
    try:
        pause.point("locked")
        state, generation = read_state(target.gcs, target.artifacts, env.name)
        fresh = gate(target, state, published, kind, actor)
        plan = compute(target, store, published, state, contracts=contracts, enforce_contracts=enforce)

        def refuse(reason: str, details: dict[str, object]) -> None:
            audit.try_append(
                target.gcs,
                target.artifacts,
                actor,
                kind,
                env.name,
                "refused",
                release=release_id,
                digest=published.digest,
                reason=reason,
                details=details,
            )
            raise Refused(reason)

        def tell(line: str) -> None:
            log.event("dag_runs", env=env.name, release=release_id, message=line)
            say(line)

        p0 = time.monotonic()
        dag_runs = check_runs(target, plan, wait=wait, force=force, say=tell, refuse=refuse)
        phases: dict[str, float] = {"archive": 0.0, "dag_runs": round(time.monotonic() - p0, 3)}
        upload = uploader(store, published, plan)

        def upload_counted(item: Upload) -> None:
            upload(item)
            pause.counted(f"{item.phase}-upload")

        copied = 0
        # A group after the other (`PHASE_GROUPS`); in the DAG folder, its library first and the DAG
        # files that import it last (`dag_files_last`).
        for group in PHASE_GROUPS:
            items = [u for u in plan.uploads if u.phase in group]
            waves = [items]
            if group == ("dags",):
                p0 = time.monotonic()
                copied += _archive_copy(target, plan, quiet, overwritten=True)
                phases["archive"] = round(time.monotonic() - p0, 3)
                pause.point("dags-archived")
                waves = [
                    [u for u in items if not is_dag_file(u.name)],
                    [u for u in items if is_dag_file(u.name)],
                ]
            p0 = time.monotonic()
            for wave in waves:
                label = f"{' and '.join(group)} ({len(wave)})"
                run_all(wave, upload_counted, label=label, phase="upload", quiet=quiet)
            name = "+".join(group)
            phases[name] = round(time.monotonic() - p0, 3)
            log.event(
                "promotion_phase",
                env=env.name,
                release=release_id,
                phase=name,
                uploaded=len(items),
                seconds=phases[name],
            )
            for phase in group:
                pause.point(phase)
        p0 = time.monotonic()
        copied += _archive_copy(target, plan, quiet, overwritten=False)
        phases["archive"] = round(phases["archive"] + time.monotonic() - p0, 3)
        pause.point("archive-copied")

        # The state goes live once everything the release needs is in place, and before anything is
        # removed: at no moment does it name a release whose files are not all there.
        p0 = time.monotonic()
        pause.point("before-state")
        current = state.current
        same = current is not None and current.release == release_id and current.digest == published.digest
        changed = bool(plan.uploads or plan.archive)
        replaced = (current.replaced if same else current.release) if current else None
        report_name = f"{REPORTS_PREFIX}{started_at.strftime('%Y%m%dT%H%M%S.%fZ')}-{release_id}.json"
        approval_id = fresh.approval.id if fresh else (current.approval_id if same and current else None)
        approved_by = (
            fresh.approval.granted_by if fresh else (current.approved_by if same and current else None)
        )
        if not same or changed:
            live = Live(
                release=release_id,
                digest=published.digest,
                promoted_at=iso(utc_now()),
                promoted_by=actor.name,
                authenticated=actor.authenticated,
                kind=kind,
                approval_id=approval_id,
                approved_by=approved_by,
                files=_files(published),
                components=dict(published.manifest.components),
                domains={
                    name: LiveDomain(version=d["version"], dags=d["dags"])
                    for name, d in domain_summary(plan.runtime_config).items()
                },
                report=report_name,
                replaced=replaced,
                leaving=(
                    list(current.leaving)
                    if same and current
                    else [a.name for a in plan.archive if not a.overwritten]
                ),
            )
            write_state(target.gcs, target.artifacts, state.with_current(live), generation)
            current = live
        pause.point("after-state")
        _settle_approval(target, current, fresh, f"{kind} by {actor.name} at {iso(utc_now())}")
        pause.point("after-approval")
        phases["state"] = round(time.monotonic() - p0, 3)

        p0 = time.monotonic()
        removed = _archive_remove(target, plan, quiet)
        phases["archive"] = round(phases["archive"] + time.monotonic() - p0, 3)
        pause.point("archived")

        outcome: Literal["ok", "unchanged"] = "ok" if (changed or not same) else "unchanged"
        report: dict[str, Any] = {
            "env": env.name,
            "release": release_id,
            "digest": published.digest,
            "kind": kind,
            "outcome": outcome,
            "previous_release": replaced,
            "actor": actor.name,
            "authenticated": actor.authenticated,
            "approval": {"id": approval_id, "approved_by": approved_by} if approval_id else None,
            "started_at": iso(started_at),
            "finished_at": iso(utc_now()),
            "duration_seconds": round(time.monotonic() - t0, 3),
            "phases": phases,
            "uploaded": len(plan.uploads),
            "changed": sum(1 for u in plan.uploads if u.change),
            "skipped": plan.unchanged,
            "archived": len(plan.archive),
            "archive_copies": copied,
            "removed": removed,
            "bytes_uploaded": sum(u.size for u in plan.uploads if u.copy_from is None),
            "server_side_copies": sum(1 for u in plan.uploads if u.copy_from),
            "copied_from_store": sum(
                1 for u in plan.uploads if u.copy_from and u.copy_from[0] == store.bucket
            ),
            "files": _files(published),
            "domains": domain_summary(plan.runtime_config),
            "contracts": plan.contracts.as_dict() if plan.contracts else None,
            "buckets": {
                "artifacts": plan.artifacts_bucket,
                "composer": plan.composer_bucket,
                "store": target.store,
            },
            "archive": [a.archive_name for a in plan.archive],
            "archived_overwritten": sum(1 for a in plan.archive if a.overwritten),
            "dag_runs": dag_runs,
        }
        report["counters"] = target.gcs.counters.as_dict()
        # The report and the audit entry are separate objects: one round trip for both.
        with ThreadPoolExecutor(max_workers=1) as pool:
            writing = None
            if outcome == "ok":
                data = (json.dumps(report, indent=2, sort_keys=True) + "\n").encode()
                writing = pool.submit(
                    target.gcs.write,
                    target.artifacts,
                    report_name,
                    data,
                    if_generation_match=0,
                    content_type="application/json",
                    bookkeeping=True,
                )
                report["report"] = report_name
            audit.append(
                target.gcs,
                target.artifacts,
                actor,
                kind,
                env.name,
                outcome,
                release=release_id,
                digest=published.digest,
                reason=_forced_reason(dag_runs),
                details={
                    "uploaded": report["uploaded"],
                    "archived": report["archived"],
                    "approval": approval_id,
                    "approved_by": approved_by,
                    "previous_release": report["previous_release"],
                    **_forced_details(dag_runs),
                },
            )
            if writing is not None:
                writing.result()
        pause.point("before-unlock")
    except BaseException as exc:
        if not isinstance(exc, Refused | ConfigError):
            audit.try_append(
                target.gcs,
                target.artifacts,
                actor,
                kind,
                env.name,
                "failed",
                release=release_id,
                reason=f"{type(exc).__name__} during the promotion; run it again to converge",
            )
        raise
    finally:
        lock.release(target.gcs, target.artifacts, held)
    report["counters"] = target.gcs.counters.as_dict()
    report["duration_seconds"] = round(time.monotonic() - t0, 3)
    log.event(
        "promotion_finished",
        env=env.name,
        release=release_id,
        kind=kind,
        outcome=report["outcome"],
        uploaded=report["uploaded"],
        skipped=report["skipped"],
        archived=report["archived"],
        api_calls=report["counters"]["api_calls"],
        seconds=report["duration_seconds"],
    )
    return report


def last_report(target: Target, state: State) -> dict[str, Any] | None:
    """The report of the promotion that made the current release live."""

    if state.current is None or state.current.report is None:
        return None
    obj = target.gcs.read(target.artifacts, state.current.report)
    if obj is None:
        return None
    try:
        data = json.loads(obj.data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None
