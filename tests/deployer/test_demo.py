"""`make demo`'s steps (not its set-up), end to end, exactly as the demo runs them."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from deployer.demo import STAGES
from platform_model.domain import load_domains

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_demo_runs_every_stage(tmp_path: Path) -> None:
    out, work = tmp_path / "out", tmp_path / "work"
    env = {k: v for k, v in os.environ.items() if k != "STORAGE_EMULATOR_HOST"}
    env["COLUMNS"] = "200"
    proc = subprocess.run(
        [sys.executable, "-m", "deployer.demo", "--out", str(out), "--work", str(work)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    text = proc.stdout
    for title, _ in STAGES:
        assert f" {title}" in text
    assert "NO " not in text.split("demo summary")[1]
    # the promotion moved what it should, and the gate refused before it granted
    assert "again: 0 uploaded" in text
    assert "requires an approval" in text and "approving your own request is not allowed" in text
    assert "drift" in text and "hand edit found" in text
    # the pipeline ran and the pictures and docs are there
    # every domain's daily DAG ran, the cross-domain one after the others, on their assets
    for dag_id in ("customers_daily", "orders_daily", "revenue_daily"):
        assert f"{dag_id} 2026-11-24 success in" in text
    assert text.index("customers_daily 2026-11-24 success") < text.index("revenue_daily 2026-11-24 success")
    assert "emitted asset x-platform://domains/orders" in text and "gx_validation" in text
    assert "validated 5 environment files and 3 domains" in text
    ET.parse(out / "lineage.svg")
    assert (out / "lineage.mmd").read_text().startswith("flowchart LR")
    for domain in ("orders", "customers", "revenue"):
        ET.parse(out / f"lineage-{domain}.svg")
    assert (out / "dbt-docs" / "index.html").is_file()
    index = (out / "gx-data-docs" / "index.html").read_text(encoding="utf-8")
    with_suites = [name for name, domain in load_domains(REPO / "domains").items() if domain.gx_suites]
    assert with_suites
    for name in with_suites:  # each domain's newest Data Docs site, linked from the index
        assert (out / "gx-data-docs" / name / "index.html").is_file()
        assert f'href="{name}/index.html"' in index
    # the emulator was stopped: nothing answers on its port any more
    port = int(re.search(r"fake-gcs-server at http://127\.0\.0\.1:(\d+)", text).group(1))  # type: ignore[union-attr]
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0
