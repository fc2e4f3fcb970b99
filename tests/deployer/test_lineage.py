"""`deployer lineage`: the graph comes from the domains' declarations and the dbt files, nothing invented."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from deployer.lineage import LAYERS, UNDECLARED, build_lineage, to_mermaid, to_svg, write_lineage
from platform_model import REPO_ROOT
from platform_model.errors import ConfigError

SVG = "{http://www.w3.org/2000/svg}"


def _tree(root: Path) -> Path:
    """A source tree with the repo's domains and a small dbt project in the domain folders."""
    shutil.copytree(REPO_ROOT / "domains", root / "domains")
    models = root / "dbt" / "models"
    for folder in ("orders", "customers", "revenue"):
        (models / folder).mkdir(parents=True)
    (models / "orders" / "stg_orders.sql").write_text(
        "select * from {{ source('orders_staging', 'orders') }}"
    )
    (models / "orders" / "fct_daily_revenue.sql").write_text("select * from {{ ref('stg_orders') }}")
    (models / "orders" / "customer_lifetime_value.sql").write_text('select * from {{ ref( "stg_orders" ) }}')
    (models / "customers" / "stg_customers.sql").write_text("select * from {{ source('crm', 'customers') }}")
    snaps = root / "dbt" / "snapshots" / "customers"
    snaps.mkdir(parents=True)
    (snaps / "customers_snapshot.sql").write_text(
        "{% snapshot customers_snapshot %}\nselect * from {{ ref('stg_customers') }}\n{% endsnapshot %}\n"
    )
    (models / "customers" / "dim_customers.sql").write_text("select * from {{ ref('customers_snapshot') }}")
    (models / "revenue" / "fct_revenue_by_segment.sql").write_text(
        "select * from {{ ref('stg_orders') }} join {{ ref('dim_customers') }} using (customer_id)"
    )
    return root


def _labels(graph) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {(graph.nodes[a].label, graph.nodes[b].label) for a, b in graph.edges}


def test_graph_follows_the_declarations(tmp_path: Path) -> None:
    graph = build_lineage(_tree(tmp_path))
    edges = _labels(graph)
    assert {
        ("Pub/Sub orders-events", "raw.orders_events"),
        ("raw.orders_events", "Spark orders_clean"),
        ("Spark orders_clean", "staging.orders"),
        ("Spark orders_clean", "staging.orders_rejects"),
        ("staging.orders", "dbt stg_orders"),
        ("dbt stg_orders", "dbt fct_daily_revenue"),
        ("dbt fct_daily_revenue", "GX fct_daily_revenue"),
        ("staging.orders", "GX orders_staging"),
        ("Pub/Sub customers-events", "raw.customers_events"),
        ("Spark customers_clean", "staging.customers"),
        ("staging.customers", "dbt stg_customers"),
        ("dbt stg_customers", "dbt snapshot customers_snapshot"),
        ("dbt snapshot customers_snapshot", "dbt dim_customers"),
        ("dbt dim_customers", "GX dim_customers"),
        ("dbt stg_orders", "dbt fct_revenue_by_segment"),
        ("dbt dim_customers", "dbt fct_revenue_by_segment"),
    } <= edges
    # no invented edge: each Spark job feeds only its own domain's tables
    assert ("Spark orders_clean", "staging.customers") not in edges
    assert ("Spark customers_clean", "staging.orders") not in edges
    assert graph.nodes["model_fct_revenue_by_segment"].domain == "revenue"
    assert graph.nodes["job_customers_clean"].domain == "customers"


def test_undeclared_table_is_drawn_as_such(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "dbt" / "models" / "orders" / "stg_returns.sql").write_text(
        "select * from {{ source('shop', 'returns') }}"
    )
    graph = build_lineage(root)
    assert (f"returns {UNDECLARED}", "dbt stg_returns") in _labels(graph)


def test_writes_one_picture_per_domain_and_one_for_the_platform(tmp_path: Path) -> None:
    paths = write_lineage(_tree(tmp_path / "src"), tmp_path / "out")
    names = sorted(p.name for p in paths)
    assert names == sorted(
        f"lineage{d}.{ext}" for d in ("", "-orders", "-customers", "-revenue") for ext in ("mmd", "svg")
    )
    text = (tmp_path / "out" / "lineage.mmd").read_text()
    assert text.startswith("flowchart LR\n") and 'subgraph d_revenue["revenue"]' in text
    root = ET.fromstring((tmp_path / "out" / "lineage.svg").read_text())
    drawn = [g for g in root.iter(f"{SVG}g") if g.get("class") == "node"]
    assert len(drawn) == len(build_lineage(tmp_path / "src").nodes)
    revenue = (tmp_path / "out" / "lineage-revenue.mmd").read_text()
    assert "model_fct_revenue_by_segment" in revenue and "model_dim_customers" in revenue
    assert "topic_orders_events" not in revenue  # not a neighbour of the revenue domain


