"""Options and output helpers shared by the command modules (the commands stay thin)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

EnvOption = Annotated[
    str | None,
    typer.Option("--env", "-e", help="Environment name (default: $DEPLOYER_ENV).", show_default=False),
]
ReleaseOption = Annotated[str, typer.Option("--release", "-r", help="Release id, e.g. r-0123456789ab.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
AsOption = Annotated[
    str | None,
    typer.Option(
        "--as", help="Act as NAME (local platform only; default $USER). On GCP the credentials say who acts."
    ),
]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def out() -> Console:
    """Console for human output on stdout."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def emit_json(data: Any) -> None:
    """Print `data` as JSON on stdout."""
    typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
