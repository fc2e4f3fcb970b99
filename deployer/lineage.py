"""The lineage of a release: Pub/Sub topic -> raw table -> Spark job -> staging -> dbt marts -> GX suites.

Read from the release's own files (contracts, `jobs/jobs.json`, the dbt models' `ref()`/`source()`
calls and the GX suites), so the picture shows what the release ships, not what someone drew by hand.
Written as Mermaid (for Markdown viewers) and as a self-contained SVG (no browser needed to render).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import yaml

from deployer.errors import ConfigError

_REF = re.compile(r"""\{\{\s*ref\(\s*['"]([^'"]+)['"]\s*\)\s*\}\}""")
_SOURCE = re.compile(r"""\{\{\s*source\(\s*['"]([^'"]+)['"]\s*,\s*['"]([^'"]+)['"]\s*\)\s*\}\}""")

KIND_STYLE: dict[str, tuple[str, str]] = {
    # kind -> (fill, stroke)
    "topic": ("#fde7c8", "#c77700"),
    "table": ("#dbeafe", "#1d4ed8"),
    "job": ("#fce7f3", "#be185d"),
    "model": ("#dcfce7", "#15803d"),
    "suite": ("#ede9fe", "#6d28d9"),
}


@dataclass
class Lineage:
    """A small directed graph: node id -> (kind, label), and edges."""

    nodes: dict[str, tuple[str, str]] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)

    def add(self, node_id: str, kind: str, label: str) -> str:
        """Add a node (idempotent) and return its id."""
        self.nodes.setdefault(node_id, (kind, label))
        return node_id

    def link(self, src: str, dst: str) -> None:
        """Add an edge once."""
        if (src, dst) not in self.edges:
            self.edges.append((src, dst))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None


def build_lineage(files: Path) -> Lineage:
    """Derive the lineage graph from a release's `files/` folder (or a source tree of the same layout)."""
    graph = Lineage()
    contracts_dir = files / "contracts"
    contract_tables: dict[str, str] = {}  # table name -> node id
    staging_nodes: list[str] = []
    raw_node = None
    for contract_path in sorted(contracts_dir.glob("*.yaml")):
        contract = _load_yaml(contract_path) or {}
        event = contract.get("event") or {}
        if "topic" in event and "raw_table" in event:
            topic = graph.add(f"topic_{_slug(event['topic'])}", "topic", f"Pub/Sub {event['topic']}")
            raw_node = graph.add(f"raw_{_slug(event['raw_table'])}", "table", f"raw.{event['raw_table']}")
            graph.link(topic, raw_node)
            contract_tables[event["raw_table"]] = raw_node
        for section in ("staging", "rejects"):
            table = (contract.get(section) or {}).get("table")
            if table:
                node = graph.add(f"staging_{_slug(table)}", "table", f"staging.{table}")
                contract_tables[table] = node
                staging_nodes.append(node)
    jobs_file = files / "jobs" / "jobs.json"
    if jobs_file.is_file():
        try:
            jobs = json.loads(jobs_file.read_text(encoding="utf-8")).get("jobs", {})
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{jobs_file}: invalid JSON ({exc})") from None
        for name in sorted(jobs):
            job = graph.add(f"job_{_slug(name)}", "job", f"Spark {name}")
            if raw_node:
                graph.link(raw_node, job)
            for node in staging_nodes:
                graph.link(job, node)
    models: dict[str, str] = {}
    sql_files = sorted((files / "dbt" / "models").rglob("*.sql"))
    for sql in sql_files:
        models[sql.stem] = graph.add(f"model_{_slug(sql.stem)}", "model", f"dbt {sql.stem}")
    for sql in sql_files:
        text = sql.read_text(encoding="utf-8")
        for _source_name, table in _SOURCE.findall(text):
            src = contract_tables.get(table) or graph.add(f"table_{_slug(table)}", "table", table)
            graph.link(src, models[sql.stem])
        for ref in _REF.findall(text):
            if ref in models:
                graph.link(models[ref], models[sql.stem])
    for suite_path in sorted((files / "gx").rglob("*.json")):
        try:
            suite = json.loads(suite_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{suite_path}: invalid JSON ({exc})") from None
        if not isinstance(suite, dict) or "expectations" not in suite:
            continue
        name = str(suite.get("name") or suite_path.stem)
        node = graph.add(f"suite_{_slug(name)}", "suite", f"GX {name}")
        meta = suite.get("meta") or {}
        table_ref = meta.get("orders_table")
        if not isinstance(table_ref, dict):
            table_ref = {}
        target = str(meta.get("model") or meta.get("table") or table_ref.get("table") or "")
        matches = [m for m in models if m == target] or [m for m in models if m in name or name in m]
        tables = [t for t in contract_tables if t == target]
        for m in matches:
            graph.link(models[m], node)
        for t in tables:
            graph.link(contract_tables[t], node)
    return graph


def to_mermaid(graph: Lineage) -> str:
    """The graph as a Mermaid flowchart."""
    lines = ["flowchart LR"]
    for node_id, (kind, label) in graph.nodes.items():
        shape = {"topic": ("[/", "/]"), "job": ("[[", "]]"), "suite": ("{{", "}}"), "table": ("[(", ")]")}
        left, right = shape.get(kind, ("[", "]"))
        lines.append(f'    {node_id}{left}"{label}"{right}')
    lines.extend(f"    {a} --> {b}" for a, b in graph.edges)
    for kind, (fill, stroke) in KIND_STYLE.items():
        members = [n for n, (k, _) in graph.nodes.items() if k == kind]
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
    """The graph as a standalone SVG, laid out left to right in columns."""
    box_w, box_h, gap_x, gap_y, pad = 190, 44, 70, 22, 20
    layer = _layers(graph)
    columns: dict[int, list[str]] = {}
    for node in graph.nodes:
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
    for node, (kind, label) in graph.nodes.items():
        x, y = pos[node]
        fill, stroke = KIND_STYLE.get(kind, ("#eee", "#333"))
        out.append(
            f"<g><title>{escape(kind)}: {escape(label)}</title>"
            f'<rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="8" fill="{fill}" stroke="{stroke}" '
            f'stroke-width="1.5"/><text x="{x + box_w // 2}" y="{y + box_h // 2 + 5}" text-anchor="middle">'
            f"{escape(label)}</text></g>"
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_lineage(files: Path, out_dir: Path, name: str = "lineage") -> tuple[Path, Path]:
    """Write `<name>.mmd` and `<name>.svg` for the release files into `out_dir`."""
    graph = build_lineage(files)
    if not graph.nodes:
        raise ConfigError(f"{files}: no contracts, jobs, dbt models or GX suites found to draw")
    out_dir.mkdir(parents=True, exist_ok=True)
    mmd, svg = out_dir / f"{name}.mmd", out_dir / f"{name}.svg"
    mmd.write_text(to_mermaid(graph), encoding="utf-8")
    svg.write_text(to_svg(graph), encoding="utf-8")
    return mmd, svg
