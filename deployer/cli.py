"""`deployer`: the command line. Each command group lives in its own module under deployer/commands."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from rich.console import Console

from deployer.errors import DeployerError

app = typer.Typer(
    name="deployer",
    help="Build, check, promote and audit releases of the data platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def _register() -> None:
    # Imported here so that each module stays importable on its own (and cheap: heavy imports happen
    # inside the commands, not at import time).
    from deployer.commands import COMMAND_MODULES

    for module in COMMAND_MODULES:
        module.register(app)


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point: run the CLI and turn every DeployerError into one line and its exit code."""
    _register()
    try:
        app(args=argv, standalone_mode=False)
    except DeployerError as exc:
        err_console.print(f"error: {exc}", markup=False)
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted", markup=False)
        sys.exit(1)
    except (typer.BadParameter, typer.Exit) as exc:  # pragma: no cover - typer handles most itself
        raise exc
    except KeyboardInterrupt:
        err_console.print("interrupted", markup=False)
        sys.exit(130)
    except Exception as exc:  # click usage errors arrive here with standalone_mode=False
        import click

        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        if isinstance(exc, click.ClickException):
            err_console.print(f"error: {exc.format_message()}", markup=False)
            sys.exit(2)
        raise
    sys.exit(0)
