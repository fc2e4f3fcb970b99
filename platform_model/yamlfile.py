"""Reading the platform's own YAML files (environments, domains) defensively.

A file larger than `MAX_YAML_BYTES` is refused before parsing; YAML aliases are refused (an alias bomb
expands exponentially); a key given twice in one mapping is an error (YAML would silently keep the
last one); errors name the file and the line.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from platform_model.errors import ConfigError

MAX_YAML_BYTES = 256 * 1024


# libyaml's parser when PyYAML has it: the pure-Python one takes ~50 ms per environment file, most of a
# `deployer validate`. The constructor (what is built from the events, and the check below) is the same.
try:
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # a PyYAML built without libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]


class _UniqueKeyLoader(_SafeLoader):
    """SafeLoader refusing a key given twice in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str | int | float | bool) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, where: str) -> Any:
    """Parse YAML text safely; ConfigError naming `where` (a file name) and the line."""
    if "&" in text and "*" in text:
        try:
            for event in yaml.parse(text, Loader=yaml.SafeLoader):
                if isinstance(event, yaml.AliasEvent):
                    raise ConfigError(f"{where}: YAML aliases (*{event.anchor}) are not allowed here")
        except yaml.YAMLError:
            pass  # reported with its position below
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506  # nosec B506 (a SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}:" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if "maximum nesting depth" in problem:  # libyaml's words for what RecursionError says below
            problem = "nested too deeply"
        raise ConfigError(f"{where}:{line} invalid YAML: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{where}: invalid YAML: nested too deeply") from None


def load_yaml_mapping(path: Path) -> dict[str, Any]:
    """Read one YAML file whose top level is a mapping; ConfigError naming the file otherwise."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"{path}: is a folder, not a YAML file")
    size = info.st_size
    if size > MAX_YAML_BYTES:
        raise ConfigError(f"{path}: file is {size} bytes, larger than the {MAX_YAML_BYTES} allowed")
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    data = parse_yaml(text, str(path))
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def validation_message(where: str, exc: ValidationError) -> str:
    """One line from a pydantic error: `<where>: <dotted field>: <problem> (and N more)`."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    msg = err["msg"].removeprefix("Value error, ")
    return f"{where}: {loc}: {msg}{more}"
