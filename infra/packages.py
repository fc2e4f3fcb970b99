"""Python packages the platform installs on managed runtimes, read from the repo's pins at synth time.

- `locked_version(name)`: the version `uv.lock` resolved for a package, so what a Dataproc cluster
  installs is what the tests ran against (e.g. `google-cloud-secret-manager` for the Spark job).
- `composer_requirements(path)`: the PyPI packages of `composer/requirements.txt` (pinned to the lock by
  the composer tests) as Composer's `pypi_packages` (name -> `==version`). The file lists only what the
  Composer image lacks: packages the image already provides are named in its header comment, not
  listed. A listed requirement can still be marked as provided by the image with an inline comment
  containing `composer-image` (e.g. `pandas==2.2.3  # composer-image`): it is then left out, so
  Composer keeps the image's own build.
- `merge_packages(base, override)`: base packages overridden by name (PEP 503-normalized) by others.

Errors name the file and line (ConfigError, exit 2).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from infra import REPO_ROOT
from platform_model.errors import ConfigError

UV_LOCK = REPO_ROOT / "uv.lock"
COMPOSER_REQUIREMENTS = REPO_ROOT / "composer" / "requirements.txt"
IMAGE_MARKER = "composer-image"
"""Inline-comment marker of a requirement the Composer image already provides (left out)."""
_REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?P<spec>(==|>=|<=|~=|!=|<|>)\s*\S.*)$")


def normalize(name: str) -> str:
    """PEP 503 name: `Great_Expectations` -> `great-expectations`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


@cache
def locked_versions(path: Path) -> dict[str, str]:
    """Every package `path` (uv.lock) resolves, PEP 503 name -> version, read once per process (the app
    reads it early, while the bindings load: see `infra.bindings`). No default: the cache is keyed on
    the arguments as given, so every caller names the file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{_shown(path)}: lock file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{_shown(path)}: invalid TOML: {exc}") from None
    return {normalize(str(p["name"])): str(p["version"]) for p in data.get("package", []) if "version" in p}


def locked_version(name: str, lock: Path = UV_LOCK) -> str:
    """The version `lock` (uv.lock) resolved for package `name`; ConfigError when it is not locked."""
    version = locked_versions(lock).get(normalize(name))
    if version is None:
        raise ConfigError(f"{_shown(lock)}: package {name!r} is not locked (add it with `uv add {name}`)")
    return version


def composer_requirements(path: Path = COMPOSER_REQUIREMENTS) -> dict[str, str]:
    """`name==version` lines of `path` as Composer `pypi_packages`, minus those marked `composer-image`."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ConfigError(f"{_shown(path)}: file not found") from None
    packages: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        text, _, comment = line.partition("#")
        text = text.strip()
        if not text:
            continue
        match = _REQUIREMENT.match(text)
        if not match:
            raise ConfigError(f"{_shown(path)}:{number}: {text!r} is not a `name==version` requirement")
        if IMAGE_MARKER in comment:
            continue
        name = match.group("name")
        if normalize(name) in {normalize(n) for n in packages}:
            raise ConfigError(f"{_shown(path)}:{number}: {name} is listed twice")
        packages[name] = re.sub(r"\s+", "", match.group("spec"))
    return packages


def merge_packages(base: Mapping[str, str], override: Mapping[str, str]) -> dict[str, str]:
    """`base` updated with `override`; a name in both (PEP 503-normalized) takes `override`'s entry."""
    overridden = {normalize(n) for n in override}
    merged = {n: spec for n, spec in base.items() if normalize(n) not in overridden}
    merged.update(override)
    return dict(sorted(merged.items(), key=lambda item: normalize(item[0])))
