"""`make demo`: the whole product on one machine, no cloud account.

Each stage runs the real commands a user would type (the `deployer` CLI, the synth, the policies) against
a GCS emulator on loopback, and the pipelines on a real Airflow 3 (`deployer airflow start`: API server,
scheduler, DAG processor, triggerer) fed from the emulated Composer bucket, and shows what they print.
Airflow and the emulator are stopped at the end, also on failure or Ctrl-C. Running the demo twice
works: every run starts a fresh emulator and Airflow and rebuilds what it needs.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from platform_model.domain import load_domains
from platform_model.environment import load_environment

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
# soft_wrap: a printed line is never broken (the test and a reader grep them); tables keep the width.
console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 120)

LOCAL_ENV = "local"
PROD_LIKE_ENV = "local-prod"
DEMO_DATE = "2026-11-24"
# One ingest day: each day costs a full round of DAG runs on this machine's scheduler (minutes on two
# cores); `--days 2` gives dbt's snapshot history (the second day changes some customer profiles).
SAMPLE_DAYS = 1
UI_PICTURE = "airflow-dags.png"
UI_DOM = "airflow-dags.html"
RUN_TIMEOUT_SECONDS = 900.0


def changed_dag() -> str:
    """The DAG file the demo edits: the first domain's (any would do)."""
    return f"{sorted(load_domains())[0]}.py"


class DemoError(Exception):
    """A stage failed; the message says which command and why."""


@dataclass
class Stage:
    """One stage of the demo and what it showed."""

    name: str
    seconds: float = 0.0
    ok: bool = False
    note: str = ""


