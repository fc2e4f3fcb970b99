"""Package pins read at synth time: uv.lock versions and Composer's requirements file."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from deployer.errors import ConfigError
from infra.packages import locked_version


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
