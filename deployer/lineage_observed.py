"""The lineage observed in OpenLineage events, drawn next to the declared one, and the differences.

Events come from the local runs (`composer.local_run`: Airflow's OpenLineage provider, `dbt-ol`, the
Spark and GX steps) or any OpenLineage producer using the same dataset names. Each dataset is mapped
back to a declared node by the DAG library's one mapping (`pipelines.lineage.declared_table`:
(namespace, name) -> `layer.table`), then to the node of the declared graph: a raw or staging table
of a domain, or the dbt model of that name (marts are dbt models). A job maps to a node when it is a
step of the declared graph: `spark.<job>` (and the Airflow task `<dag>.spark_<job>`), `gx.<suite>`;
a dbt node's event gives the edges from its inputs to its output.

The differences, among the steps that ran (a step that did not run says nothing):
- declared, never observed: a declared input or output of a step that ran, absent from its events;
- observed, never declared: an edge the events show that no declaration allows (e.g. a model that
  reads a table its domain does not own and its `inputs` do not give).
Not compared: Pub/Sub -> raw (nothing local runs the subscription), and a snapshot -> model edge:
openlineage-dbt 1.54 drops snapshot parents from a model's inputs (its processor keeps `model.` and
`source.` parents only), so no event can show it; such edges are listed as not observable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployer.lineage import (
    SNAPSHOT_LABEL,
    UNDECLARED,
    Lineage,
    _slug,
    _table_id,
    build_lineage,
    to_mermaid,
    to_svg,
)
from platform_model.errors import ConfigError


def _declared_table(namespace: str, name: str, datasets: Mapping[str, str]) -> str | None:
    """The DAG library's mapping (the module imports nothing of the library, so it loads from here)."""
    from composer.dags.pipelines.lineage import declared_table

    return declared_table(namespace, name, datasets)


def read_events(path: Path) -> list[dict[str, Any]]:
    """OpenLineage events of a file (JSON lines) or of every `*.json*` file under a folder
    (`composer.local_run.read_lineage_events`, the one reader); a line that is none is a ConfigError."""
    from composer.local_run import LocalRunError, read_lineage_events

    try:
        return read_lineage_events(path)
    except LocalRunError as exc:
        raise ConfigError(str(exc)) from None


@dataclass
class Observed:
    """The observed graph (nodes borrowed from the declared one) and the steps that ran."""

    graph: Lineage
    ran: set[str] = field(default_factory=set)
    events: int = 0


def _dataset_node(
    graph: Lineage, declared: Lineage, ds: Mapping[str, Any], datasets: Mapping[str, str]
) -> str:
    namespace, name = str(ds.get("namespace", "")), str(ds.get("name", ""))
    key = _declared_table(namespace, name, datasets)
    if key is not None:
        layer, table = key.split(".", 1)
        for candidate in (_table_id(layer, table), f"model_{_slug(table)}"):
            if candidate in declared.nodes:
                graph.nodes.setdefault(candidate, declared.nodes[candidate])
                return candidate
        return graph.add(f"table_{_slug(table)}", "table", f"{key} {UNDECLARED}", UNDECLARED, layer)
    return graph.add(f"ds_{_slug(namespace + '_' + name)}", "table", f"{name} {UNDECLARED}", UNDECLARED)


def _job_node(graph: Lineage, declared: Lineage, job: str) -> str | None:
    """The declared step a job is (None: a job whose edges its datasets give, or not a step)."""
    last = job.rsplit(".", 1)[-1]
    if job.startswith("spark."):
        node = f"job_{_slug(job.removeprefix('spark.'))}"
    elif job.startswith("gx."):
        node = f"suite_{_slug(job.removeprefix('gx.'))}"
    elif last.startswith("spark_") and "." in job:  # the Airflow task running a Spark job
        node = f"job_{_slug(last.removeprefix('spark_'))}"
    else:
        return None
    if node in declared.nodes:
        graph.nodes.setdefault(node, declared.nodes[node])
        return node
    kind = "suite" if job.startswith("gx.") else "job"
    return graph.add(node, kind, f"{job} {UNDECLARED}", UNDECLARED, "gx" if kind == "suite" else "spark")


def observe(events: list[dict[str, Any]], declared: Lineage, datasets: Mapping[str, str]) -> Observed:
    """The lineage the events show (see module doc)."""
    out = Observed(Lineage(), events=len(events))
    for event in events:
        job = str(event.get("job", {}).get("name", ""))
        inputs = [_dataset_node(out.graph, declared, d, datasets) for d in event.get("inputs") or []]
        outputs = [_dataset_node(out.graph, declared, d, datasets) for d in event.get("outputs") or []]
        step = _job_node(out.graph, declared, job)
        if step is not None:
            out.ran.add(step)
            for a in inputs:
                out.graph.link(a, step)
            for b in outputs:
                out.graph.link(step, b)
        elif _is_dbt(event):
            for b in outputs:
                out.ran.add(b)
                for a in inputs:
                    if a != b:
                        out.graph.link(a, b)
    return out


def _is_dbt(event: Mapping[str, Any]) -> bool:
    return "dbt" in str(event.get("producer", "")) or str(event.get("job", {}).get("name", "")).endswith(
        (".build.run", ".run", ".snapshot")
    )


