"""The figures table: formatting, ratios, the targets line."""

from __future__ import annotations

import json

import pytest

from bench.table import Figure, exit_status, fmt, median, render, report, to_json


def test_render_has_one_row_per_figure_and_counts_targets() -> None:
    figures = [
        Figure("no-op promotion", 0.5, baseline=20.0, target="< 2 s, >= 20x", met=True),
        Figure("one-DAG change uploads", 2, "objects", 1000, target="1", met=False),
        Figure("for information", 3.25, "ms"),
    ]
    lines = render(figures).splitlines()
    assert lines[0].split() == ["figure", "value", "baseline", "ratio", "target", "met?"]
    assert len(lines) == 2 + len(figures) + 1
    assert "40.0x" in lines[2] and lines[2].rstrip().endswith("yes")
    assert "500x" in lines[3] and lines[3].rstrip().endswith("NO")
    assert lines[-1] == "targets met: 1/2"


def test_ratio_is_baseline_over_value_unless_given() -> None:
    assert Figure("x", 2.0, baseline=10.0).speedup == 5.0
    assert Figure("x", 2.0, baseline=10.0, ratio=1.25).speedup == 1.25
    assert Figure("x", 0.0, baseline=10.0).speedup is None
    assert json.loads(to_json([Figure("x", 2.0, baseline=3.0)]))[0]["ratio"] == 1.5


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [(0.1234, "s", "0.123 s"), (35.93, "s", "35.9 s"), (5, "objects", "5 objects"), (64.2, "ms", "64 ms")],
)
def test_fmt(value: float, unit: str, shown: str) -> None:
    assert fmt(value, unit) == shown


def test_median() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 2.0, 3.0]) == 2.5
    with pytest.raises(ValueError):
        median([])


def test_a_missed_target_is_exit_1_naming_it_and_no_target_is_never_missed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    met = Figure("no-op promotion", 0.5, baseline=20.0, target="< 2 s, >= 20x", met=True)
    info = Figure("for information", 3.25, "ms")
    missed = Figure("first promotion 100 files", 1.5, baseline=3.0, target=">= 3x", met=False)
    assert exit_status([met, info]) == (0, None)
    assert exit_status([info]) == (0, None)
    status, line = exit_status([met, missed, info])
    assert status == 1
    assert line == "bench: 1 of 2 targets not met: first promotion 100 files (1.500 s, target >= 3x)"

    assert report([met, missed], as_json=True) == 1
    out, err = capsys.readouterr()
    assert [f["name"] for f in json.loads(out)] == [met.name, missed.name]
    assert err.strip() == line
    assert report([met, missed], no_fail=True) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[-1] == "targets met: 1/2" and "not met: first promotion" in err
    assert report([met]) == 0
    assert capsys.readouterr().err == ""
