"""Errors the command line turns into one clear line and an exit code."""

from __future__ import annotations


class DeployerError(Exception):
    """Base class: a failure the user can act on; printed as one line, never as a traceback."""

    exit_code = 2


class ConfigError(DeployerError):
    """Bad input: an environment file, an argument or a release that cannot be used (exit 2)."""

    exit_code = 2


class Refused(DeployerError):
    """The request is well-formed but refused (missing approval, lock held, drift found): exit 1."""

    exit_code = 1
