"""Errors the command lines turn into one clear line and an exit code (never a traceback)."""

from __future__ import annotations


class PlatformError(Exception):
    """Base class: a failure the user can act on; printed as one line, never as a traceback."""

    exit_code = 2


class ConfigError(PlatformError):
    """Bad input: an environment or domain file, an argument or a release that cannot be used (exit 2)."""

    exit_code = 2


class Refused(PlatformError):
    """The request is well-formed but refused (missing approval, lock held, drift found): exit 1."""

    exit_code = 1
