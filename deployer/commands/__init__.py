"""Command modules; each exposes `register(app)`. Add a module here to add a command group."""

from __future__ import annotations

from types import ModuleType

from deployer.commands import (
    airflow_commands,
    approval_commands,
    check_commands,
    env_commands,
    lineage_commands,
    promote_commands,
    release_commands,
)

COMMAND_MODULES: list[ModuleType] = [
    env_commands,
    release_commands,
    promote_commands,
    approval_commands,
    lineage_commands,
    check_commands,
    airflow_commands,
]
