"""`deployer release build|publish`: build the immutable bundle once, publish it to the release store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from deployer.commands._common import EnvOption, JsonOption, emit_json, out

release_app = typer.Typer(help="Build and publish releases.", no_args_is_help=True)


@release_app.command("build")
def build(
    json_out: JsonOption = False,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Releases folder (default: $DEPLOYER_RELEASES_DIR or build/releases)."),
    ] = None,
    root: Annotated[
        Path | None, typer.Option("--root", help="Source tree to build (default: the repository).")
    ] = None,
    jobs_dir: Annotated[
        Path | None,
        typer.Option(
            "--jobs-dir",
            help="Already-built Spark artifacts (jobs.json + files) instead of running the build.",
        ),
    ] = None,
    skip_checks: Annotated[
        bool, typer.Option("--skip-checks", help="Do not run the cross-layer checks.")
    ] = False,
    dag_parse_budget_ms: Annotated[
        int | None,
        typer.Option(
            "--dag-parse-budget-ms",
            help="Parse budget of one DAG file in ms (default: $DEPLOYER_DAG_PARSE_BUDGET_MS or 200).",
            show_default=False,
        ),
    ] = None,
    no_cache: Annotated[
        bool,
        typer.Option(
            "--no-cache",
            help="Redo every step (Spark build, DAG parses, checks); default: reuse the results of "
            "unchanged inputs from $DEPLOYER_BUILD_CACHE or build/cache.",
        ),
    ] = False,
) -> None:
    """Build a release: DAGs (parsed with Airflow's DagBag and each environment's runtime config, within
    their parse budget), Spark artifacts, dbt, GX, domains, manifest."""
    from deployer import log
    from deployer.commands.check_commands import import_crosslayer
    from platform_model import REPO_ROOT

    with import_crosslayer():  # the build runs the cross-layer checks: a broken one stops it here
        import policies.crosslayer  # noqa: F401
        from deployer.release import build_release, default_releases_dir

    def progress(msg: str) -> None:
        log.event("release_build_step", step=msg)

    result = build_release(
        (root or REPO_ROOT),
        out_dir or default_releases_dir(),
        jobs_dir=jobs_dir,
        run_checks=not skip_checks,
        dag_parse_budget=dag_parse_budget_ms,
        progress=progress,
        use_cache=not no_cache,
    )
    summary = result.summary()
    log.event("release_built", release=result.release, files=summary["files"], reused=result.reused)
    if json_out:
        emit_json(summary)
        return
    verb = "unchanged" if result.reused else "built"
    counts = ", ".join(f"{n} {c}" for c, n in summary["components"].items())
    out().print(
        f"{verb} {result.release}: {summary['files']} files ({counts}), {summary['bytes']} bytes",
        markup=False,
    )
    out().print(f"  {result.path}", markup=False)
    parse = summary["dag_parse"]
    if parse:
        slowest = ", ".join(f"{env} {s['file']} {s['ms']:.0f} ms" for env, s in parse["slowest"].items())
        out().print(
            f"  DAG parse (budget {parse['budget_ms']} ms per file), slowest: {slowest}", markup=False
        )
    steps = summary["timings"]
    if steps:
        shown = ", ".join(
            f"{step} {t:.1f}s{' (cached)' if step in summary['cached'] else ''}" for step, t in steps.items()
        )
        out().print(f"  {result.seconds:.1f}s: {shown}", markup=False)
    git = summary["git"]
    if git["commit"]:
        out().print(f"  git {git['commit'][:12]}{' (dirty tree)' if git['dirty'] else ''}", markup=False)


@release_app.command("publish")
def publish(
    release: Annotated[str, typer.Argument(help="Release id to publish, e.g. r-0123456789ab.")],
    env: EnvOption = None,
    from_dir: Annotated[
        Path | None,
        typer.Option("--from", help="Releases folder (default: $DEPLOYER_RELEASES_DIR or build/releases)."),
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Upload a built release to the release store of ENV (files first, the manifest last and once)."""
    from deployer.context import load_env, open_target
    from deployer.release import load_local
    from deployer.store import ReleaseStore
    from platform_model.manifest import check_release_id

    check_release_id(release)
    environment = load_env(env)
    local = load_local(release, from_dir)
    target = open_target(environment)
    target.ensure_buckets(target.store)
    result = ReleaseStore(target.gcs, target.store).publish(local, quiet=json_out)
    data = {**result.as_dict(), "counters": target.gcs.counters.as_dict()}
    if json_out:
        emit_json(data)
        return
    state = "published" if result.manifest_written else "already published"
    out().print(
        f"{state} {release} to {data['store']}: {result.uploaded} uploaded, {result.skipped} already there",
        markup=False,
    )
    out().print(f"  manifest digest {result.digest}", markup=False)


def register(app: typer.Typer) -> None:
    """Add `deployer release ...`."""
    app.add_typer(release_app, name="release")
