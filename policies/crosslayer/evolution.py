"""`contract-evolution` (with a previous release): a breaking change needs a major version and a migration.

A change is breaking when a column is removed (or renamed), retyped, made REQUIRED, added as
REQUIRED, or loses its PII tag. Each is refused unless the domain's major version went up and the
release carries the migration of that version, `domains/migrations/<domain>-<major>.yaml`, declaring
the change:

    changes:
      - {section: staging, column: amount_cents, change: removed}
      - {section: event, column: event_id, change: renamed, to: id}

`section` is a contract section as `Domain.sections()` names it (`event`, `staging`, `rejects`,
`marts.<name>`); `change` is one of CHANGES (`renamed` declares the removal and the added column).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from platform_model.domain import Domain
from platform_model.errors import ConfigError
from platform_model.manifest import MANIFEST_NAME, parse_manifest, verify_bytes
from platform_model.runtime import release_domains
from platform_model.yamlfile import parse_yaml
from policies.crosslayer.view import Finding, ReleaseView

CHECK = "contract-evolution"
MIGRATIONS_DIR = "domains/migrations"
CHANGES = ("added_required", "pii_dropped", "removed", "renamed", "required", "retyped")


def migration_path(domain: str, major: int) -> str:
    """The release path of a domain's migration to `major`."""
    return f"{MIGRATIONS_DIR}/{domain}-{major}.yaml"


def _version(domain: Domain) -> tuple[int, int]:
    major, minor = domain.version.split(".")
    return int(major), int(minor)


def previous_domains(previous: Path) -> tuple[str, dict[str, Domain]]:
    """(release id, domains) of the previous release, each file verified against its manifest."""
    manifest_path = previous / MANIFEST_NAME if previous.is_dir() else previous
    if not manifest_path.is_file():
        raise ConfigError(f"--previous: {previous} is not a manifest.json nor a release folder with one")
    manifest = parse_manifest(manifest_path.read_bytes(), str(manifest_path))
    files_dir = manifest_path.parent / "files"
    entries = manifest.by_path()

    def read(path: str) -> bytes:
        try:
            data = (files_dir / path).read_bytes()
        except OSError:
            raise ConfigError(
                f"--previous: {files_dir / path} is missing (the previous release's files)"
            ) from None
        return verify_bytes(entries[path], data, str(manifest_path))

    return manifest.release, release_domains(manifest, read)


def changes(old: Domain, new: Domain) -> list[tuple[str, str, str, str]]:
    """Breaking changes from `old` to `new` as (section, column, change, detail)."""
    out: list[tuple[str, str, str, str]] = []
    new_sections = new.sections()
    for section, old_cols in old.sections().items():
        now_by_name = {c.name: c for c in new_sections.get(section, [])}
        for col in old_cols:
            now = now_by_name.get(col.name)
            if now is None:
                out.append((section, col.name, "removed", f"was {col.type} {col.mode}"))
                continue
            if now.type != col.type or (now.mode == "REPEATED") != (col.mode == "REPEATED"):
                out.append((section, col.name, "retyped", f"{col.type} {col.mode} -> {now.type} {now.mode}"))
            elif col.mode == "NULLABLE" and now.mode == "REQUIRED":
                out.append((section, col.name, "required", "NULLABLE -> REQUIRED"))
            if col.pii is not None and now.pii is None:
                out.append((section, col.name, "pii_dropped", f"was tagged {col.pii!r}"))
    old_sections = old.sections()
    for section, new_cols in new_sections.items():
        old_names = {c.name for c in old_sections.get(section, [])}
        for col in new_cols:
            if col.name not in old_names and col.mode == "REQUIRED":
                out.append((section, col.name, "added_required", f"new {col.type} REQUIRED column"))
    return out


def _declared(view: ReleaseView, rel: str) -> tuple[dict[tuple[str, str], set[str]], list[Finding]]:
    """((section, column) -> declared changes, problems) of the migration file `rel` (none if absent)."""
    declared: dict[tuple[str, str], set[str]] = {}
    if rel not in view.files:
        return declared, []
    shown = view.shown(rel)
    data: Any = parse_yaml(view.read(rel).decode("utf-8", errors="replace"), shown)
    entries = data.get("changes") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return declared, [Finding(CHECK, shown, "changes: expected a list")]
    problems: list[Finding] = []
    for i, change in enumerate(entries):
        ok = isinstance(change, dict) and all(
            isinstance(change.get(k), str) for k in ("section", "column", "change")
        )
        if not ok or change["change"] not in CHANGES:
            problems.append(
                Finding(
                    CHECK,
                    shown,
                    f"changes[{i}]: needs section, column and change (one of {', '.join(CHANGES)})",
                )
            )
            continue
        key = (change["section"], change["column"])
        if change["change"] == "renamed":
            if not isinstance(change.get("to"), str):
                problems.append(Finding(CHECK, shown, f"changes[{i}]: renamed needs `to`"))
                continue
            declared.setdefault(key, set()).add("removed")
            declared.setdefault((change["section"], change["to"]), set()).add("added_required")
        else:
            declared.setdefault(key, set()).add(change["change"])
    return declared, problems


def check_contract_evolution(view: ReleaseView, previous: Path) -> list[Finding]:
    """The `contract-evolution` findings of a release against the previous one."""
    previous_id, old_domains = previous_domains(previous)
    findings: list[Finding] = []
    for name, old in sorted(old_domains.items()):
        new = view.domains.get(name)
        where = view.domain_file(name)
        if new is None:
            findings.append(Finding(CHECK, where, f"domain {name!r} was removed since {previous_id}"))
            continue
        if _version(new) < _version(old):
            findings.append(Finding(CHECK, where, f"version went down: {old.version} -> {new.version}"))
        found = changes(old, new)
        if not found:
            continue
        old_major, new_major = _version(old)[0], _version(new)[0]
        bumped = new_major > old_major
        rel = migration_path(name, new_major if bumped else old_major + 1)
        declared, problems = _declared(view, rel) if bumped else ({}, [])
        findings += problems
        for section, column, change, detail in found:
            if change in declared.get((section, column), set()):
                continue
            bump = "" if bumped else f"bump the major version to {old_major + 1}.0 and "
            findings.append(
                Finding(
                    CHECK,
                    where,
                    f"{section}.{column}: {change.replace('_', ' ')} ({detail}) since {previous_id}: "
                    f"{bump}declare it in {view.shown(rel)} (change: {change}) or undo it",
                )
            )
    return findings
