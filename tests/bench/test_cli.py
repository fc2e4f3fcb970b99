"""CLI benchmark: a smoke run prints --help and validate against the storage-client floor."""

from __future__ import annotations

from bench import cli
from bench.table import Figure


def test_smoke_run() -> None:
    figures = cli.run(repeats=1)

    def named(prefix: str) -> Figure:
        (found,) = [f for f in figures if f.name.startswith(prefix)]
        return found

    floor = named("cli: floor")
    assert floor.value > named("cli: python -c pass").value > 0
    for name, limit in (
        ("cli: deployer --help", cli.HELP_MAX_RATIO),
        ("cli: deployer validate", cli.VALIDATE_MAX_RATIO),
    ):
        figure = named(name)
        assert figure.baseline == floor.value and figure.met is not None
        assert figure.speedup == figure.value / floor.value
        assert figure.target == f"<= {limit:g}x floor"