@dataclass
class Demo:
    """State carried between stages."""

    out: Path
    work: Path
    env: dict[str, str]
    days: int = SAMPLE_DAYS
    stages: list[Stage] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def run(
        self,
        args: Sequence[str],
        *,
        expect: int | Sequence[int] = 0,
        show: bool = True,
        cwd: Path | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command, echo it like a shell would, show its output, check its exit code."""
        codes = (expect,) if isinstance(expect, int) else tuple(expect)
        shown = " ".join("python" if a == PY else a for a in args)
        console.print(f"$ {shown}", style="dim", markup=False)
        env = {**self.env, **(extra_env or {})}
        proc = subprocess.run(
            list(args),
            cwd=cwd or REPO,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if show:
            for stream in (proc.stdout, proc.stderr):
                text = stream.rstrip()
                if text:
                    console.print(text, markup=False)
        if proc.returncode not in codes:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
            raise DemoError(f"`{shown}` exited {proc.returncode} (expected {codes}): {tail[0]}")
        return proc

    def deployer(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """Run the deployer CLI."""
        return self.run([PY, "-m", "deployer", *args], **kwargs)

    def deployer_json(self, *args: str, **kwargs: Any) -> Any:
        """Run the deployer CLI with --json and parse what it prints."""
        proc = self.deployer(*args, "--json", show=False, **kwargs)
        return json.loads(proc.stdout)


# -- stages ------------------------------------------------------------------------------------------


def stage_validate(d: Demo) -> str:
    """Validate every environment file and the domains each deploys."""
    proc = d.deployer("validate")
    ok = [line for line in proc.stdout.splitlines() if line.startswith("ok  ")]
    last = [line for line in proc.stdout.splitlines() if line.startswith("validated ")]
    return last[-1] if last else f"{len(ok)} environment files valid"


def stage_synth(d: Demo) -> str:
    """Synthesize the dev, staging and prod stacks (skipped when the inputs are unchanged)."""
    d.run([PY, "-m", "infra.synth"])
    stacks = sorted(p.parent.name for p in (REPO / "cdktf.out" / "stacks").glob("*/cdk.tf.json"))
    counts = []
    for name in stacks:
        doc = json.loads((REPO / "cdktf.out" / "stacks" / name / "cdk.tf.json").read_text())
        counts.append(f"{name} {sum(len(v) for v in doc.get('resource', {}).values())} resources")
    return ", ".join(counts)


def stage_policies(d: Demo) -> str:
    """checkov (built-in and ours) on every stack."""
    proc = d.run([PY, "-m", "policies.checkov_run"])
    last = [line for line in proc.stdout.splitlines() if line.strip()]
    return last[-1] if last else "clean"


def stage_build(d: Demo) -> str:
    """Build the release from this repository (the DAG parse check per environment within its budget,
    and the cross-layer checks, included)."""
    out = d.deployer_json("release", "build")
    d.facts["r1"] = out["release"]
    slowest = (out.get("dag_parse") or {}).get("slowest") or {}
    worst = max(slowest.items(), key=lambda item: item[1]["ms"], default=None)
    parse = f"; slowest DAG parse {worst[1]['file']} {worst[1]['ms']} ms ({worst[0]})" if worst else ""
    return (
        f"{out['release']}: {out.get('files', '?')} files, checks {', '.join(out.get('checks', []))}{parse}"
    )


def stage_emulator(d: Demo) -> str:
    """Start the GCS emulator on loopback (stopped at the end, also on failure or Ctrl-C)."""
    from deployer.emulator import Emulator

    emulator = Emulator(log_file=d.work / "emulator.log").start()
    d.facts["emulator"] = emulator
    d.env["STORAGE_EMULATOR_HOST"] = emulator.url
    os.environ["STORAGE_EMULATOR_HOST"] = emulator.url  # for the in-process clients below
    return f"fake-gcs-server at {emulator.url}"


def stage_publish(d: Demo) -> str:
    """Publish the release to the release store, twice: the second time changes nothing."""
    first = d.deployer_json("release", "publish", d.facts["r1"], "--env", LOCAL_ENV)
    again = d.deployer_json("release", "publish", d.facts["r1"], "--env", LOCAL_ENV)
    return f"uploaded {first.get('uploaded')} files; published again: {again.get('uploaded')} uploads"


def stage_promote(d: Demo) -> str:
    """Plan, then promote the release to the `local` environment; promote again: nothing moves."""
    d.deployer("plan", "--env", LOCAL_ENV, "--release", d.facts["r1"])
    first = d.deployer_json(
        "promote", "--env", LOCAL_ENV, "--release", d.facts["r1"], "--yes", "--as", "alice"
    )
    again = d.deployer_json(
        "promote", "--env", LOCAL_ENV, "--release", d.facts["r1"], "--yes", "--as", "alice"
    )
    d.deployer("status", "--env", LOCAL_ENV)
    return f"first: {_moved(first)}; again: {_moved(again)}"


def stage_airflow(d: Demo) -> str:
    """Start the real local Airflow, fed from `local`'s Composer bucket (`deployer airflow start`), and
    wait with `deployer verify` until it runs the promoted release."""
    d.deployer("airflow", "start", "--env", LOCAL_ENV)
    running = _running()
    console.print(f"Airflow UI: {running.url} (loopback only; user {running.user})", markup=False)
    return f"{running.url}; {_verify(d, d.facts['r1'])}"


def _running() -> Any:
    """The local Airflow as `deployer airflow start` recorded it."""
    from deployer import airflow_local

    running = airflow_local.read_running(LOCAL_ENV)
    if running is None:
        raise DemoError(f"no local Airflow is running ({airflow_local.state_file(LOCAL_ENV)})")
    return running


def _verify(d: Demo, release: str) -> str:
    """`deployer verify` for `release`; its "live after N s" line (the seconds kept in the facts)."""
    proc = d.deployer("verify", "--env", LOCAL_ENV, "--release", release, "--timeout", "600")
    line = next((t for t in proc.stdout.splitlines() if " live in " in t), proc.stdout.strip())
    found = re.search(r"after (\d+) s", line)
    if found:
        d.facts.setdefault("live_seconds", []).append(int(found.group(1)))
    return line.strip()


def _moved(report: dict[str, Any]) -> str:
    figures = report.get("figures", report)
    return f"{figures.get('uploaded', '?')} uploaded, {figures.get('archived', 0)} archived"


def _source_copy(d: Demo) -> Path:
    """A copy of the release inputs, to change one DAG without touching the user's tree."""
    src = d.work / "src"
    if src.exists():
        shutil.rmtree(src)
    ignore = shutil.ignore_patterns("__pycache__", "target", "logs", "dbt_packages", ".user.yml")
    for part in ("composer", "dbt", "gx", "domains", "dataproc_jobs", "environments"):
        shutil.copytree(REPO / part, src / part, ignore=ignore)
    return src


def stage_change_dag(d: Demo) -> str:
    """Change one DAG, build and promote again: only that file moves, the old one is archived."""
    src = _source_copy(d)
    dag = src / "composer" / "dags" / changed_dag()
    text = dag.read_text(encoding="utf-8")
    dag.write_text(text + "\n# demo: a one-line change to show an incremental promotion\n", encoding="utf-8")
    out = d.deployer_json("release", "build", "--root", str(src))
    d.facts["r2"] = out["release"]
    d.deployer("release", "publish", d.facts["r2"], "--env", LOCAL_ENV, show=False)
    d.deployer("plan", "--env", LOCAL_ENV, "--release", d.facts["r2"])
    report = d.deployer_json(
        "promote", "--env", LOCAL_ENV, "--release", d.facts["r2"], "--yes", "--as", "alice"
    )
    d.facts["r2_report"] = report
    return f"{d.facts['r2']}: {_moved(report)}; {_verify(d, d.facts['r2'])}"


def stage_drift(d: Demo) -> str:
    """Edit a DAG by hand in the bucket; `deployer drift` finds it (exit 1); promoting again repairs it."""
    env = load_environment(LOCAL_ENV)
    blob = _client(d).bucket(env.composer.dag_bucket).blob(f"dags/{changed_dag()}")
    blob.upload_from_string(blob.download_as_bytes() + b"\n# edited by hand in the bucket\n")
    d.deployer("drift", "--env", LOCAL_ENV, expect=1)
    d.deployer(
        "promote", "--env", LOCAL_ENV, "--release", d.facts["r2"], "--yes", "--as", "alice", show=False
    )
    d.deployer("drift", "--env", LOCAL_ENV)
    return "hand edit found (exit 1), repaired by promoting again"


def stage_approval(d: Demo) -> str:
    """Promote to the prod-like env: refused without approval; request (alice), grant (bob), promote."""
    r2 = d.facts["r2"]
    refused = d.deployer(
        "promote", "--env", PROD_LIKE_ENV, "--release", r2, "--yes", "--as", "alice", expect=1
    )
    reason = refused.stderr.strip().splitlines()[-1].removeprefix("error: ").split(" (digest")[0]
    req = d.deployer_json("approval", "request", "--env", PROD_LIKE_ENV, "--release", r2, "--as", "alice")
    request_id = req.get("request_id") or req.get("id")
    d.deployer("approval", "grant", str(request_id), "--env", PROD_LIKE_ENV, "--as", "alice", expect=1)
    d.deployer("approval", "grant", str(request_id), "--env", PROD_LIKE_ENV, "--as", "bob")
    d.deployer("approval", "list", "--env", PROD_LIKE_ENV)
    listed = d.deployer_json("approval", "list", "--env", PROD_LIKE_ENV)
    mine = [a for a in listed["approvals"] if str(request_id) in json.dumps(a)]
    granted_by = sorted({str(a["granted_by"]) for a in mine if a.get("granted_by")})
    report = d.deployer_json("promote", "--env", PROD_LIKE_ENV, "--release", r2, "--yes", "--as", "alice")
    return (
        f"refused: {reason}; self-grant refused; granted by {', '.join(granted_by) or '?'}; "
        f"promoted: {_moved(report)}"
    )


def stage_rollback(d: Demo) -> str:
    """Roll `local` back to the first release, then show status and the audit log."""
    d.deployer("rollback", "--env", LOCAL_ENV, "--yes", "--as", "alice")
    status = d.deployer_json("status", "--env", LOCAL_ENV)
    if status["release"] != d.facts["r1"]:
        raise DemoError(f"rollback left {status['release']} live, expected {d.facts['r1']}")
    d.deployer("audit", "--env", LOCAL_ENV)
    d.deployer("audit", "--env", PROD_LIKE_ENV)
    entries = d.deployer_json("audit", "--env", LOCAL_ENV)
    count = len(entries.get("entries", entries)) if isinstance(entries, dict) else len(entries)
    return f"{status['release']} live again; {count} audit entries in local"


def stage_lineage(d: Demo) -> str:
    """Write the release's declared lineage as Mermaid and SVG: the platform, and one per domain."""
    proc = d.deployer("lineage", "--release", d.facts["r1"], "--out", str(d.out))
    pictures = [line.removeprefix("wrote ") for line in proc.stdout.splitlines() if line.endswith(".svg")]
    return f"{len(pictures)} pictures: " + ", ".join(Path(p).name for p in pictures)


def stage_observed_lineage(d: Demo) -> str:
    """Draw the lineage the runs observed (the local Airflow's OpenLineage events) beside the declared one,
    and let `deployer check` compare them."""
    proc = d.deployer("lineage", "--env", LOCAL_ENV, "--out", str(d.out))
    summary = next((line for line in proc.stdout.splitlines() if line.startswith("observed: ")), None)
    if summary is None or not (d.out / "lineage-observed.svg").is_file():
        raise DemoError(f"the runs left no OpenLineage events to draw: {proc.stdout.strip()[-300:]}")
    d.deployer("check", "--only", "pii-tags", "--lineage-env", LOCAL_ENV)
    return f"lineage-observed.svg; {summary.removeprefix('observed: ')}"


def _client(d: Demo) -> Any:
    """A storage client on the emulator (the deployer's own, anonymous)."""
    from deployer.gcs import Gcs

    return Gcs(load_environment(LOCAL_ENV).project, emulator_url=d.env["STORAGE_EMULATOR_HOST"]).client


def _api(d: Demo, method: str, path: str, body: Any = None) -> Any:
    """One call on the local Airflow's REST API, as its admin (a JWT from the simple auth manager)."""
    from deployer import airflow_local

    running = _running()
    if "token" not in d.facts:
        d.facts["token"] = airflow_local.fetch_token(running.url, running.user, running.password)
    headers = {"Authorization": f"Bearer {d.facts['token']}"}
    return airflow_local.call_json(running.url, method, path, body, headers)


def _sample_rss(d: Demo) -> None:
    """The Airflow's resident memory now (every process under `deployer airflow start`), peak kept."""
    from deployer import airflow_local

    running = airflow_local.read_running(LOCAL_ENV)
    if running is not None:
        now = airflow_local.process_tree_rss_kib([running.pid])
        d.facts["peak_rss_kib"] = max(d.facts.get("peak_rss_kib", 0), now)


def _runtime_config() -> dict[str, Any]:
    """The runtime config the Airflow runs (its DAGs folder, as synced from the bucket)."""
    from composer.local_run import RUNTIME_CONFIG_NAME

    folder = Path(_running().home) / "gcs" / "dags"
    return dict(json.loads((folder / RUNTIME_CONFIG_NAME).read_text(encoding="utf-8")))


def _run_path(dag_id: str, run_id: str) -> str:
    return f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}"


