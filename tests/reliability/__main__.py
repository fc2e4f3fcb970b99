"""`python -m tests.reliability` (`make reliability`): the full reliability suite, then its table of figures.

    python -m tests.reliability [--kills 100] [--racers 8] [--rounds 3] [--window 4] [--deadline 3]
                                [--only crash,concurrency,approvals,badinput,faults] [--seed 1]

Exit 0 when no section found a violation, 1 otherwise, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

from tests.reliability.harness import Section

SECTIONS = ("crash", "concurrency", "approvals", "badinput", "faults")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {message}\n")
        raise SystemExit(2)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def run_sections(emulator_url: str, workdir: Path, args: argparse.Namespace) -> list[Section]:
    """Run the chosen sections, each in a world of its own (its own buckets)."""
    from tests.reliability import approvals, badinput, concurrency, crash, faults
    from tests.reliability.harness import World

    out: list[Section] = []
    for name in args.only:
        print(f"== {name}", flush=True)
        if name == "crash":
            world = World.create(emulator_url, workdir / name)
            out.append(crash.run(world, args.kills, seed=args.seed))
        elif name == "concurrency":
            world = World.create(emulator_url, workdir / name, n_releases=3, overrides=concurrency.OVERRIDES)
            out.append(concurrency.run(world, args.racers, rounds=args.rounds, seed=args.seed))
        elif name == "approvals":
            out.append(approvals.run(World.create(emulator_url, workdir / name, n_releases=4)))
        elif name == "badinput":
            out.append(badinput.run(World.create(emulator_url, workdir / name)))
        else:
            world = World.create(emulator_url, workdir / name, n_releases=4)
            out.append(faults.run(world, window=args.window, deadline=args.deadline))
    return out


def table(sections: list[Section]) -> str:
    """The figures, one row per section."""
    rows = [("section", "attempts", "killed", "survived/converged", "violations", "seconds")]
    for s in sections:
        rows.append(
            (s.name, str(s.attempts), str(s.killed), str(s.survived), str(len(s.violations)), str(s.seconds))
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the suite and print the table; see the module docstring."""
    parser = _Parser(prog="python -m tests.reliability", description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=_positive, default=100, help="crash attempts (SIGKILLed promotions)")
    parser.add_argument("--racers", type=_positive, default=8, help="concurrent promoters per environment")
    parser.add_argument("--rounds", type=_positive, default=3, help="held-lock race rounds")
    parser.add_argument("--window", type=_positive, default=4, help="requests per passing fault burst")
    parser.add_argument("--deadline", type=float, default=3.0, help="DEPLOYER_GCS_RETRY_DEADLINE for faults")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    args = parser.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in args.only if s not in SECTIONS]
    if unknown or not args.only:
        parser.error(f"--only: unknown section(s) {unknown} (known: {', '.join(SECTIONS)})")
    if not 0 < args.deadline <= 600:
        parser.error("--deadline must be between 0 and 600 seconds")

    from deployer.emulator import Emulator

    with Emulator() as emulator, tempfile.TemporaryDirectory(prefix="reliability-") as tmp:
        sections = run_sections(emulator.url, Path(tmp), args)
    print()
    print(table(sections))
    for s in sections:
        for key, value in s.notes.items():
            print(f"  {s.name}: {key}: {value}")
    violations = [f"{s.name}: {v}" for s in sections for v in s.violations]
    print(f"\nviolations: {len(violations)}")
    for v in violations:
        print(f"  {v}")
    return 1 if violations else 0


if __name__ == "__main__":
    raise SystemExit(main())
