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

from deployer.airflow_local import processes_of
from deployer.demo import STAGES, UI_DOM, UI_PICTURE
from platform_model.domain import load_domains

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow(seconds=170)
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
        timeout=1200,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    (tmp_path / "demo-output.txt").write_text(proc.stdout + proc.stderr, encoding="utf-8")  # to read back
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    text = proc.stdout
    for title, _ in STAGES:
        assert f" {title}" in text
    assert "NO " not in text.split("demo summary")[1]
    # the promotion moved what it should, and the gate refused before it granted
    assert "again: 0 uploaded" in text
    assert "requires an approval" in text and "approving your own request is not allowed" in text
    assert "drift" in text and "hand edit found" in text
    # the real local Airflow ran the promoted releases: verify saw each live (first promotion, the
    # one-DAG change, the rollback's)
    lives = re.findall(r"r-[0-9a-f]+ live in local after (\d+) s \((\d+) DAGs\)", text)
    assert len(lives) >= 3, text[-4000:]
    domains = load_domains(REPO / "domains")
    dag_ids = [dag_id for domain in domains.values() for dag_id in domain.dag_ids()]
    assert {int(count) for _seconds, count in lives} == {len(dag_ids)}
    assert re.search(r"Airflow UI: http://127\.0\.0\.1:\d+ ", text)
    # every domain's daily DAG ran in the scheduler: its tasks' states as the task instances API gave them
    daily = [domain.dag_id("daily") for domain in domains.values() if "daily" in domain.dags]
    assert len(daily) == 3
    for dag_id in daily:
        assert f"{dag_id} 2026-11-24 success in" in text
        states = re.search(rf"^{dag_id} 2026-11-24 task states \(scheduler\): (.+)$", text, re.M)
        assert states, f"no task states of {dag_id}"
        pairs = dict(pair.split("=") for pair in states.group(1).split())
        assert "dbt_build" in pairs and "gx_validate" in pairs and set(pairs.values()) == {"success"}
    # a domain with inputs was started by the scheduler from their asset events, not triggered by hand
    for domain in domains.values():
        dag_id = domain.dag_id("daily")
        if domain.inputs:
            assert re.search(rf"the scheduler started {dag_id} \S+ from its input assets", text)
            assert f"triggered {dag_id} " not in text
        else:
            assert f"triggered {dag_id} demo__2026-11-24" in text
    assert text.index("customers_daily 2026-11-24 success") < text.index("revenue_daily 2026-11-24 success")
    assert "emitted asset x-platform://domains/orders" in text and "gx_validation" in text
    assert "validated 5 environment files and 3 domains" in text
    ET.parse(out / "lineage.svg")
    assert (out / "lineage.mmd").read_text().startswith("flowchart LR")
    for domain in ("orders", "customers", "revenue"):
        ET.parse(out / f"lineage-{domain}.svg")
    # the lineage the runs observed: every domain's marts, the cross-domain one too, and no difference
    observed = ET.tostring(ET.parse(out / "lineage-observed.svg").getroot(), encoding="unicode")
    suites = [s for d in load_domains(REPO / "domains").values() for s in d.gx_suites.values()]
    marts = {s.table for s in suites if s.layer == "marts"}
    assert len(marts) > 3 and all(table in observed for table in marts)
    assert re.search(r"observed: \d+ events, \d+ edges; 0 difference\(s\)", text)
    assert (out / "dbt-docs" / "index.html").is_file()
    index = (out / "gx-data-docs" / "index.html").read_text(encoding="utf-8")
    with_suites = [name for name, domain in load_domains(REPO / "domains").items() if domain.gx_suites]
    assert with_suites
    for name in with_suites:  # each domain's newest Data Docs site, linked from the index
        assert (out / "gx-data-docs" / name / "index.html").is_file()
        assert f'href="{name}/index.html"' in index
    # the UI's DAG list, screenshot by headless Chromium, and the rendered page lists every daily DAG
    assert (out / UI_PICTURE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dom = (out / UI_DOM).read_text(encoding="utf-8")
    for dag_id in daily:
        assert f">{dag_id}<" in dom, dag_id
    # Airflow was stopped with every process it started
    assert processes_of(work / "airflow" / "local") == []
    assert "0 processes left with AIRFLOW_HOME=" in text
    # the emulator was stopped: nothing answers on its port any more
    port = int(re.search(r"fake-gcs-server at http://127\.0\.0\.1:(\d+)", text).group(1))  # type: ignore[union-attr]
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0