def _wait_run(d: Demo, dag_id: str, run_id: str) -> dict[str, Any]:
    """Poll a DAG run until the scheduler ends it; the run as the API gives it."""
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while True:
        run = dict(_api(d, "GET", _run_path(dag_id, run_id)))
        if run["state"] in ("success", "failed"):
            return run
        if time.monotonic() > deadline:
            raise DemoError(f"{dag_id} run {run_id} still {run['state']} after {RUN_TIMEOUT_SECONDS:.0f}s")
        _sample_rss(d)
        time.sleep(2)


def _wait_asset_run(d: Demo, dag_id: str, seen: set[str]) -> str:
    """The id of the next run the scheduler started for `dag_id` from asset events (not in `seen`)."""
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        runs = _api(d, "GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100")["dag_runs"]
        new = [r for r in runs if r["run_type"] == "asset_triggered" and r["dag_run_id"] not in seen]
        if new:
            seen.add(new[0]["dag_run_id"])
            return str(new[0]["dag_run_id"])
        _sample_rss(d)
        time.sleep(2)
    raise DemoError(
        f"the scheduler started no {dag_id} run from its input assets within {RUN_TIMEOUT_SECONDS:.0f}s"
    )


def _seconds(run: dict[str, Any]) -> float:
    start, end = run.get("start_date"), run.get("end_date")
    if not start or not end:
        return 0.0
    return (dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)).total_seconds()


