"""`deployer check`: the checks that span the layers (policies/crosslayer.py), for people and CI."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from platform_model.errors import ConfigError, Refused

REPO_ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def import_crosslayer() -> Iterator[None]:
    """Imports inside it that fail (a cross-layer module that does not import) become one ConfigError
    line: the checks are then refused, never skipped."""
    try:
        yield
    except ImportError as exc:
        what = f"importing {exc.name}: " if exc.name else ""
        raise ConfigError(
            f"the cross-layer checks cannot be loaded: {_failing_module(exc)}: {what}"
            f"{type(exc).__name__}: {exc} (refusing to go on without them)"
        ) from None


def _failing_module(exc: BaseException) -> str:
    """The module of ours whose import failed: the innermost module body of the repository."""
    found = "an import"
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        path = Path(code.co_filename)
        inside = path.is_relative_to(REPO_ROOT) and not path.is_relative_to(REPO_ROOT / ".venv")
        if inside and code.co_name == "<module>":
            found = path.relative_to(REPO_ROOT).as_posix()
        tb = tb.tb_next
    return found


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


def _stacks() -> Path:
    with import_crosslayer():
        from infra.synth import SynthError, ensure_synth
    try:
        return ensure_synth() / "stacks"
    except SynthError as exc:
        error = ConfigError(f"synth failed: {exc}")
        error.exit_code = exc.exit_code
        raise error from None


def live_previous(env_name: str, folder: Path) -> tuple[Path | None, str]:
    """The release live in `env_name`, read through its release store (its manifest checked against the
    digest the state recorded, each file against the manifest) into `folder` as a release folder
    holding its manifest and domain files; (None, why) when nothing is live there."""
    from google.api_core.exceptions import NotFound

    from deployer.context import load_env, open_target
    from deployer.plan import live_release
    from deployer.state import read_state
    from deployer.store import ReleaseStore
    from platform_model.manifest import MANIFEST_NAME, domain_paths

    target = open_target(load_env(env_name))
    try:
        state, _generation = read_state(target.gcs, target.artifacts, target.env.name)
    except NotFound:
        raise ConfigError(
            f"--previous-env: bucket gs://{target.artifacts} of {env_name} does not exist (deploy the infra)"
        ) from None
    store = ReleaseStore(target.gcs, target.store)
    live = live_release(store, state)
    if live is None:
        return None, f"nothing live in {env_name} to compare with"
    (folder / MANIFEST_NAME).write_bytes(live.manifest_bytes)
    for path in domain_paths(live.manifest):
        dest = folder / "files" / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(store.read_file(live, path))
    return folder, f"against {live.release} live in {env_name}"


def observed_lineage(root: Path, events: Path | None, env_name: str) -> tuple[list[str], str]:
    """The lineage findings (observed against declared, `deployer.lineage_observed`) and what was compared."""
    from deployer.lineage_observed import local_events, report

    if events is None:  # the events of the env's local Airflow, when one ran there
        events = local_events(env_name)
        if events is None or not events.exists():
            return [], f"lineage not compared (no --lineage-events, no local Airflow events of {env_name})"

    result = report(root, events, env_name)
    if result is None:
        return [], f"lineage: no OpenLineage events at {events}, nothing observed (no finding)"
    found = result.findings()
    return found, f"lineage: {result.observed.events} events of {env_name} against the declarations"


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
        previous_env: Annotated[
            str | None,
            typer.Option(
                "--previous-env",
                help="Check contract evolution against the release live in this environment (read "
                "through its release store; needs read access there).",
                show_default=False,
            ),
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
        lineage_events: Annotated[
            Path | None,
            typer.Option(
                "--lineage-events",
                help="OpenLineage events of the last runs (JSON lines file or folder): each difference with "
                "the declared lineage is a finding. Default: those of the local Airflow of --lineage-env, "
                "when one ran.",
                show_default=False,
            ),
        ] = None,
        lineage_env: Annotated[
            str, typer.Option("--lineage-env", help="The environment the events come from (its datasets).")
        ] = "local",
    ) -> None:
        """Cross-layer checks: PII policy tags, Spark artifacts of the DAGs, contract evolution, schemas,
        and the observed lineage (OpenLineage events) against the declared one when there are events.

        One line per finding naming the file and the column, DAG or job; exit 1 on any finding.
        """
        with import_crosslayer():
            from policies.crosslayer import CHECKS, find_stacks, format_findings, run_checks

        if previous is not None and previous_env is not None:
            raise ConfigError("--previous and --previous-env: give one release to compare with, not both")
        selected = list(only or CHECKS)
        root = release_files(release)
        evolution = "contract-evolution" in selected
        with tempfile.TemporaryDirectory(prefix="deployer-check-live-") as tmp:
            against = "no --previous"
            if previous_env is not None and evolution:
                previous, against = live_previous(previous_env, Path(tmp))
            elif previous is not None:
                against = f"against {previous}"
            needs_stacks = "schema-agreement" in selected
            stacks = stacks_dir or (_stacks() if needs_stacks else None)
            findings = run_checks(root, previous=previous, stacks_dir=stacks, only=only)
        for line in format_findings(findings):
            typer.echo(line)
        lineage_findings, lineage_scope = observed_lineage(root, lineage_events, lineage_env)
        for line in lineage_findings:
            typer.echo(line)
        ran = [c for c in selected if c != "contract-evolution" or previous is not None]
        scope = f"{'release ' + str(root.parent.name) if release else 'source tree'}"
        if needs_stacks:
            found = find_stacks(stacks)
            scope += "; stacks: "
            scope += (
                ", ".join(found) if found else "none synthesized (infra half of schema-agreement not run)"
            )
        if evolution:
            scope += (
                f"; contract-evolution {against}"
                if previous is not None
                else (f"; contract-evolution not run ({against})")
            )
        scope += f"; {lineage_scope}"
        if findings or lineage_findings:
            count = len(findings) + len(lineage_findings)
            raise Refused(f"{count} cross-layer finding(s) ({', '.join(ran)}; {scope})")
        typer.echo(f"ok: {', '.join(ran)} ({scope})")
