"""Plan: what promoting a release into an environment would upload, change and archive. Writes nothing.

A promotion converges the buckets from "what is there" to "what the manifest says". The plan compares
the release's objects with ONE listing per prefix (size and MD5 from the listing; no GET per object):

    artifacts bucket   jobs/<jobs digest>/...          Spark artifacts (content-addressed, immutable)
    Composer bucket    data/dbt/<dbt digest>/...       dbt project (content-addressed)
                       data/gx/<gx digest>/...         GX suites (content-addressed)
                       dags/runtime_config.json        rendered for this environment
                       dags/...                        the release's DAG files

Objects under `dags/` that the release does not have are archived (copied to
`archive/<YYYY-MM-DD>/<release that was live>/dags/...` in the artifacts bucket) and only then removed.
A DAG object the release overwrites with other content is archived the same way, before the overwrite,
so nothing is lost even in a bucket without object versioning.
Component paths are keyed by content, not by release id, and the runtime config names no release id:
a release that only changes one DAG uploads that DAG, nothing else. A component that changes gets a new
prefix (a running DAG keeps reading the old one, whole, until the runtime config names the new); the
files of it that the live release's prefix already holds with the same MD5 and size are copied there
server-side, so a one-model dbt change moves one file's bytes.

The runtime config is `platform_model.runtime.render` of the release's domain declarations
(`domains/*.yaml`, resolved for the environment: its overrides applied, the domains it switches off
left out) and its `jobs/jobs.json`. The domain files are read, not uploaded: the DAGs read the config.

Contract evolution: each domain of the release is compared with its declaration in the release live
in the environment (the state names it; its `domains/*.yaml` are read through the release store and
verified against the manifest whose digest the state recorded), by the core's rules
(`platform_model.evolution`). The plan lists every change; a breaking change the release does not
cover (a major version bump and the migration it names, shipped) refuses the plan, and so the
promotion, before anything is written. The first promotion into an environment has nothing to compare.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from deployer import policy_tags
from deployer.context import Target
from deployer.gcs import ObjInfo
from deployer.state import State, utc_now
from deployer.store import PublishedRelease, ReleaseStore, files_prefix
from platform_model.errors import ConfigError, Refused
from platform_model.evolution import Change, refusals
from platform_model.manifest import JOBS_FILE, dbt_prefix, domain_paths, gx_prefix, jobs_prefix, md5_b64
from platform_model.runtime import RUNTIME_CONFIG_NAME, RuntimeConfig, release_domains, render, to_bytes

Phase = Literal["artifacts", "data", "runtime-config", "dags"]
# The order of a promotion's uploads: the phases of one group go up together, a group after the one
# before it (Spark artifacts, dbt and GX are content-addressed and need no order among them; the runtime
# config names them; the DAG folder reads the runtime config).
PHASE_GROUPS: tuple[tuple[Phase, ...], ...] = (("artifacts", "data"), ("runtime-config",), ("dags",))
RUNTIME_CONFIG_OBJECT = f"dags/{RUNTIME_CONFIG_NAME}"
# Composer writes its own monitoring DAG into some environments' buckets: never ours to archive.
UNMANAGED_DAG_OBJECTS = frozenset({"dags/airflow_monitoring.py"})


@dataclass(frozen=True)
class Upload:
    """One object the promotion writes."""

    phase: Phase
    bucket: str
    name: str
    source: str | None = field(metadata={"doc": "release path, or None for the rendered runtime config"})
    size: int
    md5: str
    change: bool = field(metadata={"doc": "True when it overwrites an object with other content"})
    replaces: int | None = field(
        default=None,
        metadata={"doc": "generation of the archived DAG it overwrites (the write is conditioned on it)"},
    )
    copy_from: tuple[str, str, int] | None = field(
        default=None,
        metadata={
            "doc": "(bucket, name, generation) of an object with this content, copied server-side: the "
            "live release's copy in the same bucket when it has one (same MD5 and size, under the live "
            "prefix of the component), else the release store's (checked against the manifest); None: "
            "uploaded (the rendered runtime config, and DAG files that overwrite, whose write is "
            "conditioned on the generation archived)"
        },
    )


@dataclass(frozen=True)
class ArchiveMove:
    """One DAG object archived: leaving the DAG folder (copied, then removed) or `overwritten` by the
    release (copied before the new content is uploaded, not removed)."""

    name: str
    generation: int
    size: int
    archive_bucket: str
    archive_name: str
    copied: bool
    overwritten: bool = False


@dataclass(frozen=True)
class ContractCheck:
    """The release's domain declarations against those of the release live in the environment."""

    env: str
    release: str
    live_release: str | None = field(metadata={"doc": "None: nothing live to compare with"})
    changes: list[Change] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    note: str | None = field(default=None, metadata={"doc": "why nothing was compared"})

    def lines(self) -> list[str]:
        """What the plan says about the contracts (a heading, then one line per change)."""
        if self.live_release is None or self.note:
            return [f"Contracts: {self.note or 'nothing to compare with'}"]
        if not self.changes:
            return [f"Contracts: no change against {self.live_release} live in {self.env}"]
        lines = [f"Contracts against {self.live_release} live in {self.env} ({len(self.changes)} change(s)):"]
        return lines + [f"  {c}" for c in self.changes]

    def as_dict(self) -> dict[str, Any]:
        """JSON form (the plan's `contracts`)."""
        return {
            "compared_with": self.live_release,
            "note": self.note,
            "changes": [
                {
                    "domain": c.domain,
                    "section": c.section,
                    "column": c.column,
                    "change": c.what,
                    "breaking": c.breaking,
                    "line": str(c),
                }
                for c in self.changes
            ],
            "compatible": [str(c) for c in self.changes if not c.breaking],
            "refused": self.refused,
        }

    def refuse(self) -> None:
        """Refused (exit 1), one line per breaking change not covered, when there is any."""
        if self.refused:
            heading = (
                f"{self.release} refused in {self.env}: {len(self.refused)} breaking contract change(s) "
                f"against {self.live_release} live there:"
            )
            raise Refused("\n  ".join([heading, *self.refused]))