@dataclass
class Differences:
    """What the events and the declarations disagree on (edges as node ids)."""

    never_observed: list[tuple[str, str]]
    never_declared: list[tuple[str, str]]
    not_run: list[str]
    """Declared steps with no event: nothing compared for them."""
    unobservable: list[tuple[str, str]] = field(default_factory=list)
    """Declared edges no event can show (a snapshot read by a model, see the module doc)."""

    def lines(self, declared: Lineage, observed: Lineage) -> list[str]:
        """One line per difference, with the nodes' labels."""

        def label(node: str) -> str:
            found = observed.nodes.get(node) or declared.nodes.get(node)
            return found.label if found else node

        out = [
            f"lineage: observed, never declared: {label(a)} -> {label(b)}"
            + (f" ({declared.nodes[b].domain} does not declare reading it)" if b in declared.nodes else "")
            for a, b in self.never_declared
        ]
        out += [
            f"lineage: declared, never observed: {label(a)} -> {label(b)}" for a, b in self.never_observed
        ]
        return out


def compare(declared: Lineage, observed: Observed) -> Differences:
    """Declared edges of the steps that ran that no event shows, and observed edges no declaration allows."""
    allowed = [e for e in declared.edges if e not in declared.undeclared]
    seen = set(observed.graph.edges)
    unobservable = [(a, b) for a, b in allowed if declared.nodes[a].label.startswith(SNAPSHOT_LABEL)]
    never_observed = [
        (a, b)
        for a, b in allowed
        if (a, b) not in unobservable
        if (b in observed.ran or (a in observed.ran and declared.nodes[a].kind == "job"))
        and (a, b) not in seen
    ]
    never_declared = [e for e in observed.graph.edges if e not in allowed]
    steps = [n for n, node in declared.nodes.items() if node.kind in ("job", "model", "suite")]
    not_run = [n for n in steps if n not in observed.ran]
    return Differences(never_observed, never_declared, not_run, unobservable)


def mark(observed: Observed, diff: Differences) -> Lineage:
    """The observed graph with the edges no declaration allows in red, the declared ones it misses
    dashed orange and the declared ones no event can show dotted grey."""
    graph = Lineage(dict(observed.graph.nodes), list(observed.graph.edges))
    for edge in diff.never_declared:
        graph.edge_style[edge] = {"color": "#dc2626", "penwidth": "2", "label": "undeclared"}
    for edges, style in (
        (diff.never_observed, {"color": "#ea580c", "style": "dashed", "label": "not observed"}),
        (diff.unobservable, {"color": "#9ca3af", "style": "dotted", "label": "not observable"}),
    ):
        for a, b in edges:
            if a in graph.nodes and b in graph.nodes:
                graph.link(a, b)
                graph.edge_style[(a, b)] = dict(style)
    return graph


def env_datasets(env_name: str) -> dict[str, str]:
    """layer -> dataset id of an environment (what the datasets in its events are named after)."""
    from platform_model.environment import load_environment

    env = load_environment(env_name)
    return {layer: ds.id for layer, ds in env.bigquery.datasets.items()}


@dataclass
class Report:
    """Everything `deployer lineage --env` and `deployer check` say about the observed lineage."""

    declared: Lineage
    observed: Observed
    diff: Differences

    def findings(self) -> list[str]:
        """One line per difference (empty without events: nothing observed)."""
        return self.diff.lines(self.declared, self.observed.graph) if self.observed.events else []


def report(files: Path, events_path: Path, env_name: str) -> Report | None:
    """Declared (from a release's files) against observed (from the events); None without events."""
    if not events_path.exists():
        return None
    events = read_events(events_path)
    if not events:
        return None
    declared = build_lineage(files)
    observed = observe(events, declared, env_datasets(env_name))
    return Report(declared, observed, compare(declared, observed))


def write_observed(result: Report, out_dir: Path, name: str = "lineage-observed") -> list[Path]:
    """`<name>.svg`/`.mmd` (the observed graph, differences marked) and `<name>.txt` (the differences)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    graph = mark(result.observed, result.diff)
    svg, mmd, txt = (out_dir / f"{name}.{ext}" for ext in ("svg", "mmd", "txt"))
    svg.write_text(
        to_svg(graph, f"observed in {result.observed.events} OpenLineage events"), encoding="utf-8"
    )
    mmd.write_text(to_mermaid(graph), encoding="utf-8")
    lines = result.findings() or ["lineage: the events agree with the declarations"]
    for a, b in result.diff.unobservable:
        lines.append(
            f"lineage: not observable (dbt-ol drops snapshot inputs): "
            f"{result.declared.nodes[a].label} -> {result.declared.nodes[b].label}"
        )
    if result.diff.not_run:
        lines.append(f"lineage: not run (not compared): {len(result.diff.not_run)} declared step(s)")
    txt.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [svg, mmd, txt]


def local_events(env_name: str) -> Path | None:
    """The OpenLineage events file of the local Airflow that `deployer airflow start --env ENV` recorded
    (its AIRFLOW_HOME), or None when none was started for `env_name`."""

    from composer.local_run import lineage_events_file
    from deployer.airflow_local import state_file

    path = state_file(env_name)
    if not path.is_file():
        return None
    try:
        home = Path(json.loads(path.read_text(encoding="utf-8"))["home"])
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"{path}: not a state file of `deployer airflow start`") from None
    return lineage_events_file(home)
