"""`deployer`: the command line. Each command group lives in its own module under deployer/commands."""

from __future__ import annotations

import signal
import sys
from enum import StrEnum
from typing import Annotated, NoReturn

import click
import typer

from platform_model.errors import PlatformError

try:
    from typer._click.exceptions import ClickException as _TyperClickException
except ImportError:  # typer releases that use click itself
    _TyperClickException = click.ClickException  # type: ignore[assignment, misc]

app = typer.Typer(
    name="deployer",
    help="Build, check, promote and audit releases of the data platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _error(line: str) -> None:
    """Print one line on stderr, as it is (no markup): rich is imported only when a line is printed."""
    from rich.console import Console

    Console(stderr=True, highlight=False, soft_wrap=True).print(line, markup=False)


class LogFormat(StrEnum):
    """Values of --log-format."""

    text = "text"
    json = "json"


@app.callback()
def _global_options(
    log_format: Annotated[
        LogFormat,
        typer.Option(
            "--log-format", help="text (for people) or json (one structured line per action on stderr)."
        ),
    ] = LogFormat.text,
) -> None:
    """Build, check, promote and audit releases of the data platform."""
    from deployer import log

    log.set_format("json" if log_format is LogFormat.json else "text")


def _terminate(signum: int, _frame: object) -> None:
    # SIGTERM unwinds like Ctrl-C, so `finally` blocks run (a promotion releases its lock).
    raise KeyboardInterrupt


_registered = False


def _register() -> None:
    # Imported here so that each module stays importable on its own. Cheap: the command modules import
    # only typer at the top, and each command imports what it uses when it runs (pydantic models, Google
    # clients, rich, the release and promotion code), so `deployer --help` loads none of them
    # (tests/deployer/test_cli_imports.py). Once per process: tests call main() many times.
    global _registered
    if _registered:
        return
    from deployer.commands import COMMAND_MODULES

    for module in COMMAND_MODULES:
        module.register(app)
    _registered = True


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point: run the CLI and turn every PlatformError into one line and its exit code."""
    try:
        _register()
    except ImportError as exc:
        # A command module (or what it imports at the top, e.g. the cross-layer checks) is broken: no
        # command may run without it, and none silently skips it.
        _error(f"error: the deployer cannot load {exc.name or 'a module'}: {exc}")
        sys.exit(2)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        # With standalone_mode=False click returns (not raises) the code of a `typer.Exit(code)`.
        code = app(args=argv, standalone_mode=False)
    except PlatformError as exc:
        _error(f"error: {exc}")
        sys.exit(exc.exit_code)
    except typer.Abort:
        _error("aborted")
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except ImportError as exc:
        # The commands import what they use when they run: a module they need that does not import is
        # one line too, as at registration.
        _error(f"error: the deployer cannot load {exc.name or 'a module'}: {exc}")
        sys.exit(2)
    except KeyboardInterrupt:
        _error("interrupted")
        sys.exit(130)
    except Exception as exc:  # click usage errors arrive here with standalone_mode=False
        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        # typer vendors its own click: its usage errors are not click.ClickException instances.
        if isinstance(exc, click.ClickException | _TyperClickException):
            _error(f"error: {exc.format_message()}")
            sys.exit(2)
        from deployer.gcs import describe_error

        line = describe_error(exc)
        if line is not None:
            _error(f"error: {line}")
            sys.exit(2)
        raise
    sys.exit(code if isinstance(code, int) else 0)