def live_release(
    store: ReleaseStore, state: State, again: PublishedRelease | None = None
) -> PublishedRelease | None:
    """The release live in the environment (None when nothing is), its stored manifest checked against
    the digest the state recorded when it went live; Refused when the store holds another one.
    `again`: a release already fetched, used as is when it is the live one (same id and digest)."""
    current = state.current
    if current is None:
        return None
    if again is not None and (again.release, again.digest) == (current.release, current.digest):
        return again  # promoting the live release again: the manifest is the one the state recorded
    # Every file read from it is sha256-checked against this manifest: no listing needed.
    published = store.fetch(current.release, verify_files=False)
    if published.digest != current.digest:
        raise Refused(
            f"{store.where(current.release)}: manifest digest {published.digest} is not the one recorded "
            f"when {current.release} went live in {state.env} ({current.digest}): tampered store"
        )
    return published


def check_contracts(
    target: Target, store: ReleaseStore, published: PublishedRelease, state: State
) -> ContractCheck:
    """Compare each domain of `published` with the release live in `target` (see the module docstring)."""
    env, release = target.env.name, published.release
    live = live_release(store, state, published)
    if live is None:
        return ContractCheck(
            env, release, None, note=f"nothing live in {env} yet: nothing to compare with (first promotion)"
        )
    if not domain_paths(live.manifest):
        note = f"{live.release} live in {env} declares no domains (domains/*.yaml): nothing to compare with"
        return ContractCheck(env, release, live.release, note=note)

    # Every domain file of both releases in one round trip (read_file caches what it read and verified).
    wanted = [(published, p) for p in domain_paths(published.manifest)]
    if live is not published:
        wanted += [(live, p) for p in domain_paths(live.manifest)]
    with ThreadPoolExecutor(max_workers=len(wanted)) as pool:
        for future in [pool.submit(store.read_file, release, path) for release, path in wanted]:
            future.result()

    def read_live(path: str) -> bytes:
        return store.read_file(live, path)

    def read_new(path: str) -> bytes:
        return store.read_file(published, path)

    old = release_domains(live.manifest, read_live)
    new = release_domains(published.manifest, read_new)
    refused, changes = refusals(old, new, set(published.manifest.by_path()))
    return ContractCheck(env, release, live.release, changes, refused)


