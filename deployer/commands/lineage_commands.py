"""`deployer lineage`: draw what a release declares, from Pub/Sub to the GX suites, per domain."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the commands of this module to `app`."""

    @app.command()
    def lineage(
        release: Annotated[str, typer.Option("--release", help="A built release id (r-...).")],
        out: Annotated[Path, typer.Option("--out", help="Folder for the .mmd and .svg files.")] = Path(
            "demo-output"
        ),
    ) -> None:
        """Write the release's declared lineage (topic -> raw -> Spark -> staging -> dbt -> GX) as Mermaid and
        SVG: one picture of the platform and one per domain."""
        from deployer.lineage import write_lineage
        from deployer.release import load_local

        local = load_local(release)
        for path in write_lineage(local.path / "files", out):
            typer.echo(f"wrote {path}")
