"""The declared lineage of a release: topic -> raw table -> Spark job -> staging -> dbt models -> GX suites.

Drawn from what the release's files declare, and nothing else: each domain's declaration (its topic,
raw table, Spark jobs and the staging/rejects tables they write, its marts and which table each GX suite
validates, read through `platform_model.domain`) and the dbt files' own `source()`/`ref()` calls. A dbt
`source()` resolves to the declared table of that name (table names are unique across domains); a
table no domain declares is drawn as such, never attached to a guess. Every node belongs to a domain,
so the picture is grouped by domain and can be drawn for one domain and its neighbours.
Written as Mermaid (for Markdown viewers and GitHub job summaries) and as a self-contained SVG.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from platform_model.domain import Domain, load_domains
from platform_model.errors import ConfigError

_REF = re.compile(r"""ref\(\s*['"]([^'"]+)['"]\s*\)""")
_SOURCE = re.compile(r"""source\(\s*['"]([^'"]+)['"]\s*,\s*['"]([^'"]+)['"]\s*\)""")
_SNAPSHOT_BLOCK = re.compile(r"""\{%-?\s*snapshot\s+([A-Za-z0-9_]+)\s*-?%\}""")
_SNAPSHOT_YAML_NAME = re.compile(r"""^\s*-\s*name:\s*([A-Za-z0-9_]+)\s*$""", re.MULTILINE)

KIND_STYLE: dict[str, tuple[str, str]] = {
    # kind -> (fill, stroke)
    "topic": ("#fde7c8", "#c77700"),
    "table": ("#dbeafe", "#1d4ed8"),
    "job": ("#fce7f3", "#be185d"),
    "model": ("#dcfce7", "#15803d"),
    "suite": ("#ede9fe", "#6d28d9"),
}
UNDECLARED = "(undeclared)"


@dataclass(frozen=True)
class Node:
    """One node: what it is, its label and the domain it belongs to."""

    kind: str
    label: str
    domain: str


@dataclass
class Lineage:
    """A small directed graph: node id -> Node, and edges."""

    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)

    def add(self, node_id: str, kind: str, label: str, domain: str) -> str:
        """Add a node (idempotent) and return its id."""
        self.nodes.setdefault(node_id, Node(kind, label, domain))
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
            graph.add(_table_id(layer, table), "table", key, name)
    if domain.event is not None:
        topic = graph.add(
            f"topic_{_slug(domain.event.topic)}", "topic", f"Pub/Sub {domain.event.topic}", name
        )
        raw = _table_id("raw", domain.event.raw_table)
        graph.link(topic, raw)
        for job in domain.spark_jobs:
            node = graph.add(f"job_{_slug(job)}", "job", f"Spark {job}", name)
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
            text = path.read_text(encoding="utf-8")
            if folder == "models" and path.suffix == ".sql":
                nodes[path.stem] = graph.add(f"model_{_slug(path.stem)}", "model", f"dbt {path.stem}", owner)
            elif folder == "snapshots":
                names = _SNAPSHOT_BLOCK.findall(text) if path.suffix == ".sql" else []
                if path.suffix != ".sql" and re.search(r"^snapshots:", text, re.MULTILINE):
                    names = _SNAPSHOT_YAML_NAME.findall(text)
                for snap in names:
                    nodes[snap] = graph.add(f"model_{_slug(snap)}", "model", f"dbt snapshot {snap}", owner)
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
                names = (
                    _SNAPSHOT_BLOCK.findall(text)
                    if path.suffix == ".sql"
                    else _SNAPSHOT_YAML_NAME.findall(text)
                )
                targets = [models[n] for n in names if n in models]
            else:
                continue
            for target in targets:
                for _source, table in _SOURCE.findall(text):
                    key = table_owner.get(table)
                    src = (
                        _table_id(*key.split(".", 1))
                        if key
                        else graph.add(f"table_{_slug(table)}", "table", f"{table} {UNDECLARED}", UNDECLARED)
                    )
                    graph.link(src, target)
                for ref in _REF.findall(text):
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
            node = graph.add(f"suite_{_slug(suite)}", "suite", f"GX {suite}", domain.domain)
            source = models.get(spec.table) if spec.layer == "marts" else _table_id(spec.layer, spec.table)
            if source is not None and source in graph.nodes:
                graph.link(source, node)
    return graph


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


def _layers(graph: Lineage) -> dict[str, int]:
    """Column of each node: the longest path from a node with no inputs (the graph is a DAG)."""
    layer = dict.fromkeys(graph.nodes, 0)
    for _ in range(len(graph.nodes)):
        changed = False
        for a, b in graph.edges:
            if layer[b] < layer[a] + 1:
                layer[b] = layer[a] + 1
                changed = True
        if not changed:
            break
    return layer


def to_svg(graph: Lineage) -> str:
    """The graph as a standalone SVG, laid out left to right in columns, rows grouped by domain."""
    box_w, box_h, gap_x, gap_y, pad = 190, 44, 70, 22, 20
    layer = _layers(graph)
    order = {d: i for i, d in enumerate(graph.domains())}
    columns: dict[int, list[str]] = {}
    for node in sorted(graph.nodes, key=lambda n: order[graph.nodes[n].domain]):
        columns.setdefault(layer[node], []).append(node)
    height_rows = max((len(c) for c in columns.values()), default=1)
    width = pad * 2 + len(columns) * box_w + (len(columns) - 1) * gap_x
    height = pad * 2 + height_rows * box_h + (height_rows - 1) * gap_y
    pos: dict[str, tuple[int, int]] = {}
    for col, nodes in sorted(columns.items()):
        offset = (height - (len(nodes) * box_h + (len(nodes) - 1) * gap_y)) // 2
        for row, node in enumerate(nodes):
            pos[node] = (pad + col * (box_w + gap_x), offset + row * (box_h + gap_y))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="13">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    for a, b in graph.edges:
        (ax, ay), (bx, by) = pos[a], pos[b]
        x1, y1, x2, y2 = ax + box_w, ay + box_h // 2, bx, by + box_h // 2
        mid = (x1 + x2) // 2
        out.append(
            f'<path d="M {x1} {y1} C {mid} {y1}, {mid} {y2}, {x2} {y2}" fill="none" stroke="#555" '
            'stroke-width="1.4" marker-end="url(#arrow)"/>'
        )
    for node_id, box in graph.nodes.items():
        x, y = pos[node_id]
        fill, stroke = KIND_STYLE.get(box.kind, ("#eee", "#333"))
        out.append(
            f"<g><title>{escape(box.domain)}: {escape(box.kind)} {escape(box.label)}</title>"
            f'<rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="8" fill="{fill}" stroke="{stroke}" '
            f'stroke-width="1.5"/><text x="{x + box_w // 2}" y="{y + box_h // 2 + 5}" text-anchor="middle">'
            f"{escape(box.label)}</text></g>"
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


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
        svg.write_text(to_svg(view), encoding="utf-8")
        written += [mmd, svg]
    return written