def _result(d: Demo, dag_id: str, run: dict[str, Any], day: str) -> Any:
    """A run as the scheduler recorded it: task states (task instances API), the structured lines its
    tasks logged (task logs API) and the asset events it emitted (assets API)."""
    from composer.local_run import RunResult, parse_events

    path = _run_path(dag_id, run["dag_run_id"])
    tasks = _api(d, "GET", f"{path}/taskInstances?limit=100")["task_instances"]
    tasks.sort(key=lambda t: t.get("start_date") or "")
    lines: list[str] = []
    for task in tasks:
        if not task.get("try_number"):
            continue
        log = _api(
            d, "GET", f"{path}/taskInstances/{task['task_id']}/logs/{task['try_number']}?full_content=true"
        )
        for item in log.get("content") or []:
            lines.append(str(item.get("event", "")) if isinstance(item, dict) else str(item))
    query = urllib.parse.urlencode(
        {"source_dag_id": dag_id, "source_run_id": run["dag_run_id"], "limit": 100}
    )
    for attempt in range(15):  # see _run_day: a 500 while a run an event created is queued
        try:
            emitted = _api(d, "GET", f"/api/v2/assets/events?{query}")["asset_events"]
            break
        except urllib.error.HTTPError as exc:
            if exc.code != 500 or attempt == 14:
                raise
            time.sleep(2)
    return RunResult(
        dag_id=dag_id,
        logical_date=day,
        success=run["state"] == "success" and all(t["state"] == "success" for t in tasks),
        returncode=0 if run["state"] == "success" else 1,
        duration_seconds=round(_seconds(run), 1),
        task_states={t["task_id"]: str(t["state"]) for t in tasks},
        events=parse_events("\n".join(lines)),
        asset_events=[
            {"uri": e.get("uri"), "task_id": e.get("source_task_id"), "extra": e.get("extra")}
            for e in emitted
        ],
        log_path=Path(_running().home) / "logs" / f"dag_id={dag_id}" / f"run_id={run['dag_run_id']}",
    )


