"""The declared lineage of a release: topic -> raw table -> Spark job -> staging -> dbt models -> GX suites.

Drawn from what the release's files declare, and nothing else: each domain's declaration (its topic,
raw table, Spark jobs and the staging/rejects tables they write, its marts and which table each GX suite
validates, read through `platform_model.domain`) and the dbt files' own `source()`/`ref()` calls. A dbt
`source()` resolves to the declared table of that name (table names are unique across domains); a
table no domain declares is drawn as such, never attached to a guess. Every node belongs to a domain,
so the picture is grouped by domain and can be drawn for one domain and its neighbours.
Written as Mermaid (for Markdown viewers and GitHub job summaries) and as SVG laid out by graphviz's
`dot`, one cluster per layer (Pub/Sub, raw, Spark, staging, dbt models, marts, GX).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployer.dbt_files import REF, SOURCE, snapshot_names
from platform_model.domain import Domain, load_domains
from platform_model.errors import ConfigError

KIND_STYLE: dict[str, tuple[str, str]] = {
    # kind -> (fill, stroke)
    "topic": ("#fde7c8", "#c77700"),
    "table": ("#dbeafe", "#1d4ed8"),
    "job": ("#fce7f3", "#be185d"),
    "model": ("#dcfce7", "#15803d"),
    "suite": ("#ede9fe", "#6d28d9"),
}
UNDECLARED = "(undeclared)"
SNAPSHOT_LABEL = "dbt snapshot "


@dataclass(frozen=True)
class Node:
    """One node: what it is, its label and the domain it belongs to."""

    kind: str
    label: str
    domain: str
    layer: str = UNDECLARED
    """The cluster it is drawn in: a key of LAYERS."""


@dataclass
class Lineage:
    """A small directed graph: node id -> Node, and edges."""

    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)
    undeclared: list[tuple[str, str]] = field(default_factory=list)
    """Edges the dbt files have that no declaration allows: a model reading another domain's table
    that is not among its domain's `inputs`."""
    edge_style: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    """graphviz attributes of some edges (the observed picture marks its differences)."""

    def add(self, node_id: str, kind: str, label: str, domain: str, layer: str = UNDECLARED) -> str:
        """Add a node (idempotent) and return its id."""
        self.nodes.setdefault(node_id, Node(kind, label, domain, layer))
        return node_id

    def link(self, src: str, dst: str) -> None:
        """Add an edge once."""
        if (src, dst) not in self.edges:
            self.edges.append((src, dst))

    def domains(self) -> list[str]:
        """The domains the nodes belong to, in first-seen order."""
        return list(dict.fromkeys(n.domain for n in self.nodes.values()))

    def around(self, domain: str) -> Lineage:
        """The nodes of `domain` and their direct neighbours, with the edges between them."""
        own = {n for n, node in self.nodes.items() if node.domain == domain}
        keep = own | {b for a, b in self.edges if a in own} | {a for a, b in self.edges if b in own}
        out = Lineage()
        out.nodes = {n: node for n, node in self.nodes.items() if n in keep}
        out.edges = [(a, b) for a, b in self.edges if a in keep and b in keep and (a in own or b in own)]
        out.edge_style = {e: s for e, s in self.edge_style.items() if e in out.edges}
        out.undeclared = [e for e in self.undeclared if e in out.edges]
        return out


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def _table_id(layer: str, table: str) -> str:
    return f"{layer}_{_slug(table)}"


def _declare(graph: Lineage, domain: Domain, table_owner: dict[str, str]) -> None:
    """The nodes and edges a domain's declaration gives."""
    name = domain.domain
    for key in domain.tables():
        layer, table = key.split(".", 1)
        table_owner[table] = key
        if layer != "marts":  # marts are dbt models: drawn from the dbt files
            graph.add(_table_id(layer, table), "table", key, name, layer)
    if domain.event is not None:
        topic = graph.add(
            f"topic_{_slug(domain.event.topic)}", "topic", f"Pub/Sub {domain.event.topic}", name, "pubsub"
        )
        raw = _table_id("raw", domain.event.raw_table)
        graph.link(topic, raw)
        for job in domain.spark_jobs:
            node = graph.add(f"job_{_slug(job)}", "job", f"Spark {job}", name, "spark")
            graph.link(raw, node)
            for written in (domain.staging, domain.rejects):
                if written is not None:
                    graph.link(node, _table_id("staging", written.table))


