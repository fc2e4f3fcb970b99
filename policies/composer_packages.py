"""Composer's PyPI packages resolved offline against what the environment's build preinstalls.

Composer installs `composer/requirements.txt` merged with the environment file's
`composer.pypi_packages` (the file wins on a name in both; `infra.composer.pypi_packages`) on top of the
packages its build preinstalls, and refuses an update it cannot resolve, 30 to 60 minutes later. This
resolves the same set here, before any apply, against the build's preinstalled versions from the
committed table (`platform_model.composer_builds`):

- a requirement whose specifier excludes the version the build preinstalls is a conflict, named with
  both packages (`pandas==1.5.3 conflicts with pandas 2.2.3 preinstalled in composer-3-airflow-...`);
- a requirement on a package the build does not preinstall is fine (Composer installs it). Its own
  requirements are resolved the same way, transitively, from the metadata of the distribution installed
  here, when the version installed here is one the requirement allows (the lock pins what Composer
  gets): `dbt-core==1.12.0 requires protobuf>=6 ...` conflicts with an older preinstalled protobuf.

The table's lists may be partial (`ComposerBuild.complete`): a package a partial list does not show is
unknown and taken as not preinstalled, so the check is as strong as the table (refresh it, see
`platform_model.composer_builds`). Requirement markers are evaluated for the Python Composer 3 runs.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from infra.packages import COMPOSER_REQUIREMENTS, composer_requirements, normalize
from platform_model import REPO_ROOT
from platform_model.composer_builds import BuildTable, ComposerBuild, load_table, require_build
from platform_model.environment import Environment

# Composer 3 runs Python 3.11 (composer-versioning-overview: 3.11.8) on Linux.
COMPOSER_MARKERS = {
    "python_version": "3.11",
    "python_full_version": "3.11.8",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "os_name": "posix",
    "platform_machine": "x86_64",
}
MAX_DEPTH = 8
"""How deep requirements of requirements are followed (a dependency chain longer than this is rare)."""

Requires = Callable[[str], tuple[str, tuple[str, ...]] | None]
"""name -> (version installed here, its Requires-Dist lines), or None when it is not installed here."""


@dataclass(frozen=True)
class PackageProblem:
    """A requirement Composer cannot install beside the build, or one that cannot be read."""

    where: str
    """The file that asks for it: `composer/requirements.txt` or `environments/<env>.yaml`."""
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@cache
def installed_requires(name: str) -> tuple[str, tuple[str, ...]] | None:
    """The version of `name` installed in this interpreter and its requirements; None if not installed."""
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return None
    return dist.version, tuple(dist.requires or ())


def _shown(path: Path) -> str:
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def _applies(requirement: Requirement, extras: Iterable[str]) -> bool:
    if requirement.marker is None:
        return True
    marker: Marker = requirement.marker
    return any(marker.evaluate({**COMPOSER_MARKERS, "extra": extra}) for extra in ("", *extras))


def _allows(requirement: Requirement, version: str) -> bool | None:
    """Whether `requirement` accepts `version`; None when the version cannot be read."""
    try:
        return requirement.specifier.contains(Version(version), prereleases=True)
    except InvalidVersion:
        return None


def _resolve(
    root: Requirement,
    build: ComposerBuild,
    requires: Requires,
) -> list[tuple[list[Requirement], str]]:
    """(requirement chain from `root`, preinstalled version) for every conflict under `root`."""
    found: list[tuple[list[Requirement], str]] = []
    seen: set[str] = set()

    def walk(chain: list[Requirement]) -> None:
        requirement = chain[-1]
        name = normalize(requirement.name)
        preinstalled = build.preinstalled(name)
        if preinstalled is not None:
            if _allows(requirement, preinstalled) is False:
                found.append((chain, preinstalled))
            return  # the build's own packages agree with each other
        if name in seen or len(chain) > MAX_DEPTH:
            return
        seen.add(name)
        installed = requires(name)
        if installed is None or _allows(requirement, installed[0]) is not True:
            return  # not installed here at a version it allows: its requirements are not known
        for line in installed[1]:
            try:
                dependency = Requirement(line)
            except InvalidRequirement:
                continue
            if _applies(dependency, requirement.extras):
                walk([*chain, dependency])

    walk([root])
    return found


def requested(env: Environment, requirements: Path = COMPOSER_REQUIREMENTS) -> list[tuple[str, str, str]]:
    """(where, name, spec) of every package Composer installs for `env`: the file's, then the env's."""
    from_file = composer_requirements(requirements)
    overridden = {normalize(n) for n in env.composer.pypi_packages}
    shown = _shown(requirements)
    packages = [(shown, n, s) for n, s in from_file.items() if normalize(n) not in overridden]
    packages += [(env.file, n, s) for n, s in env.composer.pypi_packages.items()]
    return packages


def package_problems(
    env: Environment,
    requirements: Path = COMPOSER_REQUIREMENTS,
    *,
    table: BuildTable | None = None,
    requires: Requires = installed_requires,
) -> list[PackageProblem]:
    """Every package of `env` that conflicts with its build's preinstalled packages (empty: none)."""
    try:
        build = require_build(env.composer.image_version, table or load_table())
    except ValueError as exc:
        return [PackageProblem(env.file, f"composer.image_version: {exc}")]
    problems: list[PackageProblem] = []
    for where, name, spec in requested(env, requirements):
        field = "composer.pypi_packages: " if where == env.file else ""
        try:
            root = Requirement(f"{name}{spec}")
        except InvalidRequirement:
            problems.append(PackageProblem(where, f"{field}{name} {spec!r} is not a valid requirement"))
            continue
        for chain, preinstalled in _resolve(root, build, requires):
            conflict = chain[-1]
            clash = f"conflicts with {conflict.name} {preinstalled} preinstalled in {build.image_version}"
            if len(chain) == 1:
                message = f"{root} {clash}"
            else:
                through = f" (through {', '.join(_bare(r) for r in chain[1:-1])})" if len(chain) > 2 else ""
                message = f"{root} requires {_bare(conflict)}{through}, which {clash}"
            problems.append(PackageProblem(where, field + message))
    return problems


def _bare(requirement: Requirement) -> str:
    """`name<spec>` without its marker (the marker was evaluated already)."""
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    return f"{requirement.name}{extras}{requirement.specifier}"


def all_problems(
    envs: Mapping[str, Environment],
    requirements: Path = COMPOSER_REQUIREMENTS,
    *,
    table: BuildTable | None = None,
    requires: Requires = installed_requires,
) -> list[PackageProblem]:
    """`package_problems` of every GCP environment (those Composer runs), each line once.

    ConfigError (exit 2) when `requirements` cannot be read.
    """
    seen: dict[str, PackageProblem] = {}
    for env in envs.values():
        if env.platform != "gcp":
            continue
        for problem in package_problems(env, requirements, table=table, requires=requires):
            seen.setdefault(str(problem), problem)
    return list(seen.values())
