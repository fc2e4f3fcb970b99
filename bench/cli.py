"""The CLI's fixed cost: `deployer --help` and `deployer validate` against importing the storage client.

    floor      `python -c "import google.cloud.storage"`: what any command that talks to GCS pays first
    --help     `python -m deployer --help`: registers every command, imports none of their code
    validate   `python -m deployer validate`: reads and validates every environment and domain file

Each runs `repeats` times (5 by default), interleaved so a busy machine weighs on all alike, and the
medians are compared: the goals are --help <= 1x the floor (it imports no Google client and no pydantic)
and validate <= 1.5x (it imports the models and reads the files, and nothing else).

    python -m bench.cli [--repeats 5] [--json]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.table import Figure, median, report

REPO_ROOT = Path(__file__).resolve().parent.parent
HELP_MAX_RATIO = 1.0
VALIDATE_MAX_RATIO = 1.5
DEFAULT_REPEATS = 5

COMMANDS: dict[str, list[str]] = {
    "python": [sys.executable, "-c", "pass"],
    "floor": [sys.executable, "-c", "import google.cloud.storage"],
    "help": [sys.executable, "-m", "deployer", "--help"],
    "validate": [sys.executable, "-m", "deployer", "validate"],
}


def _timed(cmd: list[str]) -> float:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    started = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
    )
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        raise RuntimeError(f"{' '.join(cmd[1:])} exited {proc.returncode}: {lines[-1] if lines else ''}")
    return seconds


def run(repeats: int = DEFAULT_REPEATS) -> list[Figure]:
    """Time every command of COMMANDS `repeats` times, interleaved; return the figures."""
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for cmd in COMMANDS.values():  # one untimed run each: the OS file cache, not the bench, warms up
        _timed(cmd)
    for _ in range(repeats):
        for name, cmd in COMMANDS.items():
            samples[name].append(_timed(cmd))
    med = {name: median(values) for name, values in samples.items()}
    floor = med["floor"]
    of = f"median of {repeats}"
    return [
        Figure(f"cli: python -c pass ({of})", med["python"], details={"samples": samples["python"]}),
        Figure(
            f"cli: floor, python -c 'import google.cloud.storage' ({of})",
            floor,
            details={"samples": samples["floor"]},
        ),
        Figure(
            f"cli: deployer --help ({of})",
            med["help"],
            baseline=floor,
            ratio=med["help"] / floor,
            target=f"<= {HELP_MAX_RATIO:g}x floor",
            met=med["help"] <= HELP_MAX_RATIO * floor,
            details={"samples": samples["help"]},
        ),
        Figure(
            f"cli: deployer validate ({of})",
            med["validate"],
            baseline=floor,
            ratio=med["validate"] / floor,
            target=f"<= {VALIDATE_MAX_RATIO:g}x floor",
            met=med["validate"] <= VALIDATE_MAX_RATIO * floor,
            details={"samples": samples["validate"]},
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.cli [--repeats N] [--json]`."""
    parser = argparse.ArgumentParser(prog="python -m bench.cli", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, help="runs of each command (medians)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        print("error: --repeats must be at least 1", file=sys.stderr)
        return 2
    figures = run(args.repeats)
    return report(figures, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
