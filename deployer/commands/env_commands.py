"""`deployer validate` and `deployer schema`: the environment files, the domains and the JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from platform_model.errors import ConfigError

if TYPE_CHECKING:
    from platform_model.domain import Domain
    from platform_model.environment import Environment

# The models (pydantic) and rich are imported by the commands that use them: `deployer --help` and the
# other commands do not pay for them.

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "environment.schema.json"


def schema_text() -> str:
    """The committed form of the JSON Schema (stable key order, trailing newline)."""
    from platform_model.environment import json_schema

    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def _load_domains(directory: Path, errors: list[str]) -> dict[str, Domain] | None:
    """The domains of `directory`, or None (the problem appended to `errors`)."""
    from platform_model.domain import load_domains

    try:
        domains = load_domains(directory)
    except ConfigError as exc:
        errors.append(str(exc))
        return None
    if not domains:
        errors.append(f"{directory}: no domain files (*.yaml)")
        return None
    return domains


def _environment(arg: str, directory: Path) -> Environment:
    """The environment `arg` names: a file path (`environments/dev.yaml`, anything with a `/`) is read
    as it is; a name is looked up in `directory`. ConfigError naming the file otherwise."""
    from platform_model.environment import load_environment, load_environment_file

    if not (arg.endswith((".yaml", ".yml")) or "/" in arg):
        return load_environment(arg, directory)
    path = Path(arg)
    if path.suffix not in ("", ".yaml"):  # the deployer reads environments/<name>.yaml, nothing else
        raise ConfigError(f"{path}: not an environment file (they are named <name>.yaml)")
    return load_environment_file(path)


def register(app: typer.Typer) -> None:
    """Add the commands of this module to `app`."""

    @app.command()
    def validate(
        envs: Annotated[
            list[str] | None,
            typer.Argument(
                help="Environments to check, by name or as a file path (default: all).",
                show_default=False,
            ),
        ] = None,
        directory: Annotated[
            Path | None,
            typer.Option(
                "--dir", help="Folder of environment files (default: environments/).", show_default=False
            ),
        ] = None,
        domains_dir: Annotated[
            Path | None,
            typer.Option(
                "--domains-dir", help="Folder of domain files (default: domains/).", show_default=False
            ),
        ] = None,
    ) -> None:
        """Validate the environment files and the domains each deploys (the domain files, the environment's
        overrides of them, their policy tags): one line per problem naming the file and the field, exit 2."""
        from rich.console import Console

        from platform_model.domain import DOMAINS_DIR, resolve
        from platform_model.environment import ENVIRONMENTS_DIR, environment_names

        directory = directory or ENVIRONMENTS_DIR
        domains_dir = domains_dir or DOMAINS_DIR
        console = Console(highlight=False, soft_wrap=True)
        names = envs or environment_names(directory)
        if not names:
            raise ConfigError(f"{directory}: no environment files (*.yaml)")
        errors: list[str] = []
        domains = _load_domains(domains_dir, errors)
        for name in names:
            try:
                env = _environment(name, directory)
                deployed = resolve(env, domains) if domains is not None else None
            except ConfigError as exc:
                errors.append(str(exc))
                continue
            line = f"ok  {name}: {env.platform} project {env.project} in {env.region}"
            if deployed is not None and domains is not None:
                line += f"; domains: {', '.join(deployed) or 'none'}"
                off = [d for d in domains if d not in deployed]
                if off:
                    line += f" (switched off: {', '.join(off)})"
            console.print(line, markup=False)
        if errors:
            for line in errors[:-1]:
                Console(stderr=True, highlight=False, soft_wrap=True).print(f"error: {line}", markup=False)
            raise ConfigError(errors[-1])
        count = len(domains or {})
        console.print(
            f"validated {len(names)} environment file{'s' if len(names) != 1 else ''} "
            f"and {count} domain{'s' if count != 1 else ''}",
            markup=False,
        )

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
