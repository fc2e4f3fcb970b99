"""`deployer lineage`: the graph comes from the release's files, in Mermaid and SVG."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from deployer.errors import ConfigError
from deployer.lineage import build_lineage, to_mermaid, write_lineage


def _tree(root: Path) -> Path:
    (root / "contracts").mkdir(parents=True)
    (root / "contracts" / "orders.yaml").write_text(
        "event: {topic: orders-events, raw_table: orders_events, columns: []}\n"
        "staging: {table: orders, columns: []}\nrejects: {table: orders_rejects, columns: []}\n"
    )
    (root / "jobs").mkdir()
    (root / "jobs" / "jobs.json").write_text(json.dumps({"jobs": {"orders_clean": {"main": "main.py"}}}))
    models = root / "dbt" / "models"
    (models / "staging").mkdir(parents=True)
    (models / "marts").mkdir()
    (models / "staging" / "stg_orders.sql").write_text("select * from {{ source('staging', 'orders') }}")
    (models / "marts" / "fct_daily_revenue.sql").write_text("select * from {{ ref('stg_orders') }}")
    (models / "marts" / "customer_lifetime_value.sql").write_text('select * from {{ ref( "stg_orders" ) }}')
    (root / "gx").mkdir()
    (root / "gx" / "orders_staging.json").write_text(
        json.dumps(
            {"name": "orders_staging", "expectations": [], "meta": {"orders_table": {"table": "orders"}}}
        )
    )
    (root / "gx" / "fct_daily_revenue.json").write_text(
        json.dumps({"name": "fct_daily_revenue", "expectations": [], "meta": {"model": "fct_daily_revenue"}})
    )
    return root


def test_graph_follows_the_files(tmp_path: Path) -> None:
    graph = build_lineage(_tree(tmp_path))
    edges = {(graph.nodes[a][1], graph.nodes[b][1]) for a, b in graph.edges}
    assert edges == {
        ("Pub/Sub orders-events", "raw.orders_events"),
        ("raw.orders_events", "Spark orders_clean"),
        ("Spark orders_clean", "staging.orders"),
        ("Spark orders_clean", "staging.orders_rejects"),
        ("staging.orders", "dbt stg_orders"),
        ("dbt stg_orders", "dbt fct_daily_revenue"),
        ("dbt stg_orders", "dbt customer_lifetime_value"),
        ("dbt fct_daily_revenue", "GX fct_daily_revenue"),
        ("staging.orders", "GX orders_staging"),
    }


def test_writes_mermaid_and_valid_svg(tmp_path: Path) -> None:
    mmd, svg = write_lineage(_tree(tmp_path / "src"), tmp_path / "out")
    text = mmd.read_text()
    assert text.startswith("flowchart LR\n")
    assert "raw_orders_events --> job_orders_clean" in text
    root = ET.fromstring(svg.read_text())
    labels = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "GX fct_daily_revenue" in labels and len(labels) == len(build_lineage(tmp_path / "src").nodes)


def test_mermaid_lists_every_node(tmp_path: Path) -> None:
    graph = build_lineage(_tree(tmp_path))
    text = to_mermaid(graph)
    for node_id in graph.nodes:
        assert f"    {node_id}" in text


def test_empty_release_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no contracts, jobs"):
        write_lineage(tmp_path, tmp_path / "out")


def test_broken_jobs_file_names_the_file(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "jobs" / "jobs.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"jobs\.json: invalid JSON"):
        build_lineage(root)