def test_mermaid_lists_every_node(tmp_path: Path) -> None:
    graph = build_lineage(_tree(tmp_path))
    text = to_mermaid(graph)
    for node_id in graph.nodes:
        assert f"        {node_id}" in text


def test_tree_without_domains_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no domains/ folder"):
        write_lineage(tmp_path, tmp_path / "out")


def test_broken_domain_file_names_the_file(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "domains" / "orders.yaml").write_text("domain: orders\nversion: x\n")
    with pytest.raises(ConfigError, match=r"orders\.yaml: "):
        build_lineage(root)


def _clusters(svg: str) -> dict[str, set[str]]:
    """cluster caption -> the labels of the nodes drawn inside its box (graphviz's own SVG)."""
    root = ET.fromstring(svg)
    groups = list(root.iter(f"{SVG}g"))
    boxes: dict[str, tuple[float, float, float, float]] = {}
    for g in groups:
        if g.get("class") == "cluster":
            caption = "".join(g.find(f"{SVG}text").itertext())  # type: ignore[union-attr]
            points = [
                float(v)
                for v in g.find(f"{SVG}path")
                .get("d", "")
                .replace("M", " ")
                .replace(  # type: ignore[union-attr]
                    "C", " "
                )
                .replace(",", " ")
                .split()
            ]
            xs, ys = points[0::2], points[1::2]
            boxes[caption] = (min(xs), max(xs), min(ys), max(ys))
    inside: dict[str, set[str]] = {c: set() for c in boxes}
    for g in groups:
        if g.get("class") == "node":
            text = next(g.iter(f"{SVG}text"))  # under the tooltip's <a>
            x, y = float(text.get("x", 0)), float(text.get("y", 0))  # type: ignore[union-attr]
            for caption, (x0, x1, y0, y1) in boxes.items():
                if x0 <= x <= x1 and y0 <= y <= y1:
                    inside[caption].add("".join(text.itertext()))  # type: ignore[union-attr]
    return inside


def test_graphviz_draws_one_cluster_per_layer(tmp_path: Path) -> None:
    graph = build_lineage(_tree(tmp_path))
    clusters = _clusters(to_svg(graph))
    assert set(clusters) == {"Pub/Sub", "raw", "Spark", "staging", "dbt models", "marts", "GX"}
    assert set(clusters) <= set(LAYERS.values())
    assert clusters["Pub/Sub"] == {"Pub/Sub orders-events", "Pub/Sub customers-events"}
    assert clusters["raw"] == {"raw.orders_events", "raw.customers_events"}
    assert clusters["Spark"] == {"Spark orders_clean", "Spark customers_clean"}
    assert "dbt stg_orders" in clusters["dbt models"] and "dbt fct_daily_revenue" in clusters["marts"]
    assert "dbt fct_revenue_by_segment" in clusters["marts"]
    assert clusters["GX"] == {n.label for n in graph.nodes.values() if n.kind == "suite"}


def test_missing_dot_is_one_line_naming_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` there: the real binding fails to find it
    with pytest.raises(ConfigError, match="install the Debian package graphviz"):
        to_svg(build_lineage(_tree(tmp_path / "src")))


def test_a_yaml_snapshot_is_one_node_not_one_per_column(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "dbt" / "snapshots" / "customers" / "customers_history.yml").write_text(
        "version: 2\nsnapshots:\n- name: customers_history\n  relation: ref('stg_customers')\n"
        "  columns:\n  - name: customer_id\n  - name: segment\n"
    )
    graph = build_lineage(root)
    assert "model_customers_history" in graph.nodes
    assert "model_customer_id" not in graph.nodes and "model_segment" not in graph.nodes
    assert ("dbt stg_customers", "dbt snapshot customers_history") in _labels(graph)


def test_a_read_of_another_domain_outside_the_inputs_is_marked_undeclared(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "dbt" / "models" / "orders" / "stg_orders_peek.sql").write_text(
        "select * from {{ source('crm', 'customers') }}"
    )
    graph = build_lineage(root)
    assert graph.undeclared == [("staging_customers", "model_stg_orders_peek")]
    # revenue reads orders and customers: its inputs, so declared
    assert ("model_stg_orders", "model_fct_revenue_by_segment") in graph.edges
    assert "not declared" in to_svg(graph)
