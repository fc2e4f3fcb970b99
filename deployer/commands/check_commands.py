"""`deployer check`: the checks that span the layers (policies/crosslayer.py), for people and CI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from platform_model.errors import ConfigError, Refused

REPO_ROOT = Path(__file__).resolve().parents[2]


def release_files(release: Path | None) -> Path:
    """The folder to check: the source tree, or a release's `files/` (verified against its manifest)."""
    if release is None:
        return REPO_ROOT
    if release.is_file() and release.name == "manifest.json":
        release = release.parent
    if (release / "dags").is_dir() and not (release / "manifest.json").is_file():
        return release  # a release's files/ folder itself
    manifest_path = release / "manifest.json"
    if not manifest_path.is_file():
        raise ConfigError(f"--release: {release} is not a release (no manifest.json, no dags/)")
    from deployer.release import LocalRelease
    from platform_model.manifest import parse_manifest

    data = manifest_path.read_bytes()
    local = LocalRelease(release, parse_manifest(data, str(manifest_path)), data)
    for entry in local.manifest.files:
        local.read_verified(entry)  # Refused when a file was changed after the build
    return release / "files"


def _stacks() -> Path | None:
    try:
        from infra.synth import SynthError, ensure_synth
    except ImportError:  # pragma: no cover - a tree without infra
        return None
    try:
        return ensure_synth() / "stacks"
    except SynthError as exc:
        error = ConfigError(f"synth failed: {exc}")
        error.exit_code = exc.exit_code
        raise error from None


def register(app: typer.Typer) -> None:
    """Add `deployer check`."""

    @app.command()
    def check(
        release: Annotated[
            Path | None,
            typer.Option(help="A built release (its folder or manifest.json); default: the source tree."),
        ] = None,
        previous: Annotated[
            Path | None,
            typer.Option(help="The previous release (manifest.json or folder): checks contract evolution."),
        ] = None,
        only: Annotated[
            list[str] | None,
            typer.Option(help="Run only these checks (repeatable): pii-tags, spark-artifacts, ..."),
        ] = None,
        stacks_dir: Annotated[
            Path | None,
            typer.Option(
                help="Synthesized stacks (<stack>/cdk.tf.json); default: synth, then cdktf.out/stacks."
            ),
        ] = None,
    ) -> None:
        """Cross-layer checks: PII policy tags, Spark artifacts of the DAGs, contract evolution, schemas.

        One line per finding naming the file and the column, DAG or job; exit 1 on any finding.
        """
        from policies.crosslayer import CHECKS, find_stacks, format_findings, run_checks

        root = release_files(release)
        stacks = stacks_dir or _stacks()
        findings = run_checks(root, previous=previous, stacks_dir=stacks, only=only)
        for line in format_findings(findings):
            typer.echo(line)
        ran = [c for c in (only or CHECKS) if c != "contract-evolution" or previous is not None]
        found = find_stacks(stacks)
        scope = f"{'release ' + str(root.parent.name) if release else 'source tree'}; stacks: "
        scope += ", ".join(found) if found else "none synthesized (infra half of schema-agreement not run)"
        if previous is None and (only is None or "contract-evolution" in only):
            scope += "; contract-evolution not run (no --previous)"
        if findings:
            raise Refused(f"{len(findings)} cross-layer finding(s) ({', '.join(ran)}; {scope})")
        typer.echo(f"ok: {', '.join(ran)} ({scope})")
