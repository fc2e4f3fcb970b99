"""What every cross-layer check reads: a release's files, its domains, the environments, and `Finding`.

A check looks at a release-shaped folder (`dags/`, `jobs/`, `dbt/`, `gx/`, `domains/`): a release's
`files/`, or a temporary view of a source tree with its Spark artifacts built exactly as a release
build builds them. The domains are read by the one contract parser (`platform_model.domain`), the
environments by the one environment model; nothing here parses either file itself.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from dataproc_jobs.build import build_tree
from platform_model import REPO_ROOT
from platform_model.domain import Domain, load_domains, resolve
from platform_model.environment import Environment
from platform_model.errors import ConfigError
from platform_model.manifest import (
    COMPONENTS,
    TOP_DIRS,
    GitInfo,
    Manifest,
    component_digest,
    file_entry,
    release_id_of,
)

# Where each release folder comes from in a source tree (what `deployer release build` collects).
SOURCE_DIRS = {"dags": "composer/dags", "dbt": "dbt", "gx": "gx", "domains": "domains"}
_NOT_RELEASED = shutil.ignore_patterns(
    "__pycache__", "*.pyc", "*.pyo", "target", "logs", "dbt_packages", ".user.yml", "runtime_config.json"
)


@dataclass(frozen=True)
class Finding:
    """One disagreement between layers: which check, which file, and what is wrong."""

    check: str
    """One of CHECKS."""
    where: str
    """The file the finding is about (release- or repository-relative), or a stack file."""
    message: str
    """What is wrong, naming the domain, column, DAG, job, suite or tag."""

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def shown_path(path: Path) -> str:
    """`path` relative to the repository when inside it, else as given (for messages)."""
    with contextlib.suppress(ValueError):
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    return str(path)


@dataclass
class ReleaseView:
    """A release-shaped folder with its domains, and the environments it is checked against."""

    root: Path
    """The folder holding dags/, jobs/, dbt/, gx/ and domains/."""
    from_source: bool
    """Whether it was made from a source tree (then DAG files are shown as composer/dags/...)."""
    domains: dict[str, Domain]
    """The release's domain declarations by name, as declared (no environment's overrides)."""
    envs: dict[str, Environment]
    env_dir: Path
    _deployed: dict[str, dict[str, Domain] | str] = field(default_factory=dict)

    def shown(self, rel: str) -> str:
        """How a finding names release path `rel` (the source path for a source tree)."""
        top, _, rest = rel.partition("/")
        if self.from_source and top in SOURCE_DIRS:
            return f"{SOURCE_DIRS[top]}/{rest}" if rest else SOURCE_DIRS[top] + "/"
        return rel

    def env_file(self, name: str) -> str:
        """The environment file of `name`, as findings name it."""
        return shown_path(self.env_dir / f"{name}.yaml")

    @cached_property
    def files(self) -> dict[str, Path]:
        """Release path -> file, for every file under the release's top folders."""
        out: dict[str, Path] = {}
        for top in TOP_DIRS:
            base = self.root / top
            for path in sorted(base.rglob("*")) if base.is_dir() else []:
                if path.is_file() and "__pycache__" not in path.parts:
                    out[path.relative_to(self.root).as_posix()] = path
        return out

    def read(self, rel: str) -> bytes:
        """The bytes of release file `rel`."""
        return self.files[rel].read_bytes()

    @cached_property
    def manifest(self) -> Manifest:
        """The manifest a release build would write for these files (its digests name the paths)."""
        entries = [file_entry(rel, path.read_bytes()) for rel, path in sorted(self.files.items())]
        return Manifest(
            release=release_id_of(entries),
            created="",
            builder="policies.crosslayer",
            git=GitInfo(commit=None, dirty=None),
            components={
                c: component_digest([e for e in entries if e.path.startswith(c + "/")], c) for c in COMPONENTS
            },
            files=entries,
        )

    def deployed(self, env: Environment) -> dict[str, Domain] | str:
        """The release's domains as `env` deploys them, or why they cannot be (a one-line reason)."""
        if env.name not in self._deployed:
            try:
                self._deployed[env.name] = resolve(env, self.domains)
            except ConfigError as exc:
                self._deployed[env.name] = str(exc)
        return self._deployed[env.name]

    def domain_file(self, name: str) -> str:
        """The release path of a domain's file."""
        return f"domains/{name}.yaml"


@contextlib.contextmanager
def release_folder(root: Path) -> Iterator[tuple[Path, Path | None]]:
    """(release-shaped folder, the source tree or None) for a release's files/ or a source tree.

    A source tree (with composer/dags) gets a temporary view: its DAGs, dbt project, GX suites and
    domain files copied in (without build output), and its Spark artifacts built by
    `python -m dataproc_jobs.build`, as a release build does.
    """
    root = root.resolve()
    if (root / "dags").is_dir():
        yield root, None
        return
    if not (root / "composer" / "dags").is_dir():
        raise ConfigError(f"{root}: neither a release's files/ (dags/) nor a source tree (composer/dags/)")
    with tempfile.TemporaryDirectory(prefix="crosslayer-release-") as tmp:
        view = Path(tmp)
        for name, src in SOURCE_DIRS.items():
            if (root / src).is_dir():
                shutil.copytree(root / src, view / name, ignore=_NOT_RELEASED)
        if (root / "dataproc_jobs" / "build.py").is_file():
            build_tree(root, view / "jobs")
        yield view, root


def load_view(folder: Path, source: Path | None, envs: dict[str, Environment], env_dir: Path) -> ReleaseView:
    """The view of a release-shaped folder; ConfigError when it has no (valid) domain files.

    The domains of a source tree are read where they are, so errors name the file people edit."""
    domains_dir = (source or folder) / "domains"
    if not domains_dir.is_dir():
        raise ConfigError(f"{domains_dir}: no such folder (a release declares its domains/<name>.yaml)")
    domains = load_domains(domains_dir)
    if not domains:
        raise ConfigError(f"{domains_dir}: no domain file (domains/<name>.yaml)")
    return ReleaseView(folder, source is not None, domains, envs, env_dir)
