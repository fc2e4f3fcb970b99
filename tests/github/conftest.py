"""Fixtures of the GitHub tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.github.helpers import FakeGitHub, serve_github


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    """GitHub's approvals API on loopback: set `.body` / `.status`, read `.requests`."""
    with serve_github() as fake:
        yield fake
