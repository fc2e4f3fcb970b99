"""Command modules; each exposes `register(app)`. Add a module here to add a command group."""

from __future__ import annotations

from types import ModuleType

from deployer.commands import env_commands

COMMAND_MODULES: list[ModuleType] = [env_commands]
