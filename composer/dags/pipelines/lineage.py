"""OpenLineage names of the declared tables, and the events of the local platform's steps.

Dataset names follow OpenLineage's naming spec, so a table is named the way the systems that touch it
name it: on GCP `bigquery` / `<project>.<dataset>.<table>` (what Composer, Dataproc and Dataplex
report), locally the DuckDB warehouse dbt builds, `duckdb://<warehouse>/warehouse.duckdb` /
`warehouse.<dataset>.<table>` (what `dbt-ol` reports for a DuckDB target). `dataset()` gives a
declared table's name, `declared_table()` maps any such name back to `layer.table`: the one mapping,
used by the DAG tasks' inlets/outlets, the local steps' events and `deployer lineage`.

On GCP nothing here emits: Composer, Dataproc and BigQuery report to Dataplex themselves. On the local
platform the steps emit when `PLATFORM_LINEAGE_EVENTS` names the events file (set only for a local
environment with `lineage.enabled`, by `composer.local_run.openlineage_environ`): Airflow's provider
writes each task's events, dbt runs under `dbt-ol`, and the Spark and GX steps write theirs with
openlineage-python's client (there is no openlineage-spark jar locally).

Standard library only at import time: DAG files import this while they are parsed.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

EVENTS_ENV = "PLATFORM_LINEAGE_EVENTS"
NAMESPACE_ENV = "OPENLINEAGE_NAMESPACE"
DUCKDB_FILE = "warehouse.duckdb"
PRODUCER = "https://github.com/acme/data-platform/composer/dags/pipelines"
BIGQUERY = "bigquery"


def dataset(
    platform: str, project: str, datasets: Mapping[str, str], layer: str, table: str, warehouse: Path | None
) -> tuple[str, str]:
    """(namespace, name) of the declared table `layer.table` on `platform` (see module doc)."""
    if platform == "local":
        if warehouse is None:
            raise ValueError("dataset: the local platform needs the warehouse folder")
        return f"duckdb://{warehouse / DUCKDB_FILE}", f"{Path(DUCKDB_FILE).stem}.{datasets[layer]}.{table}"
    return BIGQUERY, f"{project}.{datasets[layer]}.{table}"


def declared_table(namespace: str, name: str, datasets: Mapping[str, str]) -> str | None:
    """`layer.table` of an OpenLineage dataset on BigQuery or the local DuckDB warehouse whose dataset
    (schema) is one of `datasets` (layer -> dataset id); None for any other dataset."""
    if namespace != BIGQUERY and not namespace.startswith("duckdb://"):
        return None
    parts = name.split(".")
    if len(parts) < 3:
        return None
    layer = {ds: lay for lay, ds in datasets.items()}.get(parts[-2])
    return f"{layer}.{parts[-1]}" if layer else None


def events_file() -> Path | None:
    """The events file of this local run, or None when lineage is off."""
    value = os.environ.get(EVENTS_ENV, "")
    return Path(value) if value else None


class StepRun:
    """One run of a local step (Spark job, GX suite) as OpenLineage START and COMPLETE/FAIL events."""

    def __init__(
        self,
        job: str,
        inputs: Sequence[tuple[str, str]],
        outputs: Sequence[tuple[str, str]],
        path: Path,
    ) -> None:
        """A run of `job` reading `inputs` and writing `outputs` ((namespace, name) each) into `path`."""
        self.job, self.inputs, self.outputs, self.path = job, list(inputs), list(outputs), path
        self.run_id = str(uuid.uuid4())

    def _emit(self, state: str, input_facets: Mapping[tuple[str, str], dict[str, Any]] | None = None) -> None:
        from openlineage.client import OpenLineageClient
        from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
        from openlineage.client.transport.file import FileConfig, FileTransport

        self.path.parent.mkdir(parents=True, exist_ok=True)
        client = OpenLineageClient(
            transport=FileTransport(FileConfig(log_file_path=str(self.path), append=True))
        )
        facets = input_facets or {}
        client.emit(
            RunEvent(
                eventType=RunState[state],
                eventTime=dt.datetime.now(dt.UTC).isoformat(),
                producer=PRODUCER,
                run=Run(runId=self.run_id),
                job=Job(namespace=os.environ.get(NAMESPACE_ENV, "local"), name=self.job),
                inputs=[InputDataset(ns, n, inputFacets=facets.get((ns, n), {})) for ns, n in self.inputs],
                outputs=[OutputDataset(ns, n) for ns, n in self.outputs],
            )
        )

    def start(self) -> None:
        """Emit START."""
        self._emit("START")

    def finish(
        self, success: bool, input_facets: Mapping[tuple[str, str], dict[str, Any]] | None = None
    ) -> None:
        """Emit COMPLETE (or FAIL), with facets of the input datasets (GX: its data-quality assertions)."""
        self._emit("COMPLETE" if success else "FAIL", input_facets)


def assertions_facet(expectations: Sequence[tuple[str, str | None, bool]]) -> dict[str, Any]:
    """The `dataQualityAssertions` input facet of a GX suite's results: (expectation, column, success)."""
    from openlineage.client.facet_v2 import data_quality_assertions_dataset as dq

    return {
        "dataQualityAssertions": dq.DataQualityAssertionsDatasetFacet(
            assertions=[dq.Assertion(assertion=e, success=ok, column=col) for e, col, ok in expectations]
        )
    }