def _dbt_nodes(graph: Lineage, dbt_dir: Path, domains: dict[str, Domain]) -> dict[str, str]:
    """Model and snapshot nodes from the dbt folders (`models/<domain>/`, `snapshots/<domain>/`)."""
    nodes: dict[str, str] = {}
    for folder in ("models", "snapshots"):
        for path in sorted((dbt_dir / folder).rglob("*")):
            if path.suffix not in (".sql", ".yml", ".yaml") or not path.is_file():
                continue
            parts = path.relative_to(dbt_dir / folder).parts
            owner = parts[0] if len(parts) > 1 and parts[0] in domains else UNDECLARED
            marts = domains[owner].marts if owner in domains else {}
            text = path.read_text(encoding="utf-8")
            if folder == "models" and path.suffix == ".sql":
                layer = "marts" if path.stem in marts else "dbt"
                nodes[path.stem] = graph.add(
                    f"model_{_slug(path.stem)}", "model", f"dbt {path.stem}", owner, layer
                )
            elif folder == "snapshots":
                for snap in snapshot_names(path, text):
                    nodes[snap] = graph.add(
                        f"model_{_slug(snap)}", "model", SNAPSHOT_LABEL + snap, owner, "dbt"
                    )
    return nodes


def _dbt_edges(graph: Lineage, dbt_dir: Path, models: dict[str, str], table_owner: dict[str, str]) -> None:
    """Edges from each dbt node's `source()` and `ref()` calls."""
    for folder in ("models", "snapshots"):
        for path in sorted((dbt_dir / folder).rglob("*")):
            if path.suffix not in (".sql", ".yml", ".yaml") or not path.is_file():
                continue
            text = path.read_text(encoding="utf-8")
            if path.suffix == ".sql" and folder == "models":
                targets = [models[path.stem]]
            elif folder == "snapshots":
                targets = [models[n] for n in snapshot_names(path, text) if n in models]
            else:
                continue
            for target in targets:
                for _source, table in SOURCE.findall(text):
                    key = table_owner.get(table)
                    src = (
                        _table_id(*key.split(".", 1))
                        if key
                        else graph.add(f"table_{_slug(table)}", "table", f"{table} {UNDECLARED}", UNDECLARED)
                    )
                    graph.link(src, target)
                for ref in REF.findall(text):
                    if ref in models and models[ref] != target:
                        graph.link(models[ref], target)


def build_lineage(files: Path) -> Lineage:
    """The declared lineage of a release's `files/` folder (or a source tree: the same layout)."""
    domains_dir = files / "domains"
    if not domains_dir.is_dir():
        raise ConfigError(f"{files}: no domains/ folder (domain declarations) to draw the lineage from")
    domains = load_domains(domains_dir)
    graph = Lineage()
    table_owner: dict[str, str] = {}
    for domain in domains.values():
        _declare(graph, domain, table_owner)
    models = _dbt_nodes(graph, files / "dbt", dict(domains))
    _dbt_edges(graph, files / "dbt", models, table_owner)
    for domain in domains.values():
        for suite, spec in domain.gx_suites.items():
            node = graph.add(f"suite_{_slug(suite)}", "suite", f"GX {suite}", domain.domain, "gx")
            source = models.get(spec.table) if spec.layer == "marts" else _table_id(spec.layer, spec.table)
            if source is not None and source in graph.nodes:
                graph.link(source, node)
    _mark_undeclared(graph, dict(domains))
    return graph


def _mark_undeclared(graph: Lineage, domains: dict[str, Domain]) -> None:
    """Mark (and draw red, dashed) each model's read of another domain's node not among its inputs."""
    for a, b in graph.edges:
        src, dst = graph.nodes[a], graph.nodes[b]
        if dst.kind != "model" or src.domain not in domains or dst.domain not in domains:
            continue
        if src.domain != dst.domain and src.domain not in domains[dst.domain].inputs:
            graph.undeclared.append((a, b))
            graph.edge_style[(a, b)] = {"color": "#dc2626", "style": "dashed", "label": "not declared"}