@dataclass
class Plan:
    """The difference between the buckets and a release."""

    env: str
    release: str
    digest: str
    previous: str | None
    artifacts_bucket: str
    composer_bucket: str
    uploads: list[Upload]
    unchanged: int
    archive: list[ArchiveMove]
    extra: list[str]
    runtime_config: RuntimeConfig
    runtime_config_bytes: bytes
    missing_buckets: list[str]
    switched_off: list[str] = field(
        default_factory=list, metadata={"doc": "domains of the release this environment does not deploy"}
    )
    contracts: ContractCheck | None = None

    @property
    def is_noop(self) -> bool:
        """Nothing to upload, change or archive."""
        return not self.uploads and not self.archive

    def in_place(self) -> list[tuple[str, str]]:
        """(bucket, name) of every existing object the promotion overwrites with other content or removes
        from the DAG folder: what a DAG run in progress could see change under it. New objects (new DAG
        files, new content-addressed dbt/GX/Spark paths) change nothing a running DAG reads."""
        found = {(u.bucket, u.name) for u in self.uploads if u.change}
        found |= {(self.composer_bucket, a.name) for a in self.archive}
        return sorted(found)

    def as_dict(self) -> dict[str, Any]:
        """JSON form (`deployer plan --json`)."""

        def uri(bucket: str, name: str) -> str:
            return f"gs://{bucket}/{name}"

        return {
            "env": self.env,
            "release": self.release,
            "digest": self.digest,
            "current_release": self.previous,
            "summary": {
                "upload": sum(1 for u in self.uploads if not u.change),
                "change": sum(1 for u in self.uploads if u.change),
                "archive": len(self.archive),
                "unchanged": self.unchanged,
                "bytes": sum(u.size for u in self.uploads),
                "server_side_copies": sum(1 for u in self.uploads if u.copy_from),
            },
            "upload": [
                {"phase": u.phase, "uri": uri(u.bucket, u.name), "size": u.size}
                | ({"copy_of": uri(u.copy_from[0], u.copy_from[1])} if u.copy_from else {})
                for u in self.uploads
                if not u.change
            ],
            "change": [
                {"phase": u.phase, "uri": uri(u.bucket, u.name), "size": u.size}
                for u in self.uploads
                if u.change
            ],
            "archive": [
                {
                    "uri": uri(self.composer_bucket, a.name),
                    "to": uri(a.archive_bucket, a.archive_name),
                    "reason": "overwritten" if a.overwritten else "removed",
                }
                for a in self.archive
            ],
            "missing_buckets": self.missing_buckets,
            "domains": domain_summary(self.runtime_config),
            "switched_off_domains": self.switched_off,
            "contracts": self.contracts.as_dict() if self.contracts else None,
            "contract_lines": self.contracts.lines() if self.contracts else [],
            "runtime_config": json.loads(self.runtime_config_bytes),
        }


def domain_summary(config: RuntimeConfig) -> dict[str, dict[str, Any]]:
    """Per domain the runtime config deploys: its contract version, owner and DAG ids (input order)."""
    return {
        name: {"version": domain.version, "owner": domain.owner, "dags": list(domain.dags)}
        for name, domain in config.domains.items()
    }


def _list(target: Target, bucket: str, prefix: str, missing: list[str]) -> dict[str, ObjInfo]:
    from google.api_core.exceptions import NotFound

    if bucket in missing:
        return {}
    try:
        return target.gcs.list(bucket, prefix)
    except NotFound:
        if not target.is_local:
            raise ConfigError(
                f"bucket gs://{bucket} of {target.env.name} does not exist "
                f"(deploy the infra: cdktf deploy {target.env.name})"
            ) from None
        missing.append(bucket)
        return {}


def archive_label(state: State, release: str, name: str) -> str | None:
    """The release a DAG object leaving the folder is archived under: the one live before this promotion.
    When a killed promotion of `release` already recorded its state, the objects it was archiving are
    listed in the state (`leaving`) with the release they came from (`replaced`)."""
    current = state.current
    if current is None:
        return None
    if current.release == release and name in current.leaving:
        return current.replaced
    return current.release


def archive_prefix(previous: str | None) -> str:
    """`archive/<UTC date>/<release that was live>/` (`unreleased` when none was recorded)."""
    return f"archive/{utc_now().strftime('%Y-%m-%d')}/{previous or 'unreleased'}/"


