"""make-test step timing: the Makefile's exports, its recipes, pytest's durations section."""

from __future__ import annotations

from pathlib import Path

from bench import suite

DURATIONS = """\
============================= slowest 25 durations =============================
12.31s call     tests/deployer/test_crash.py::test_kill_at_every_phase[locked]
0.52s setup    tests/infra/test_stack.py::test_outputs
3.00s teardown tests/x.py::test_y
========================= 3 passed in 15.83s =========================
"""


def test_makefile_exports_are_expanded(tmp_path: Path) -> None:
    makefile = tmp_path / "Makefile"
    makefile.write_text(
        "TOOLS := $(CURDIR)/.tools\n"
        "export PATH := $(CURDIR)/bin:$(PATH)\n"
        "export FLAG := 1\n"
        "export WHERE := $(TOOLS)/x\n"
        "target:\n\texport NOT_THIS := 2\n"
    )
    env = suite.makefile_environ(makefile)
    assert env["PATH"].startswith(f"{tmp_path}/bin:")
    assert env["FLAG"] == "1"
    assert env["WHERE"] == f"{tmp_path}/.tools/x"
    assert "NOT_THIS" not in env or env["NOT_THIS"] != "2"


def test_recipes_come_from_the_real_makefile() -> None:
    lint = suite.recipe("lint")
    assert any("ruff check" in line for line in lint)
    assert any(" -m pytest" in line for line in suite.recipe("test"))


def test_slowest_parses_pytest_durations() -> None:
    assert suite.slowest(DURATIONS) == [
        ("tests/deployer/test_crash.py::test_kill_at_every_phase[locked]", "call", 12.31),
        ("tests/x.py::test_y", "teardown", 3.0),
        ("tests/infra/test_stack.py::test_outputs", "setup", 0.52),
    ]