def _run_day(d: Demo, day: str, dags: dict[str, Any], seen: set[str]) -> list[Any]:
    """One day: trigger every daily DAG with a schedule (REST API, logical date `day`), then wait for
    the runs the scheduler starts from their assets for the DAGs scheduled on them, in input order."""
    triggered: dict[str, str] = {}
    for dag_id, dag in dags.items():
        if dag["schedule"] is None:
            continue
        body = {"dag_run_id": f"demo__{day}", "logical_date": f"{day}T00:00:00Z", "conf": {}}
        run = _api(d, "POST", f"/api/v2/dags/{dag_id}/dagRuns", body)
        console.print(
            f"triggered {dag_id} {run['dag_run_id']} (POST /api/v2/dags/{dag_id}/dagRuns)", markup=False
        )
        triggered[dag_id] = run["dag_run_id"]
    finished = [(dag_id, _wait_run(d, dag_id, run_id)) for dag_id, run_id in triggered.items()]
    for dag_id, dag in dags.items():
        if dag["schedule"] is not None:
            continue
        run_id = _wait_asset_run(d, dag_id, seen)
        console.print(f"the scheduler started {dag_id} {run_id} from its input assets", markup=False)
        finished.append((dag_id, _wait_run(d, dag_id, run_id)))
    # Read once every run of the day ended: Airflow 3.1's asset events API answers 500 while a run an
    # event created is still queued (its start_date null fails the response model).
    return [_result(d, dag_id, run, day) for dag_id, run in finished]


