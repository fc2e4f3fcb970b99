"""`deployer validate` and `deployer schema`: the environment files and their JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from deployer.config import ENVIRONMENTS_DIR, environment_names, json_schema, load_environment
from deployer.errors import ConfigError

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "environment.schema.json"


def schema_text() -> str:
    """The committed form of the JSON Schema (stable key order, trailing newline)."""
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def register(app: typer.Typer) -> None:
    """Add the commands of this module to `app`."""

    @app.command()
    def validate(
        envs: Annotated[
            list[str] | None, typer.Argument(help="Environments to check (default: all).")
        ] = None,
        directory: Annotated[
            Path, typer.Option("--dir", help="Folder of environment files.")
        ] = ENVIRONMENTS_DIR,
    ) -> None:
        """Validate environment files: one line per bad file naming the field and the problem, exit 2."""
        console = Console(highlight=False)
        names = envs or environment_names(directory)
        if not names:
            raise ConfigError(f"{directory}: no environment files (*.yaml)")
        errors: list[str] = []
        for name in names:
            try:
                env = load_environment(name, directory)
            except ConfigError as exc:
                errors.append(str(exc))
                continue
            console.print(f"ok  {name}: {env.platform} project {env.project} in {env.region}", markup=False)
        if errors:
            for line in errors[:-1]:
                Console(stderr=True, highlight=False, soft_wrap=True).print(f"error: {line}", markup=False)
            raise ConfigError(errors[-1])

    @app.command()
    def schema(
        write: Annotated[bool, typer.Option(help="Write schemas/environment.schema.json.")] = False,
    ) -> None:
        """Print (or write) the JSON Schema of the environment files."""
        text = schema_text()
        if write:
            SCHEMA_PATH.parent.mkdir(parents=True, exist_ok=True)
            SCHEMA_PATH.write_text(text, encoding="utf-8")
            typer.echo(f"wrote {SCHEMA_PATH}")
        else:
            typer.echo(text, nl=False)
