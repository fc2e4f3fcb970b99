"""The environment reference in the README is generated from the schema and kept fresh."""

from __future__ import annotations

import pytest

from deployer.envdoc import README, reference, render_readme


def test_readme_reference_is_fresh() -> None:
    text = README.read_text(encoding="utf-8")
    assert render_readme(text) == text, "run `make schema` and commit README.md"


def test_reference_lists_nested_fields() -> None:
    ref = reference()
    expected = ("`labels.cost-center`", "`promotion.requires_approval`", "`dataproc.autoscaling.primary_min`")
    for path in expected:
        assert path in ref
    assert "`bigquery.taxonomy.policy_tags`" in ref


def test_missing_markers_are_an_error() -> None:
    with pytest.raises(ValueError, match="markers"):
        render_readme("# no markers here\n")
