"""Validate tables with a domain's Great Expectations suites (GX 1.x, ephemeral context).

The suites are JSON files (`gx/expectations/<domain>/<suite>.json`, shipped to `data/gx/<digest>/`),
each an ExpectationSuite as GX serialises it, named like its file. What a suite validates (layer,
table, window column) comes from the domain's declaration through the runtime config's
`domains.<d>.gx_suites`, so a DAG validates its own domain's suites and no other. A window column
limits validation to the run's days. Data arrives as pandas DataFrames (DuckDB locally, BigQuery on
GCP), so the same suites run in both places and in tests.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.metrics import emit

log = logging.getLogger(__name__)
DOCS_SITE = "pipelines"


class SuiteError(ValueError):
    """A suite file cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class TableRef:
    """What a suite validates."""

    layer: str
    table: str
    window_column: str | None = None


@dataclass(frozen=True)
class SuiteSpec:
    """A suite file: its GX JSON and the table it validates."""

    path: Path
    name: str
    table: TableRef
    body: dict[str, Any]


@dataclass(frozen=True)
class SuiteResult:
    """The outcome of one suite."""

    suite: str
    success: bool
    evaluated: int
    unsuccessful: int
    rows: int
    failed_expectations: list[str]
    expectations: list[tuple[str, str | None, bool]] = field(default_factory=list)
    """Every expectation's (type, column, success): the run's data-quality assertions."""


def load_suite(path: Path, table: TableRef) -> SuiteSpec:
    """One suite file, checked: JSON, named like the file, a non-empty list of expectations."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SuiteError(f"{path}: cannot be read ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise SuiteError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    name = body.get("name") if isinstance(body, dict) else None
    if name != path.stem:
        raise SuiteError(f"{path}: name is {name!r}, expected the file name {path.stem!r}")
    expectations = body.get("expectations")
    if not isinstance(expectations, list) or not expectations:
        raise SuiteError(f"{path}: expectations: expected a non-empty list")
    return SuiteSpec(path=path, name=name, table=table, body=body)


def load_suites(root: Path, suites: Mapping[str, Any]) -> list[SuiteSpec]:
    """The suites a domain declares (`suites`: name -> runtime entry with file, layer, table,
    window_column), read from their files under `root` (the release's gx folder), sorted by name."""
    if not suites:
        raise SuiteError(f"{root}: the domain declares no GX suite to validate")
    specs = []
    for name, entry in sorted(suites.items()):
        spec = load_suite(
            root / entry.file,
            TableRef(layer=entry.layer, table=entry.table, window_column=entry.window_column),
        )
        if spec.name != name:
            raise SuiteError(f"{spec.path}: is suite {spec.name!r}, but the domain declares it as {name!r}")
        specs.append(spec)
    return specs


def _context(docs_dir: Path | None) -> Any:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    if docs_dir is not None:
        docs_dir.mkdir(parents=True, exist_ok=True)
        context.add_data_docs_site(
            site_name=DOCS_SITE,
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
    return context


def validate(
    frames: dict[str, Any], suites: list[SuiteSpec], docs_dir: Path | None = None, domain: str | None = None
) -> list[SuiteResult]:
    """Run each suite on `frames[suite.name]` (pandas); log a `gx_validation` line per suite (with
    the `domain` it belongs to).

    With `docs_dir`, GX Data Docs (HTML, `index.html`) are written there.
    """
    import great_expectations as gx
    from great_expectations.checkpoint.actions import UpdateDataDocsAction

    context = _context(docs_dir)
    source = context.data_sources.add_pandas("frames")
    results = []
    for spec in suites:
        try:
            suite = gx.ExpectationSuite(**{k: v for k, v in spec.body.items() if k != "id"})
        except Exception as exc:  # GX raises pydantic errors for expectations with bad arguments
            detail = " ".join(str(exc).split())[:300]
            raise SuiteError(f"{spec.path}: invalid expectation: {detail}") from None
        if len(suite.expectations) != len(spec.body["expectations"]):
            # GX logs and drops invalid expectations; a suite must never silently shrink.
            dropped = len(spec.body["expectations"]) - len(suite.expectations)
            raise SuiteError(f"{spec.path}: {dropped} invalid expectation(s)")
        suite = context.suites.add(suite)
        batch = source.add_dataframe_asset(spec.name).add_batch_definition_whole_dataframe("all")
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=spec.name, data=batch, suite=suite)
        )
        actions: list[Any] = [UpdateDataDocsAction(name="docs", site_names=[DOCS_SITE])] if docs_dir else []
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=f"{spec.name}_checkpoint", validation_definitions=[definition], actions=actions
            )
        )
        frame = frames[spec.name]
        outcome = checkpoint.run(batch_parameters={"dataframe": frame})
        run = next(iter(outcome.run_results.values()))
        stats = run.statistics
        failed = [
            f"{r.expectation_config.type}({r.expectation_config.kwargs.get('column', '')})"
            for r in run.results
            if not r.success
        ]
        result = SuiteResult(
            suite=spec.name,
            success=bool(outcome.success),
            evaluated=int(stats["evaluated_expectations"]),
            unsuccessful=int(stats["unsuccessful_expectations"]),
            rows=len(frame),
            failed_expectations=failed,
            expectations=[
                (r.expectation_config.type, r.expectation_config.kwargs.get("column"), bool(r.success))
                for r in run.results
            ],
        )
        emit(
            "gx_validation",
            domain=domain,
            suite=result.suite,
            success=result.success,
            evaluated=result.evaluated,
            unsuccessful=result.unsuccessful,
            rows=result.rows,
            failed=failed,
        )
        results.append(result)
    return results
