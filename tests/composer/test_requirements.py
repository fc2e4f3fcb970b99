"""composer/requirements.txt pins what uv.lock resolved, so Composer runs what the tests ran."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

REQUIREMENTS = Path(__file__).resolve().parents[2] / "composer" / "requirements.txt"


def test_pins_equal_the_locked_versions() -> None:
    lines = [line for line in REQUIREMENTS.read_text().splitlines() if line and not line.startswith("#")]
    pins = [line.split("==") for line in lines]
    assert pins, "no packages listed"
    for name, version in pins:
        assert importlib.metadata.version(name) == version, name
