"""`deployer lineage`: draw what a release declares, from Pub/Sub to the GX suites, per domain; with
`--env`, also what the environment's last runs observed (OpenLineage events) and the differences."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from platform_model.errors import ConfigError


def live_release_id(env_name: str) -> str:
    """The id of the release live in `env_name` (ConfigError when nothing is)."""
    from deployer.context import load_env, open_target
    from deployer.plan import live_release
    from deployer.state import read_state
    from deployer.store import ReleaseStore

    target = open_target(load_env(env_name))
    state, _generation = read_state(target.gcs, target.artifacts, target.env.name)
    live = live_release(ReleaseStore(target.gcs, target.store), state)
    if live is None:
        raise ConfigError(f"--env: nothing is live in {env_name}; give --release")
    return live.release


def default_events(env_name: str) -> Path:
    """Where the local Airflow of `env_name` (`deployer airflow start`) writes its OpenLineage events."""
    from deployer.airflow_local import state_file
    from deployer.lineage_observed import local_events

    events = local_events(env_name)
    if events is None:
        raise ConfigError(
            f"--events: no local Airflow was started for {env_name} ({state_file(env_name)}); "
            "give --events PATH"
        )
    return events


def register(app: typer.Typer) -> None:
    """Add the commands of this module to `app`."""

    @app.command()
    def lineage(
        release: Annotated[
            str | None,
            typer.Option("--release", help="A built release id (r-...); default with --env: the live one."),
        ] = None,
        env: Annotated[
            str | None,
            typer.Option(
                "--env", help="Also draw what this environment's last runs observed.", show_default=False
            ),
        ] = None,
        events: Annotated[
            Path | None,
            typer.Option(
                "--events",
                help="OpenLineage events (JSON lines file or folder); default: the env's local Airflow's.",
                show_default=False,
            ),
        ] = None,
        out: Annotated[Path, typer.Option("--out", help="Folder for the .mmd and .svg files.")] = Path(
            "demo-output"
        ),
    ) -> None:
        """Write the release's declared lineage (topic -> raw -> Spark -> staging -> dbt -> GX) as Mermaid and
        SVG: one picture of the platform and one per domain. With --env: the observed lineage beside it
        (lineage-observed.svg/.mmd) and the differences (lineage-observed.txt, printed)."""
        from deployer.lineage import write_lineage
        from deployer.release import load_local

        if release is None and env is None:
            raise ConfigError("--release: give a release id, or --env ENV for the one live there")
        if events is not None and env is None:
            raise ConfigError("--events: needs --env ENV (whose datasets the events name)")
        local = load_local(release or live_release_id(str(env)))
        files = local.path / "files"
        for path in write_lineage(files, out):
            typer.echo(f"wrote {path}")
        if env is None:
            return
        from deployer.lineage_observed import report, write_observed

        where = events or default_events(env)
        result = report(files, where, env)
        if result is None:
            typer.echo(f"no OpenLineage events at {where}: nothing observed to draw")
            return
        for path in write_observed(result, out):
            typer.echo(f"wrote {path}")
        findings = result.findings()
        for line in findings:
            typer.echo(line)
        typer.echo(
            f"observed: {result.observed.events} events, {len(result.observed.graph.edges)} edges; "
            f"{len(findings)} difference(s) with {local.path.name}; "
            f"{len(result.diff.not_run)} declared step(s) not run"
        )
