"""Contract evolution: what changed between two declarations of a domain, and whether it breaks readers.

Breaking (refused unless the major version is bumped and the release carries the migration it names):
a column removed or renamed (a rename is a removal and an addition), a type changed other than a
widening BigQuery does in place (INT64 -> NUMERIC or FLOAT64, NUMERIC -> FLOAT64), NULLABLE -> REQUIRED,
a REQUIRED column added to an existing table (BigQuery only adds NULLABLE columns; Pub/Sub readers of
the old schema cannot fill it), a PII tag removed or changed, the partitioning changed, a table renamed,
the topic renamed. Refused outright: a live domain dropped from the release (switch it off instead), a
version going down. Compatible (listed): a NULLABLE column added, REQUIRED -> NULLABLE, a widening, a
PII tag added, a section or mart added, descriptions and tests changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from platform_model.domain import Column, Domain

WIDENINGS = {("INT64", "NUMERIC"), ("INT64", "FLOAT64"), ("NUMERIC", "FLOAT64")}


@dataclass(frozen=True)
class Change:
    """One difference between the live declaration of a domain and the release's."""

    domain: str
    section: str
    column: str | None
    what: str
    breaking: bool

    def __str__(self) -> str:
        where = f"{self.section}.{self.column}" if self.column else self.section
        kind = "breaking" if self.breaking else "compatible"
        return f"domains/{self.domain}.yaml: {where}: {self.what} ({kind})"


def _version(version: str) -> tuple[int, int]:
    major_, minor = version.split(".", 1)
    return int(major_), int(minor)


def major(version: str) -> int:
    """The major of `MAJOR.MINOR`."""
    return _version(version)[0]


def _columns(old: list[Column], new: list[Column], domain: str, section: str) -> list[Change]:
    changes: list[Change] = []
    before, after = {c.name: c for c in old}, {c.name: c for c in new}
    for name, col in before.items():
        if name not in after:
            changes.append(Change(domain, section, name, "column removed (or renamed)", True))
            continue
        now = after[name]
        if now.type != col.type:
            widening = (col.type, now.type) in WIDENINGS
            changes.append(Change(domain, section, name, f"type {col.type} -> {now.type}", not widening))
        if now.mode != col.mode:
            breaking = now.mode == "REQUIRED" or "REPEATED" in (col.mode, now.mode)
            changes.append(Change(domain, section, name, f"mode {col.mode} -> {now.mode}", breaking))
        if now.pii != col.pii:
            if col.pii is None:
                changes.append(Change(domain, section, name, f"PII tag {now.pii!r} added", False))
            else:
                what = (
                    f"PII tag {col.pii!r} removed"
                    if now.pii is None
                    else f"PII tag {col.pii!r} -> {now.pii!r}"
                )
                changes.append(Change(domain, section, name, what, True))
    for name, col in after.items():
        if name not in before:
            required = col.mode == "REQUIRED"
            what = "REQUIRED column added" if required else f"column added ({col.mode})"
            changes.append(Change(domain, section, name, what, required))
    return changes


def compare(old: Domain, new: Domain) -> list[Change]:
    """Every contract change from `old` (live) to `new` (the release), in section order."""
    name = new.domain
    changes: list[Change] = []
    if old.event and new.event and old.event.topic != new.event.topic:
        changes.append(
            Change(name, "event.topic", None, f"topic {old.event.topic} -> {new.event.topic}", True)
        )
    if old.event and new.event and old.event.raw_table != new.event.raw_table:
        what = f"raw table {old.event.raw_table} -> {new.event.raw_table}"
        changes.append(Change(name, "event.raw_table", None, what, True))
    for section in ("staging", "rejects"):
        before, after = getattr(old, section), getattr(new, section)
        if before and after:
            if before.table != after.table:
                changes.append(
                    Change(name, f"{section}.table", None, f"table {before.table} -> {after.table}", True)
                )
            if before.partition_by != after.partition_by:
                what = f"partitioning {before.partition_by} -> {after.partition_by}"
                changes.append(Change(name, f"{section}.partition_by", None, what, True))
    old_sections, new_sections = old.sections(), new.sections()
    for section, columns in old_sections.items():
        if section not in new_sections:
            changes.append(Change(name, section, None, "section removed", True))
        else:
            changes.extend(_columns(columns, new_sections[section], name, section))
    for section in new_sections:
        if section not in old_sections:
            changes.append(Change(name, section, None, "section added", False))
    return changes


def refusals(
    live: Mapping[str, Domain], release: Mapping[str, Domain], release_paths: set[str]
) -> tuple[list[str], list[Change]]:
    """The one-line refusals for breaking changes not covered by a major bump with its migration,
    and every change (for the plan). A domain new to the environment has nothing to compare."""
    refused: list[str] = []
    every: list[Change] = []
    for name in sorted(set(live) - set(release)):
        refused.append(
            f"domains/{name}.yaml: the domain is live but the release drops it (its tables and topic would "
            "stay unmanaged): keep the file and switch it off per environment (domains.<name>.enabled: false)"
        )
    for name, new in release.items():
        old = live.get(name)
        if old is None:
            continue
        if _version(new.version) < _version(old.version):
            refused.append(f"domains/{name}.yaml: version: goes down from {old.version} to {new.version}")
        changes = compare(old, new)
        every.extend(changes)
        breaking = [c for c in changes if c.breaking]
        if not breaking:
            continue
        bumped = major(new.version) > major(old.version)
        migration = new.migration
        covered = bumped and migration is not None and migration.to_version == new.version
        if (
            covered
            and migration is not None
            and PurePosixPath(migration.path).as_posix() not in release_paths
        ):
            refused.append(
                f"domains/{name}.yaml: migration.path: {migration.path} is not in the release "
                f"(the migration to {new.version} must ship with it)"
            )
            continue
        if covered:
            continue
        why = (
            f"bump the major version (live {old.version}) and declare the migration "
            "(migration: {to_version, path})"
            if not bumped
            else f"version {new.version} needs a migration to {new.version} (migration: {{to_version, path}})"
        )
        refused.extend(f"{c} refused: {why}" for c in breaking)
    return refused, every
