"""`composer-packages`: the PyPI packages Composer would install are resolved offline against what the
environments' build preinstalls; a conflict names both packages and refuses `deployer check`."""

from __future__ import annotations

import importlib.metadata
import json
import shutil
from pathlib import Path

import pytest

from infra.packages import COMPOSER_REQUIREMENTS
from platform_model.composer_builds import TABLE, load_table
from platform_model.environment import ENVIRONMENTS_DIR, load_all
from policies.composer_packages import all_problems, package_problems
from policies.crosslayer import run_checks
from tests.policies.conftest import FIXTURES

BASE = FIXTURES / "crosslayer"


class Repo:
    """A writable copy of the environment files and composer/requirements.txt, side by side."""

    def __init__(self, root: Path) -> None:
        self.envs = root / "environments"
        self.requirements = root / "composer" / "requirements.txt"
        shutil.copytree(ENVIRONMENTS_DIR, self.envs)
        self.requirements.parent.mkdir()
        shutil.copyfile(COMPOSER_REQUIREMENTS, self.requirements)

    @property
    def build(self) -> str:
        (build,) = {e.composer.image_version for e in load_all(self.envs).values()}
        return build

    def require(self, line: str) -> None:
        with self.requirements.open("a", encoding="utf-8") as out:
            out.write(f"{line}\n")

    def env_packages(self, name: str, packages: str) -> None:
        """Give environment `name` a `composer.pypi_packages` flow mapping."""
        path = self.envs / f"{name}.yaml"
        text = path.read_text(encoding="utf-8")
        line = f"  image_version: {self.build}\n"
        assert line in text
        path.write_text(text.replace(line, f"{line}  pypi_packages: {packages}\n"), encoding="utf-8")

    def name_build(self, build: str) -> None:
        current = self.build
        for path in self.envs.glob("*.yaml"):
            path.write_text(path.read_text(encoding="utf-8").replace(current, build), encoding="utf-8")

    def problems(self) -> list[str]:
        return [str(p) for p in all_problems(load_all(self.envs), self.requirements)]


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path)


def _preinstalled(build: str) -> tuple[str, str]:
    """A package the table shows `build` preinstalling, and its version."""
    packages = load_table().builds[build].packages
    name = sorted(packages)[-1]
    return name, packages[name]


def _older(version: str) -> str:
    major, minor, *_ = version.split("+")[0].split(".")
    return f"{int(major) - 1}.{minor}.0" if int(major) > 0 else f"0.{max(int(minor) - 1, 0)}.0"


def test_the_repositorys_packages_resolve_beside_the_build() -> None:
    assert [str(p) for p in all_problems(load_all())] == []


def test_a_pinned_package_the_build_preinstalls_otherwise_is_refused_naming_both(repo: Repo) -> None:
    name, version = _preinstalled(repo.build)
    pinned = _older(version)
    repo.require(f"{name}=={pinned}")
    shown = str(repo.requirements)
    assert repo.problems() == [
        f"{shown}: {name}=={pinned} conflicts with {name} {version} preinstalled in {repo.build}"
    ]


def test_an_environment_files_package_is_refused_with_its_field(repo: Repo) -> None:
    name, version = _preinstalled(repo.build)
    pinned = _older(version)
    repo.env_packages("dev", f'{{{name}: "=={pinned}"}}')
    assert repo.problems() == [
        f"environments/dev.yaml: composer.pypi_packages: {name}=={pinned} conflicts with "
        f"{name} {version} preinstalled in {repo.build}"
    ]


def test_the_airflow_of_the_build_cannot_be_pinned_away(repo: Repo) -> None:
    airflow = load_table().builds[repo.build].airflow
    repo.require("apache-airflow==2.10.5")
    assert repo.problems() == [
        f"{repo.requirements}: apache-airflow==2.10.5 conflicts with apache-airflow {airflow}+composer "
        f"preinstalled in {repo.build}"
    ]


def test_packages_the_build_does_not_preinstall_and_allowed_versions_pass(repo: Repo) -> None:
    name, version = _preinstalled(repo.build)
    repo.require(f"{name}=={_older(version)}")
    # the environment file wins over the requirements file on a name in both (infra.composer)
    repo.env_packages("dev", f'{{{name}: ">={version.split("+")[0]}", not-preinstalled-anywhere: "==1.0"}}')
    repo.env_packages("staging", f'{{{name}: "=={version}"}}')
    repo.env_packages("prod", f'{{{name}: ""}}')
    assert repo.problems() == []


def test_local_environments_are_not_resolved(repo: Repo) -> None:
    name, version = _preinstalled(repo.build)
    repo.env_packages("local", f'{{{name}: "=={_older(version)}"}}')
    assert repo.problems() == []


def test_a_requirement_of_a_requirement_is_resolved_too(repo: Repo, tmp_path: Path) -> None:
    # dbt-core as installed here (the lock's) needs protobuf; a build preinstalling protobuf 1.0.0
    # cannot take it. The table is a copy with that one build, the metadata the installed one.
    table_path = tmp_path / "composer_builds.json"
    data = json.loads(TABLE.read_text(encoding="utf-8"))
    data["builds"] = {
        repo.build: {"released": "2026-11-20", "source": "test", "packages": {"protobuf": "1.0.0"}}
    }
    table_path.write_text(json.dumps(data), encoding="utf-8")
    dbt_core = importlib.metadata.version("dbt-core")
    repo.requirements.write_text(f"dbt-core=={dbt_core}\n", encoding="utf-8")
    (dev,) = [e for n, e in load_all(repo.envs).items() if n == "dev"]
    problems = [str(p) for p in package_problems(dev, repo.requirements, table=load_table(table_path))]
    assert problems, "dbt-core's protobuf requirement was not resolved"
    for line in problems:
        assert line.startswith(f"{repo.requirements}: dbt-core=={dbt_core} requires protobuf"), line
        assert line.endswith(f"which conflicts with protobuf 1.0.0 preinstalled in {repo.build}"), line


def test_an_unreadable_requirement_is_one_line(repo: Repo) -> None:
    repo.env_packages("dev", '{pandas: "==="}')
    assert repo.problems() == [
        "environments/dev.yaml: composer.pypi_packages: pandas '===' is not a valid requirement"
    ]


def test_deployer_check_runs_it_as_composer_packages(repo: Repo) -> None:
    name, version = _preinstalled(repo.build)
    repo.require(f"{name}=={_older(version)}")
    findings = run_checks(
        BASE / "release",
        environments_dir=repo.envs,
        stacks_dir=BASE / "stacks",
        only=["composer-packages"],
    )
    assert [(f.check, f.where) for f in findings] == [("composer-packages", str(repo.requirements))]
    assert f"conflicts with {name} {version} preinstalled in {repo.build}" in findings[0].message
