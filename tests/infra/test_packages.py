"""Package pins read at synth time: uv.lock versions and Composer's requirements file."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from infra import REPO_ROOT
from infra.packages import composer_requirements, locked_version, merge_packages
from infra.synth import input_files
from platform_model.errors import ConfigError


def test_locked_version_is_the_installed_one() -> None:
    version = importlib.metadata.version("google-cloud-secret-manager")
    assert locked_version("google-cloud-secret-manager") == version
    assert locked_version("Google_Cloud.Secret-Manager") == version  # PEP 503 names


def test_unlocked_package_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^uv.lock: package 'no-such-package' is not locked"):
        locked_version("no-such-package")
    bad = tmp_path / "uv.lock"
    bad.write_text("package = [\n")
    with pytest.raises(ConfigError, match=r"uv.lock: invalid TOML"):
        locked_version("x", bad)


def test_composer_requirements_are_the_files_pins() -> None:
    lines = [
        line.split("==")
        for line in (REPO_ROOT / "composer" / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert composer_requirements() == {name: f"=={version}" for name, version in lines}
    assert "great-expectations" in composer_requirements()


def test_requirements_marked_as_image_provided_are_left_out(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(
        "# header naming what the image has\n\n"
        "dbt-core==1.12.0\n"
        "pandas==2.2.3  # composer-image: the image's build is kept\n"
        "great-expectations == 1.24.1  # needed\n"
    )
    assert composer_requirements(path) == {"dbt-core": "==1.12.0", "great-expectations": "==1.24.1"}


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("dbt-core\n", "requirements.txt:1: 'dbt-core' is not a `name==version` requirement"),
        ("# x\n-r other.txt\n", "requirements.txt:2: '-r other.txt'"),
        ("dbt-core==1\ndbt_core==2\n", "requirements.txt:2: dbt_core is listed twice"),
    ],
)
def test_bad_requirement_is_one_clear_error(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        composer_requirements(path)
    assert where in str(err.value)
    assert "\n" not in str(err.value)


def test_environment_file_wins_the_merge() -> None:
    merged = merge_packages(
        {"dbt-core": "==1.12.0", "great-expectations": "==1.24.1"},
        {"Great_Expectations": "==1.25.0", "requests": ">=2"},
    )
    assert merged == {"dbt-core": "==1.12.0", "Great_Expectations": "==1.25.0", "requests": ">=2"}


def test_requirements_file_is_a_synth_input() -> None:
    paths = {path.resolve() for _, path in input_files(REPO_ROOT / "environments")}
    assert (REPO_ROOT / "composer" / "requirements.txt").resolve() in paths