def stage_pipeline(d: Demo) -> str:
    """Every domain's daily DAG on the real local Airflow, as promoted: sample raw events in its
    warehouse; the DAGs with a schedule triggered through the REST API, the cross-domain one started by
    the scheduler on their assets; watched to success, with each run's task states from the scheduler
    and the rows in and out of each step (Spark local, dbt on DuckDB, GX)."""
    from composer.local_run import write_sample_events

    _verify(d, d.facts["r1"])  # the rollback's release is the one the runs get
    running = _running()
    warehouse = Path(running.home) / "warehouse"  # PLATFORM_LOCAL_WAREHOUSE of the Airflow's tasks
    written = write_sample_events(warehouse, DEMO_DATE, rows=2000, days=d.days)
    console.print(f"sample raw events in {warehouse}: {written}", markup=False)
    config = _runtime_config()
    dags = {
        dag_id: dag
        for domain in config["domains"].values()
        for dag_id, dag in domain["dags"].items()
        if dag["kind"] == "daily"
    }
    last = dt.date.fromisoformat(DEMO_DATE)
    days = [(last - dt.timedelta(days=n)).isoformat() for n in range(d.days - 1, -1, -1)]
    seen: set[str] = set()
    results = [r for day in days for r in _run_day(d, day, dags, seen)]
    table = Table(
        title=f"every domain's daily DAG on the local Airflow, {d.days} day(s) to {DEMO_DATE}: "
        "task states from the scheduler, rows in and out of each step"
    )
    for column in ("DAG", "day", "task", "state", "records in", "records out", "rejected", "seconds"):
        table.add_column(column, justify="left" if column in ("DAG", "day", "task", "state") else "right")
    for result in results:
        for task_id in result.task_order():
            m = result.task_metrics(task_id) or {}
            table.add_row(
                result.dag_id,
                result.logical_date,
                task_id,
                result.task_states[task_id],
                *(str(m.get(k, "")) for k in ("records_in", "records_out", "records_rejected")),
                f"{m.get('duration_seconds', '')}",
            )
    console.print(table)
    for result in results:
        states = " ".join(f"{task}={state}" for task, state in result.task_states.items())
        console.print(
            f"{result.dag_id} {result.logical_date} task states (scheduler): {states}", markup=False
        )
        for line in result.lines("gx_validation"):
            console.print(json.dumps(line), markup=False)
        for event in result.asset_events:
            console.print(f"{result.dag_id} emitted asset {event.get('uri')}", markup=False)
    failed = [r for r in results if not r.success]
    if failed:
        raise DemoError("; ".join(f"{r.dag_id} failed: {r.task_states} (logs: {r.log_path})" for r in failed))
    for r in results:
        console.print(f"{r.dag_id} {r.logical_date} success in {r.duration_seconds:.0f}s", markup=False)
    d.facts["pipeline"] = results
    d.facts["warehouse"] = warehouse
    return "; ".join(f"{r.dag_id} {r.logical_date} success in {r.duration_seconds:.0f}s" for r in results)


def stage_airflow_ui(d: Demo) -> str:
    """Screenshot the Airflow UI's DAG list with headless Chromium, once it shows every DAG of the
    release, and save the rendered page beside it."""
    from deployer import airflow_local

    running = _running()
    dag_ids = sorted(dag_id for domain in _runtime_config()["domains"].values() for dag_id in domain["dags"])
    _api(d, "GET", "/api/v2/version")  # a fresh token for the browser's cookie
    png, dom = d.out / UI_PICTURE, d.out / UI_DOM
    seconds = airflow_local.ui_snapshot(running.url, d.facts["token"], "/dags", dag_ids, png, dom)
    console.print(
        f"Airflow UI: {running.url}/dags rendered {len(dag_ids)} DAGs in {seconds:.1f}s", markup=False
    )
    console.print(f"wrote {png} and {dom}", markup=False)
    return f"{running.url}/dags: {png.name} ({png.stat().st_size // 1024} KiB), {dom.name}"