def to_mermaid(graph: Lineage) -> str:
    """The graph as a Mermaid flowchart, one subgraph per domain."""
    shape = {"topic": ("[/", "/]"), "job": ("[[", "]]"), "suite": ("{{", "}}"), "table": ("[(", ")]")}
    lines = ["flowchart LR"]
    for domain in graph.domains():
        lines.append(f'    subgraph {_slug("d_" + domain)}["{domain}"]')
        for node_id, node in graph.nodes.items():
            if node.domain == domain:
                left, right = shape.get(node.kind, ("[", "]"))
                lines.append(f'        {node_id}{left}"{node.label}"{right}')
        lines.append("    end")
    lines.extend(f"    {a} --> {b}" for a, b in graph.edges)
    for kind, (fill, stroke) in KIND_STYLE.items():
        members = [n for n, node in graph.nodes.items() if node.kind == kind]
        if members:
            lines.append(f"    classDef {kind} fill:{fill},stroke:{stroke}")
            lines.append(f"    class {','.join(members)} {kind}")
    return "\n".join(lines) + "\n"


LAYERS: dict[str, str] = {
    # layer -> cluster title, in the order the data flows
    "pubsub": "Pub/Sub",
    "raw": "raw",
    "spark": "Spark",
    "staging": "staging",
    "dbt": "dbt models",
    "marts": "marts",
    "gx": "GX",
    UNDECLARED: "undeclared",
}
_DOT_SHAPE = {
    "topic": "parallelogram",
    "table": "cylinder",
    "job": "component",
    "model": "box",
    "suite": "hexagon",
}


def to_dot(graph: Lineage, title: str = "") -> Any:
    """The graph as a graphviz `Digraph`, left to right, one cluster per layer (see LAYERS)."""
    import graphviz  # type: ignore[import-untyped]

    dot = graphviz.Digraph(name="lineage", graph_attr={"rankdir": "LR", "fontname": "Helvetica"})
    dot.attr("node", fontname="Helvetica", fontsize="11", style="filled")
    if title:
        dot.attr(label=title, labelloc="t", fontsize="16")
    for layer, caption in LAYERS.items():
        members = [(n, node) for n, node in graph.nodes.items() if node.layer == layer]
        if not members:
            continue
        with dot.subgraph(name=f"cluster_{_slug(layer)}") as cluster:
            cluster.attr(label=caption, style="rounded,dashed", color="#999999", fontsize="12")
            for node_id, node in members:
                fill, stroke = KIND_STYLE.get(node.kind, ("#eeeeee", "#333333"))
                cluster.node(
                    node_id,
                    node.label,
                    shape=_DOT_SHAPE.get(node.kind, "box"),
                    fillcolor=fill,
                    color=stroke,
                    tooltip=f"{node.domain}: {node.kind} {node.label}",
                )
    for a, b, style in _styled_edges(graph):
        dot.edge(a, b, **style)
    return dot


def _styled_edges(graph: Lineage) -> list[tuple[str, str, dict[str, str]]]:
    return [(a, b, dict(graph.edge_style.get((a, b), {}))) for a, b in graph.edges]


def to_svg(graph: Lineage, title: str = "") -> str:
    """The graph laid out by graphviz's `dot` as a standalone SVG; ConfigError when `dot` is missing."""
    import graphviz

    try:
        svg: bytes = to_dot(graph, title).pipe(format="svg")
    except graphviz.ExecutableNotFound:
        raise ConfigError(
            "graphviz's `dot` is not on PATH: install the Debian package graphviz (apt-get install graphviz)"
        ) from None
    return svg.decode("utf-8")


def write_lineage(files: Path, out_dir: Path, name: str = "lineage") -> list[Path]:
    """Write `<name>.mmd`/`.svg` for the platform and `<name>-<domain>.mmd`/`.svg` per domain."""
    graph = build_lineage(files)
    if not graph.nodes:
        raise ConfigError(f"{files}: no domains, jobs, dbt models or GX suites found to draw")
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    views = [(name, graph)] + [(f"{name}-{d}", graph.around(d)) for d in graph.domains() if d != UNDECLARED]
    for stem, view in views:
        mmd, svg = out_dir / f"{stem}.mmd", out_dir / f"{stem}.svg"
        mmd.write_text(to_mermaid(view), encoding="utf-8")
        svg.write_text(to_svg(view, stem), encoding="utf-8")
        written += [mmd, svg]
    return written
