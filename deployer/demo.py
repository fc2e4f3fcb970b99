"""`make demo`: the whole product on one machine, no cloud account.

Each stage runs the real commands a user would type (the `deployer` CLI, the synth, the policies, the
Airflow DAG) against a GCS emulator on loopback, and shows what they print. The emulator is stopped at
the end, also on failure or Ctrl-C. Running the demo twice works: every run starts a fresh emulator
and rebuilds what it needs.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import shutil
import subprocess
import sys
import time
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
console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)

LOCAL_ENV = "local"
PROD_LIKE_ENV = "local-prod"
DEMO_DATE = "2026-11-24"
SAMPLE_DAYS = 2  # two ingest days: the second changes some customer profiles, so dbt's snapshot keeps history


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
    return f"{d.facts['r2']}: {_moved(report)}"


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


def _client(d: Demo) -> Any:
    """A storage client on the emulator (the deployer's own, anonymous)."""
    from deployer.gcs import Gcs

    return Gcs(load_environment(LOCAL_ENV).project, emulator_url=d.env["STORAGE_EMULATOR_HOST"]).client


def _download_prefix(bucket: Any, prefix: str, dest: Path) -> int:
    count = 0
    for blob in bucket.list_blobs(prefix=prefix):
        target = dest / blob.name
        target.parent.mkdir(parents=True, exist_ok=True)
        blob.download_to_filename(str(target))
        count += 1
    return count


def stage_pipeline(d: Demo) -> str:
    """Run every domain's daily DAG with `airflow dags test` on the Composer bucket as promoted, a domain
    after its inputs (Spark local, dbt on DuckDB, GX), and show the rows in and out of each step."""
    from composer.local_run import run_daily_dags, write_sample_events

    env = load_environment(LOCAL_ENV)
    mount = d.work / "composer-bucket"
    if mount.exists():
        shutil.rmtree(mount)
    bucket = _client(d).bucket(env.composer.dag_bucket)
    files = _download_prefix(bucket, "dags/", mount) + _download_prefix(bucket, "data/", mount)
    console.print(f"mounted gs://{env.composer.dag_bucket} ({files} objects) at {mount}", markup=False)
    written = write_sample_events(mount / "data" / "warehouse", DEMO_DATE, rows=2000, days=SAMPLE_DAYS)
    console.print(f"sample raw events: {written}", markup=False)
    os.environ.update({k: v for k, v in d.env.items() if k == "STORAGE_EMULATOR_HOST"})
    results = run_daily_dags(mount / "dags", DEMO_DATE, days=SAMPLE_DAYS)
    table = Table(
        title=f"every domain's daily DAG, {SAMPLE_DAYS} days to {DEMO_DATE}: rows in and out of each step"
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
        for line in result.lines("gx_validation"):
            console.print(json.dumps(line), markup=False)
        for event in result.asset_events:
            console.print(f"{result.dag_id} emitted asset {event.get('uri')}", markup=False)
    failed = [r for r in results if not r.success]
    if failed:
        raise DemoError("; ".join(f"{r.dag_id} failed: {r.task_states} (log: {r.log_path})" for r in failed))
    for r in results:
        console.print(f"{r.dag_id} {r.logical_date} success in {r.duration_seconds:.0f}s", markup=False)
    d.facts["pipeline"] = results
    d.facts["mount"] = mount
    return "; ".join(f"{r.dag_id} {r.logical_date} success in {r.duration_seconds:.0f}s" for r in results)


def stage_docs(d: Demo) -> str:
    """Write the dbt docs and the GX Data Docs of the local run to the output folder."""
    mount: Path = d.facts["mount"]
    written = []
    docs = d.out / "dbt-docs"
    project = next((mount / "data" / "dbt").iterdir())
    warehouse = mount / "data" / "warehouse"
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
    ("change one DAG and promote", stage_change_dag),
    ("drift after a hand edit", stage_drift),
    ("prod approval gate", stage_approval),
    ("roll back and audit", stage_rollback),
    ("lineage", stage_lineage),
    ("run every domain's daily DAG end to end", stage_pipeline),
    ("dbt docs and GX Data Docs", stage_docs),
]


def main(argv: list[str] | None = None) -> int:
    """Run every stage, show progress stage by stage and a summary; stop the emulator whatever happens."""
    parser = argparse.ArgumentParser(prog="python -m deployer.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "demo-output", help="where pictures and docs go")
    parser.add_argument("--work", type=Path, default=REPO / ".gen" / "demo", help="scratch folder")
    parser.add_argument("--skip", action="append", default=[], help="skip a stage by function name")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("GX_ANALYTICS_ENABLED", "false")
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    env["DEPLOYER_RELEASES_DIR"] = str(args.work / "releases")
    env.setdefault("COLUMNS", "120")  # the commands' rich output is not a terminal here
    demo = Demo(out=args.out.resolve(), work=args.work.resolve(), env=env)
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
        emulator = demo.facts.get("emulator")
        if emulator is not None:
            emulator.stop()
    summary = Table(title=f"demo summary ({time.monotonic() - started:.0f}s)")
    for column in ("stage", "ok", "seconds", "what it showed"):
        summary.add_column(column)
    for stage in demo.stages:
        summary.add_row(stage.name, "yes" if stage.ok else "NO", f"{stage.seconds:.1f}", stage.note)
    console.print(summary)
    if failed:
        console.print(Panel(f"demo failed: {failed}", style="red"))
        return 1
    console.print(Panel(f"pictures and docs are in {demo.out}", style="green"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