def stage_docs(d: Demo) -> str:
    """Write the dbt docs and the GX Data Docs of the local run to the output folder."""
    warehouse: Path = d.facts["warehouse"]
    written = []
    docs = d.out / "dbt-docs"
    # A copy: the Airflow's data/ folder is a mirror of the bucket, files dbt leaves there are swept.
    synced = next((Path(_running().home) / "gcs" / "data" / "dbt").iterdir())
    project = d.work / "dbt-docs-project"
    if project.exists():
        shutil.rmtree(project)
    shutil.copytree(synced, project)
    d.run(
        [
            str(Path(PY).parent / "dbt"),
            "docs",
            "generate",
            "--target",
            "local",
            "--profiles-dir",
            ".",
            "--target-path",
            str(docs),
        ],
        cwd=project,
        show=False,
        extra_env={"PLATFORM_LOCAL_WAREHOUSE": str(warehouse)},
    )
    if not (docs / "index.html").is_file():
        raise DemoError(f"dbt docs generate wrote no {docs / 'index.html'}")
    written.append(str(docs / "index.html"))
    gx_docs = d.out / "gx-data-docs"
    newest: dict[str, Path] = {}  # domain -> its newest day's Data Docs (gx_docs/<domain>/<date>/)
    for index in sorted(warehouse.glob("gx_docs/*/*/index.html")):
        newest[index.parent.parent.name] = index.parent
    if not newest:
        raise DemoError(f"the GX validations wrote no Data Docs under {warehouse / 'gx_docs'}")
    if gx_docs.exists():
        shutil.rmtree(gx_docs)
    for domain, site in newest.items():
        shutil.copytree(site, gx_docs / domain)
    links = "".join(
        f'<li><a href="{html.escape(n)}/index.html">{html.escape(n)}</a> ({html.escape(site.name)})</li>'
        for n, site in newest.items()
    )
    (gx_docs / "index.html").write_text(
        f"<!doctype html><title>GX Data Docs</title><h1>GX Data Docs, per domain</h1><ul>{links}</ul>\n",
        encoding="utf-8",
    )
    written.append(f"{gx_docs / 'index.html'} ({len(newest)} domains)")
    return ", ".join(written)


STAGES: list[tuple[str, Callable[[Demo], str]]] = [
    ("validate the environment files", stage_validate),
    ("synthesize the stacks", stage_synth),
    ("run the policies", stage_policies),
    ("build the release", stage_build),
    ("start the GCS emulator", stage_emulator),
    ("publish the release", stage_publish),
    ("plan and promote to local", stage_promote),
    ("start the local Airflow and verify", stage_airflow),
    ("change one DAG and promote", stage_change_dag),
    ("drift after a hand edit", stage_drift),
    ("prod approval gate", stage_approval),
    ("roll back and audit", stage_rollback),
    ("lineage", stage_lineage),
    ("run every domain's daily DAG on Airflow", stage_pipeline),
    ("observed lineage", stage_observed_lineage),
    ("the Airflow UI's DAG list", stage_airflow_ui),
    ("dbt docs and GX Data Docs", stage_docs),
]


def _airflow_processes(home: Path) -> list[int]:
    """Pids of the demo's Airflow: its components (AIRFLOW_HOME=`home`) and the `serve` process."""
    from deployer.airflow_local import processes_of

    found = set(processes_of(home))
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"deployer.airflow_local" in args and str(home).encode() in args:
            found.add(int(entry.name))
    return sorted(found - {os.getpid()})


