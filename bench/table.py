"""Figures and the one table `python -m bench` prints: figure, value, baseline, ratio, target, met?"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Figure:
    """One measured figure, with its baseline (measured in the same run) and its target, when it has them."""

    name: str
    """What was measured, e.g. `promotion 1000 files +30ms: no-op wall`."""
    value: float
    """The measurement."""
    unit: str = "s"
    """`s`, `ms`, `calls`, `objects`, `x` ..."""
    baseline: float | None = None
    """The same figure for the baseline, measured in the same run."""
    target: str = ""
    """The goal in words, e.g. `< 2 s, >= 20x`."""
    met: bool | None = None
    """Whether the target is met (None: no target, reported for information)."""
    ratio: float | None = None
    """baseline / value (how many times better), unless given explicitly."""
    details: dict[str, Any] = field(default_factory=dict)
    """Anything else worth keeping in the JSON output (medians' samples, breakdowns)."""

    @property
    def speedup(self) -> float | None:
        """The ratio column: explicit `ratio`, else baseline / value when both are positive."""
        if self.ratio is not None:
            return self.ratio
        if self.baseline is not None and self.value > 0:
            return self.baseline / self.value
        return None


def fmt(value: float | None, unit: str) -> str:
    """A value with its unit, rounded for reading."""
    if value is None:
        return "-"
    if unit == "s":
        return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"
    if unit == "ms":
        return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"
    if float(value).is_integer():
        return f"{int(value)} {unit}".strip()
    return f"{value:.2f} {unit}".strip()


def _ratio(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 10:
        return f"{value:.2f}x"
    return f"{value:.1f}x" if value < 100 else f"{value:.0f}x"


def render(figures: Sequence[Figure]) -> str:
    """The table as aligned text (one line per figure)."""
    header = ("figure", "value", "baseline", "ratio", "target", "met?")
    rows = [
        (
            f.name,
            fmt(f.value, f.unit),
            fmt(f.baseline, f.unit),
            _ratio(f.speedup),
            f.target or "-",
            {True: "yes", False: "NO", None: "-"}[f.met],
        )
        for f in figures
    ]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        pairs = enumerate(zip(cells[1:], widths[1:], strict=True))
        rest = [c.rjust(w) if i < 3 else c.ljust(w) for i, (c, w) in pairs]
        return "  ".join([first, *rest]).rstrip()

    out = [line(header), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in rows]
    met = [f.met for f in figures if f.met is not None]
    out.append(f"targets met: {sum(met)}/{len(met)}")
    return "\n".join(out)


def exit_status(figures: Sequence[Figure]) -> tuple[int, str | None]:
    """What `python -m bench` ends with: (0, None) when every target is met, else (1, one line naming the
    figures that missed theirs), so a run, a script or CI can tell a missed target from a met one."""
    out = [f for f in figures if f.met is False]  # a figure with no target (None) is never missed
    if not out:
        return 0, None
    with_target = sum(1 for f in figures if f.met is not None)
    names = "; ".join(f"{f.name} ({fmt(f.value, f.unit)}, target {f.target or '-'})" for f in out)
    return 1, f"bench: {len(out)} of {with_target} targets not met: {names}"


def report(figures: Sequence[Figure], *, as_json: bool = False, no_fail: bool = False) -> int:
    """Print the table (or the JSON) to stdout and, when a target is missed, the line naming it to
    stderr; the exit status of a benchmark's `main` (`exit_status`; 0 all the same with `no_fail`)."""
    print(to_json(figures) if as_json else render(figures), flush=True)
    status, line = exit_status(figures)
    if line is not None:
        print(line, file=sys.stderr, flush=True)
    return 0 if no_fail else status


def to_json(figures: Sequence[Figure]) -> str:
    """The figures as a JSON list (the `--json` output)."""
    return json.dumps([{**asdict(f), "ratio": f.speedup} for f in figures], indent=2, default=str)


def median(samples: Sequence[float]) -> float:
    """The median of `samples` (the mean of the two middle ones for an even count)."""
    ordered = sorted(samples)
    n = len(ordered)
    if n == 0:
        raise ValueError("no samples")
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2
