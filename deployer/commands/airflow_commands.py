"""`deployer airflow start|stop|status` (the local platform's real Airflow) and `deployer verify`."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from typing import Annotated, Any

import typer

from deployer.commands._common import EnvOption, JsonOption, emit_json, out
from platform_model.errors import ConfigError

airflow_app = typer.Typer(
    help="Run the local platform's Airflow (fed from the emulated Composer bucket).", no_args_is_help=True
)

StartTimeout = Annotated[float, typer.Option("--timeout", help="Seconds to wait for a healthy Airflow.")]


def _local_env(env: str | None) -> Any:
    from deployer.context import load_env

    environment = load_env(env)
    if environment.platform != "local":
        raise ConfigError(
            f"environment {environment.name} is on platform {environment.platform}: Composer runs its "
            "Airflow there (deployer airflow is for local environments)"
        )
    return environment


@airflow_app.command()
def start(env: EnvOption = None, timeout: StartTimeout = 240.0) -> None:
    """Start Airflow 3 (API server, scheduler, DAG processor, triggerer) on loopback for a local ENV,
    its DAGs folder synced every 2 s from the environment's Composer bucket (dags/, data/). Development
    mode: time-based schedules do not fire; trigger runs (UI, REST API), asset schedules work."""
    from deployer import airflow_local
    from deployer.context import EMULATOR_ENV

    environment = _local_env(env)
    if not os.environ.get(EMULATOR_ENV):
        raise ConfigError(
            f"{EMULATOR_ENV} is not set (start the emulator: python -m deployer.emulator start)"
        )
    running = airflow_local.read_running(environment.name)
    if running is not None:
        out().print(f"already running: {running.url} (pid {running.pid})", markup=False)
        return
    state = airflow_local.state_file(environment.name)
    home = state.parent / environment.name
    shutil.rmtree(home, ignore_errors=True)  # throw-away: every start begins with an empty database
    home.mkdir(parents=True)
    with open(home.parent / f"{environment.name}.log", "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "deployer.airflow_local",
                "serve",
                "--env",
                environment.name,
                "--home",
                str(home),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ConfigError(
                f"Airflow for {environment.name} did not start (exit {proc.returncode}): "
                f"see {home.parent / (environment.name + '.log')}"
            )
        running = airflow_local.read_running(environment.name)
        if running is not None:
            out().print(
                f"started Airflow for {environment.name}: {running.url} (user {running.user}, password in "
                f"{state}); syncing gs://{running.bucket}/dags and data/",
                markup=False,
            )
            return
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGTERM)
    raise ConfigError(f"Airflow for {environment.name} was not ready within {timeout:.0f}s")


@airflow_app.command()
def stop(env: EnvOption = None) -> None:
    """Stop the local Airflow of ENV and every process it started."""
    from deployer import airflow_local

    environment = _local_env(env)
    path = airflow_local.state_file(environment.name)
    running = airflow_local.read_running(environment.name)
    if running is None:
        path.unlink(missing_ok=True)
        out().print(f"not running for {environment.name}", markup=False)
        return
    os.kill(running.pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and airflow_local.read_running(environment.name) is not None:
        time.sleep(0.2)
    airflow_local.stop_groups([running.pid, *running.pgids], grace=5)
    path.unlink(missing_ok=True)
    out().print(f"stopped Airflow for {environment.name} (pid {running.pid})", markup=False)


@airflow_app.command()
def status(env: EnvOption = None, json_out: JsonOption = False) -> None:
    """Whether the local Airflow of ENV runs (exit 0) or not (exit 1), its URL and memory."""
    from deployer import airflow_local

    environment = _local_env(env)
    running = airflow_local.read_running(environment.name)
    data: dict[str, Any] = {"env": environment.name, "running": running is not None}
    if running is not None:
        data.update(
            url=running.url,
            pid=running.pid,
            bucket=running.bucket,
            rss_mib=round(airflow_local.process_tree_rss_kib([running.pid]) / 1024),
        )
    if json_out:
        emit_json(data)
    elif running is None:
        out().print(f"not running for {environment.name}", markup=False)
    else:
        out().print(
            f"running for {environment.name}: {running.url} (pid {running.pid}, "
            f"{data['rss_mib']} MiB), syncing gs://{running.bucket}",
            markup=False,
        )
    if running is None:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add `airflow start|stop|status` and `verify`."""
    app.add_typer(airflow_app, name="airflow")

    @app.command()
    def verify(
        env: EnvOption = None,
        release: Annotated[
            str | None,
            typer.Option("--release", "-r", help="The release expected live (default: the live one)."),
        ] = None,
        timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the release.")] = 600.0,
        json_out: JsonOption = False,
    ) -> None:
        """Wait until Airflow runs ENV's live release (every DAG parsed at its version), then pause the
        DAGs it no longer declares. Exit 0 live, 1 import errors or timeout, 2 bad arguments."""
        from deployer import verify as verifying
        from deployer.context import load_env, open_target
        from platform_model.manifest import check_release_id

        if timeout <= 0:
            raise ConfigError(f"--timeout: {timeout:g} is not a positive number of seconds")
        if release is not None:
            check_release_id(release)
        environment = load_env(env)
        target = open_target(environment)
        want = verifying.expected(target, release)
        api = verifying.api_for(target)
        verdict = verifying.verify(api, want, timeout=timeout)
        if json_out:
            emit_json(verdict.as_dict())
        else:
            console = out()
            if verdict.status == "live":
                console.print(
                    f"{want.release} live in {want.env} after {verdict.seconds:.0f} s "
                    f"({len(verdict.dags)} DAGs)",
                    markup=False,
                )
                for dag_id in verdict.paused_leftovers:
                    console.print(
                        f"  paused leftover {dag_id} (its file is no longer deployed)", markup=False
                    )
            else:
                what = (
                    "import errors" if verdict.status == "import_errors" else f"not live after {timeout:g} s"
                )
                console.print(
                    f"{want.release} in {want.env}: {what} ({verdict.seconds:.0f} s since promotion)",
                    markup=False,
                )
                for error in verdict.import_errors:
                    console.print(f"  import error {error['file']}: {error['message']}", markup=False)
                for dag_id, state in verdict.dags.items():
                    if state != "live":
                        console.print(f"  {dag_id}: {state}", markup=False)
        raise typer.Exit(verdict.exit_code)