def stop_airflow(d: Demo, home: Path) -> None:
    """`deployer airflow stop`, then make sure no process of the demo's Airflow is left (TERM, KILL)."""
    from deployer.airflow_local import read_running

    with_state = read_running(LOCAL_ENV) is not None
    if with_state:
        _sample_rss(d)
        try:
            d.deployer("airflow", "stop", "--env", LOCAL_ENV)
        except (DemoError, OSError) as exc:
            console.print(f"deployer airflow stop: {exc}", markup=False)
    left = _airflow_processes(home)
    for sig in (signal.SIGTERM, signal.SIGKILL):  # an interrupted start leaves no state file to stop by
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 20
        while left and time.monotonic() < deadline:
            time.sleep(0.2)
            left = _airflow_processes(home)
    if with_state or left:
        peak = d.facts.get("peak_rss_kib", 0) / 1024
        console.print(
            f"local Airflow stopped: {len(left)} processes left with AIRFLOW_HOME={home}; "
            f"peak RSS {peak:.0f} MiB (sum of its processes)",
            markup=False,
        )


def main(argv: list[str] | None = None) -> int:
    """Run every stage, show progress stage by stage and a summary; stop Airflow and the emulator
    whatever happens."""
    from deployer.airflow_local import STATE_DIR_ENV, state_file

    parser = argparse.ArgumentParser(prog="python -m deployer.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "demo-output", help="where pictures and docs go")
    parser.add_argument("--work", type=Path, default=REPO / ".gen" / "demo", help="scratch folder")
    parser.add_argument("--skip", action="append", default=[], help="skip a stage by function name")
    parser.add_argument(
        "--days", type=int, default=SAMPLE_DAYS, help="ingest days the pipelines run, ending at the demo date"
    )
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error(f"--days: {args.days} is not a positive number of days")
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("GX_ANALYTICS_ENABLED", "false")
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    env["DEPLOYER_RELEASES_DIR"] = str(args.work / "releases")
    env.setdefault("COLUMNS", "120")  # the commands' rich output is not a terminal here
    # The demo's own Airflow state (and AIRFLOW_HOME) under the scratch folder, for it and the deployer.
    env[STATE_DIR_ENV] = os.environ[STATE_DIR_ENV] = str(args.work.resolve() / "airflow")
    airflow_home = state_file(LOCAL_ENV).parent / LOCAL_ENV
    demo = Demo(out=args.out.resolve(), work=args.work.resolve(), env=env, days=args.days)
    started = time.monotonic()
    failed: str | None = None
    try:
        for number, (title, func) in enumerate(STAGES, 1):
            if func.__name__ in args.skip:
                continue
            console.rule(f"[bold]{number}/{len(STAGES)} {title}")
            stage = Stage(title)
            demo.stages.append(stage)
            t0 = time.monotonic()
            try:
                stage.note = func(demo)
                stage.ok = True
            finally:
                stage.seconds = time.monotonic() - t0
    except DemoError as exc:
        failed = str(exc)
    except Exception as exc:  # a stage broke: say which, keep the summary and stop the emulator
        console.print_exception(max_frames=3)
        failed = f"{type(exc).__name__}: {exc}"
    except KeyboardInterrupt:
        failed = "interrupted"
    finally:
        try:
            stop_airflow(demo, airflow_home)
        finally:
            emulator = demo.facts.get("emulator")
            if emulator is not None:
                emulator.stop()
    summary = Table(title=f"demo summary ({time.monotonic() - started:.0f}s)")
    for column in ("stage", "ok", "seconds", "what it showed"):
        summary.add_column(column)
    for stage in demo.stages:
        summary.add_row(stage.name, "yes" if stage.ok else "NO", f"{stage.seconds:.1f}", stage.note)
    console.print(summary)
    if demo.facts.get("live_seconds"):
        seconds = ", ".join(f"{n} s" for n in demo.facts["live_seconds"])
        console.print(f"promote to live on {LOCAL_ENV} (deployer verify): {seconds}", markup=False)
    if failed:
        console.print(Panel(f"demo failed: {failed}", style="red"))
        return 1
    console.print(Panel(f"pictures and docs are in {demo.out}", style="green"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
