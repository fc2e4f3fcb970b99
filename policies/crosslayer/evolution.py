"""`contract-evolution` (with a previous release): a breaking change needs a major version and a migration.

The rules are the core's (`platform_model.evolution`, the same the deployer's plan and promote apply
against what is live): a breaking change (a column removed or renamed, retyped other than a widening,
made REQUIRED, added as REQUIRED, a PII tag dropped, partitioning changed, a live domain dropped, a
version going down) is refused unless the domain's major version went up and its declaration names
the migration the release carries (`migration: {to_version, path}`: a dbt model, a backfill DAG or a
SQL file). CI runs this against the release live in prod.
"""

from __future__ import annotations

from pathlib import Path

from platform_model.domain import Domain
from platform_model.errors import ConfigError
from platform_model.evolution import refusals
from platform_model.manifest import MANIFEST_NAME, parse_manifest, verify_bytes
from platform_model.runtime import release_domains
from policies.crosslayer.view import Finding, ReleaseView

CHECK = "contract-evolution"


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


def check_contract_evolution(view: ReleaseView, previous: Path) -> list[Finding]:
    """The `contract-evolution` findings of a release against the previous one."""
    previous_id, old_domains = previous_domains(previous)
    refused, _ = refusals(old_domains, view.domains, set(view.files))
    findings = []
    for line in refused:
        where, _, what = line.partition(": ")
        name = where.removeprefix("domains/").removesuffix(".yaml")
        findings.append(Finding(CHECK, view.domain_file(name), f"{what} (since {previous_id})"))
    return findings