def compute(
    target: Target,
    store: ReleaseStore,
    published: PublishedRelease,
    state: State,
    *,
    contracts: ContractCheck | None = None,
    enforce_contracts: bool = True,
) -> Plan:
    """The plan of promoting `published` into `target` given the recorded `state`.

    `contracts`: a contract check already made (reused when it compared with the release `state`
    names live); `enforce_contracts`: refuse breaking changes not covered (a rollback only lists them)."""
    manifest = published.manifest
    if RUNTIME_CONFIG_OBJECT in manifest.by_path():
        raise ConfigError(
            f"release {manifest.release} contains {RUNTIME_CONFIG_OBJECT}, "
            "which the deployer renders per environment"
        )
    live_now = state.current.release if state.current else None
    if contracts is None or contracts.live_release != live_now or contracts.release != manifest.release:
        contracts = check_contracts(target, store, published, state)
    if enforce_contracts:
        contracts.refuse()
    missing: list[str] = []
    artifacts, composer = target.artifacts, target.composer
    scanned = [
        (artifacts, jobs_prefix(manifest)),
        (composer, dbt_prefix(manifest)),
        (composer, gx_prefix(manifest)),
        (composer, "dags/"),
    ]
    # The live release's prefix of each component that changes: its files are copy sources.
    live_components = state.current.components if state.current else {}
    sources: dict[str, tuple[str, str]] = {}
    for component, bucket, prefix in (
        ("jobs", artifacts, jobs_prefix(manifest)),
        ("dbt", composer, dbt_prefix(manifest)),
        ("gx", composer, gx_prefix(manifest)),
    ):
        old = live_components.get(component)
        if old and old != manifest.components[component]:
            sources[component] = (bucket, prefix.replace(manifest.components[component], old, 1))
    scanned += list(sources.values())
    # The release files the runtime config is rendered from: its jobs index and its domain declarations.
    inputs = [p for p in (JOBS_FILE, *domain_paths(manifest)) if p in manifest.by_path()]
    # Against GCS each request is a round trip: the listings and the render inputs go out together,
    # while the policy tags resolve (errors surface in the same order).
    with ThreadPoolExecutor(max_workers=len(scanned) + len(inputs)) as pool:
        pending = {key: pool.submit(_list, target, key[0], key[1], missing) for key in scanned}
        read = {p: pool.submit(store.read_file, published, p) for p in inputs}

        def read_file(path: str) -> bytes:
            return read[path].result() if path in read else store.read_file(published, path)

        tags = policy_tags.resolve(target.env, target.credentials)
        config = render(target.env, manifest, read_file, artifacts_bucket=target.artifacts, policy_tags=tags)
        switched_off = [name for name in release_domains(manifest, read_file) if name not in config.domains]
        listings = {key: future.result() for key, future in pending.items()}
    missing[:] = dict.fromkeys(missing)  # two listings of one missing bucket report it twice
    config_bytes = to_bytes(config)

    desired: list[tuple[Phase, str, str, str | None, int, str]] = []  # phase, bucket, name, source, size, md5
    # (bucket, md5, size) -> (bucket, name, generation) of the live release's copy in that bucket
    copies: dict[tuple[str, str, int], tuple[str, str, int]] = {}
    for prefix, component, bucket, phase in (
        (jobs_prefix(manifest), "jobs", artifacts, "artifacts"),
        (dbt_prefix(manifest), "dbt", composer, "data"),
        (gx_prefix(manifest), "gx", composer, "data"),
    ):
        for entry in manifest.component_files(component):
            rel = entry.path[len(component) + 1 :]
            desired.append((phase, bucket, prefix + rel, entry.path, entry.size, entry.md5))  # type: ignore[arg-type]
        if component in sources:
            for info in listings[sources[component]].values():
                if info.md5 is not None:
                    copies.setdefault((bucket, info.md5, info.size), (bucket, info.name, info.generation))
    desired.append(
        ("runtime-config", composer, RUNTIME_CONFIG_OBJECT, None, len(config_bytes), md5_b64(config_bytes))
    )
    for entry in manifest.component_files("dags"):
        desired.append(("dags", composer, entry.path, entry.path, entry.size, entry.md5))

    present: dict[tuple[str, str], ObjInfo] = {}
    for key, objs in listings.items():
        if key in sources.values():
            continue  # copy sources only: the live release's files, not this release's
        for name, info in objs.items():
            present[(key[0], name)] = info

    uploads: list[Upload] = []
    unchanged = 0
    wanted: set[tuple[str, str]] = set()
    overwritten: list[ObjInfo] = []
    for phase, bucket, name, source, size, md5 in desired:
        wanted.add((bucket, name))
        have = present.get((bucket, name))
        if have is not None and have.md5 == md5 and have.size == size:
            unchanged += 1
            continue
        replaces = None
        if have is not None and phase == "dags":
            overwritten.append(have)
            replaces = have.generation
        copy_from = None
        if source is not None and replaces is None:
            in_store = published.listing.get(source)
            copy_from = copies.get((bucket, md5, size)) if have is None and phase != "dags" else None
            if copy_from is None and in_store is not None:
                copy_from = (published.bucket, files_prefix(manifest.release) + source, in_store.generation)
        uploads.append(
            Upload(
                phase,
                bucket,
                name,
                source,
                size,
                md5,
                change=have is not None,
                replaces=replaces,
                copy_from=copy_from,
            )
        )

    previous = state.current.release if state.current else None
    leaving = sorted(
        (
            info
            for (bucket, name), info in present.items()
            if bucket == composer
            and name.startswith("dags/")
            and (bucket, name) not in wanted
            and name not in UNMANAGED_DAG_OBJECTS
        ),
        key=lambda info: info.name,
    )
    archive: list[ArchiveMove] = []
    listed: dict[str, dict[str, ObjInfo]] = {}
    # A DAG is overwritten only before the state record names this release (the DAGs go up before it),
    # so what it holds then came with the release the state names: the live one, never this one.
    for info, is_overwritten in [*((i, True) for i in overwritten), *((i, False) for i in leaving)]:
        if is_overwritten:
            label = state.current.release if state.current else None
        else:
            label = archive_label(state, manifest.release, info.name)
        prefix = archive_prefix(label)
        if prefix not in listed:
            listed[prefix] = _list(target, artifacts, prefix + "dags/", missing)
        dest = prefix + info.name
        have = listed[prefix].get(dest)
        copied = have is not None and have.md5 == info.md5 and have.size == info.size
        archive.append(
            ArchiveMove(info.name, info.generation, info.size, artifacts, dest, copied, is_overwritten)
        )
    extra = sorted(
        f"gs://{bucket}/{name}"
        for (bucket, name) in present
        if (bucket, name) not in wanted and not (bucket == composer and name.startswith("dags/"))
    )
    return Plan(
        env=target.env.name,
        release=manifest.release,
        digest=published.digest,
        previous=previous,
        artifacts_bucket=artifacts,
        composer_bucket=composer,
        uploads=uploads,
        unchanged=unchanged,
        archive=archive,
        extra=extra,
        runtime_config=config,
        runtime_config_bytes=config_bytes,
        missing_buckets=missing,
        switched_off=switched_off,
        contracts=contracts,
    )


def drift(target: Target, store: ReleaseStore, state: State) -> dict[str, Any]:
    """Compare the buckets with the manifest of the live release: added, changed, missing objects."""
    if state.current is None:
        raise ConfigError(
            f"nothing was promoted to {target.env.name} yet (no deployer/state.json): "
            "no release to compare with"
        )
    published = store.fetch(state.current.release)
    itself = ContractCheck(target.env.name, published.release, published.release, note="the live release")
    plan = compute(target, store, published, state, contracts=itself)
    missing = [f"gs://{u.bucket}/{u.name}" for u in plan.uploads if not u.change]
    changed = [f"gs://{u.bucket}/{u.name}" for u in plan.uploads if u.change]
    added = sorted(
        [f"gs://{plan.composer_bucket}/{a.name}" for a in plan.archive if not a.overwritten] + plan.extra
    )
    return {
        "env": target.env.name,
        "release": published.release,
        "drift": bool(missing or changed or added),
        "added": added,
        "changed": changed,
        "missing": missing,
        "unchanged": plan.unchanged,
    }
