"""One real Airflow 3 per test session (the local platform's), shared by the tests that import it.

    from tests import airflow_fixture
    local_airflow = airflow_fixture.local_airflow      # the fixtures, in the test module's namespace
    airflow_on = airflow_fixture.airflow_on

    def test_x(airflow_on):                       # deployer_env + Airflow fed from its `local` bucket
        airflow_on.sync_now()

`local_airflow` starts API server, scheduler, DAG processor and triggerer in a temp AIRFLOW_HOME and
at the end stops them and fails the session if any process with that AIRFLOW_HOME is left (`ps`).
`airflow_on` points the shared bucket sync at the test's Composer bucket of `local` (`feed("local-prod")`
switches) and sets DEPLOYER_AIRFLOW_URL/USER/PASSWORD for the deployer.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from deployer.airflow_local import BucketSync, LocalAirflow, SyncResult, processes_of
from deployer.emulator import Emulator
from deployer.gcs import Gcs
from deployer.verify import PASSWORD_ENV, URL_ENV, USER_ENV
from tests.conftest import DeployerEnv


@dataclass
class SessionAirflow:
    """The session's Airflow, its bucket sync and what it cost."""

    airflow: LocalAirflow
    sync: BucketSync
    started_seconds: float


@pytest.fixture(scope="session")
def local_airflow(
    gcs_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SessionAirflow]:
    """Airflow for the whole session (stopped at the end, also on failures and Ctrl-C)."""
    home = tmp_path_factory.mktemp("airflow-home")
    airflow = LocalAirflow(home)
    with pytest.MonkeyPatch.context() as patch:
        # The storage client reads the emulator's address from the environment when it is built.
        patch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.url)
        gcs = Gcs("acme-data-local", emulator_url=gcs_emulator.url)
    log = home / "sync.log"

    def note(line: str) -> None:
        with log.open("a") as handle:
            handle.write(line + "\n")

    sync = BucketSync(gcs, "unset", airflow.bucket_root, interval=1.0, log=note)
    begin = time.monotonic()
    sessions: list[int] = []
    with airflow:
        sessions = airflow.pgids()
        session = SessionAirflow(airflow, sync, time.monotonic() - begin)
        try:
            yield session
        finally:
            sync.stop()
            print(
                f"\nlocal Airflow: started in {session.started_seconds:.1f} s, "
                f"peak RSS {airflow.peak_rss_kib / 1024:.0f} MiB (sum of its processes)"
            )
    left = processes_of(home, sessions)
    if left:
        listing = subprocess.run(
            ["ps", "-o", "pid,pgid,args", "-p", ",".join(map(str, left))],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        pytest.fail(f"Airflow processes left after stop:\n{listing}")


@dataclass
class AirflowOn:
    """The session's Airflow fed from one test's Composer bucket."""

    session: SessionAirflow
    env: DeployerEnv
    bucket: str

    @property
    def airflow(self) -> LocalAirflow:
        """The running Airflow."""
        return self.session.airflow

    def feed(self, env_name: str) -> None:
        """Sync the Composer bucket of `env_name` from now on."""
        self.bucket = self.env.buckets(env_name)["composer"]
        self.session.sync.bucket = self.bucket

    def sync_now(self) -> SyncResult:
        """One sync pass right away (the background loop keeps running)."""
        return self.session.sync.run_once()


@pytest.fixture
def airflow_on(
    local_airflow: SessionAirflow,
    deployer_env: DeployerEnv,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[AirflowOn]:
    """The shared Airflow syncing this test's Composer bucket; the deployer pointed at its API."""
    bucket = deployer_env.buckets("local")["composer"]
    sync = local_airflow.sync
    sync.stop()
    sync.bucket = bucket
    monkeypatch.setenv(URL_ENV, local_airflow.airflow.url)
    monkeypatch.setenv(USER_ENV, "admin")
    monkeypatch.setenv(PASSWORD_ENV, local_airflow.airflow.password)
    sync.start()
    yield AirflowOn(local_airflow, deployer_env, bucket)
    local_airflow.airflow.sample_rss()
