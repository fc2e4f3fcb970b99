"""`python -m bench` (what `make bench` runs): every benchmark, one table.

    python -m bench [--only synth,promotion,dag_parse,cli,release] [--sizes 100,1000,5000] [--delay-ms 30]
                    [--repeats N] [--synth-domains 10] [--with-suite] [--json] [--no-fail]

Progress goes to stderr; stdout gets the table (or, with --json, the figures as JSON). Bad arguments:
one `error:` line and exit code 2. A target not met ends the run with exit code 1 and a line on stderr
naming what missed it, after the whole table (`--no-fail`: exit 0 all the same, for a run that only
collects figures).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from bench import cli, dag_parse, promotion, release, suite, synth
from bench.table import Figure, report

BENCHMARKS = ("synth", "promotion", "dag_parse", "cli", "release")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        """Usage errors as one line, exit code 2 (argparse prints the whole usage otherwise)."""
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks and print one table."""
    parser = _Parser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="benchmarks to run (comma-separated)")
    parser.add_argument(
        "--sizes", default=",".join(map(str, promotion.DEFAULT_SIZES)), help="promotion release sizes"
    )
    parser.add_argument("--delay-ms", type=float, default=promotion.DEFAULT_DELAY_MS, help="proxy latency")
    parser.add_argument("--repeats", type=int, default=3, help="repetitions of repeated measurements")
    parser.add_argument(
        "--synth-domains", type=int, default=synth.DEFAULT_DOMAINS, help="domains of the synth growth run"
    )
    parser.add_argument("--with-suite", action="store_true", help="also time every step of make test")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--no-fail", action="store_true", help="exit 0 even when a target is not met (collect figures only)"
    )
    args = parser.parse_args(argv)
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in only if name not in BENCHMARKS]
    if unknown or not only:
        parser.error(
            f"--only: unknown benchmark {unknown[0] if unknown else '(none)'!r} "
            f"(choose from {', '.join(BENCHMARKS)})"
        )
    try:
        sizes = promotion.parse_sizes(args.sizes)
    except ValueError as exc:
        parser.error(str(exc))
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.synth_domains < 1:
        parser.error("--synth-domains must be at least 1")
    if not 0 <= args.delay_ms <= 1000:
        parser.error("--delay-ms must be between 0 and 1000")

    runs: dict[str, Callable[[], list[Figure]]] = {
        "synth": lambda: synth.run(repeats=args.repeats, domains=args.synth_domains),
        "promotion": lambda: promotion.run(
            promotion.Config(sizes=sizes, delay_ms=args.delay_ms, noop_repeats=args.repeats), log=_log
        ),
        "dag_parse": lambda: dag_parse.run(repeats=max(args.repeats, 5)),
        "cli": lambda: cli.run(repeats=max(args.repeats, cli.DEFAULT_REPEATS)),
        "release": lambda: release.run(log=_log),
    }
    figures: list[Figure] = []
    for name in [n for n in BENCHMARKS if n in only]:
        started = time.perf_counter()
        _log(f"bench: {name} ...")
        figures += runs[name]()
        _log(f"bench: {name} done in {time.perf_counter() - started:.0f}s")
    if args.with_suite:
        figures += suite.run(log=_log)
    return report(figures, as_json=args.json, no_fail=args.no_fail)


if __name__ == "__main__":
    sys.exit(main())
