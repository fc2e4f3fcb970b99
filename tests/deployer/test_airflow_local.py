"""The local platform's Airflow: the one-way bucket sync (GCS emulator) and `deployer airflow
start|status|stop`, which must leave no process behind (`ps`)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deployer.airflow_local import BucketSync, LocalAirflow, processes_of, sync_once
from deployer.gcs import Gcs
from tests.conftest import DeployerEnv
from tests.deployer.helpers import cli, one_line_error, run


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def listening_addresses(pids: list[int]) -> set[str]:
    """`ip:port` of every listening TCP socket the processes hold (from /proc: no `ss -p` needed)."""
    inodes: set[str] = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A" or fields[9] not in inodes:  # 0A: LISTEN
                continue
            host, port = fields[1].split(":")
            if len(host) == 8:
                ip = ".".join(str(b) for b in reversed(bytes.fromhex(host)))
            else:
                ip = "::1" if host == "0" * 24 + "01000000" else f"[{host}]"
            found.add(f"{ip}:{int(port, 16)}")
    return found


def test_sync_mirrors_dags_and_data_one_way(deployer_env: DeployerEnv, tmp_path: Path) -> None:
    gcs = Gcs("acme-data-local", emulator_url=deployer_env.emulator_url)
    bucket = deployer_env.buckets("local")["composer"]
    gcs.create_bucket(bucket, "EU", {})
    for name, data in {
        "dags/a.py": b"a = 1\n",
        "dags/lib/helpers.py": b"h = 1\n",
        "data/dbt/x/dbt_project.yml": b"name: platform\n",
        "logs/not-synced.txt": b"composer writes logs here\n",
    }.items():
        gcs.write(bucket, name, data)
    root = tmp_path / "gcs"
    first = sync_once(gcs, bucket, root)
    assert sorted(first.downloaded) == ["dags/a.py", "dags/lib/helpers.py", "data/dbt/x/dbt_project.yml"]
    # what the DAG file imports is on disk before the DAG file (no parse sees it without its library)
    assert first.downloaded.index("dags/lib/helpers.py") < first.downloaded.index("dags/a.py")
    assert _tree(root) == {
        "dags/a.py": b"a = 1\n",
        "dags/lib/helpers.py": b"h = 1\n",
        "data/dbt/x/dbt_project.yml": b"name: platform\n",
    }
    again = sync_once(gcs, bucket, root)
    assert again.downloaded == [] and again.deleted == []
    gcs.write(bucket, "dags/a.py", b"a = 2\n")
    gcs.delete(bucket, "dags/lib/helpers.py")
    (root / "dags" / "stray.py").write_text("not in the bucket\n")
    third = sync_once(gcs, bucket, root)
    assert third.downloaded == ["dags/a.py"]
    assert sorted(third.deleted) == ["dags/lib/helpers.py", "dags/stray.py"]
    assert _tree(root) == {"dags/a.py": b"a = 2\n", "data/dbt/x/dbt_project.yml": b"name: platform\n"}
    assert not (root / "dags" / "lib").exists()


def test_the_background_loop_follows_the_bucket(deployer_env: DeployerEnv, tmp_path: Path) -> None:
    gcs = Gcs("acme-data-local", emulator_url=deployer_env.emulator_url)
    bucket = deployer_env.buckets("local")["composer"]
    gcs.create_bucket(bucket, "EU", {})
    root = tmp_path / "gcs"
    with BucketSync(gcs, bucket, root, interval=0.2):
        gcs.write(bucket, "dags/new.py", b"x = 1\n")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (root / "dags" / "new.py").is_file():
            time.sleep(0.1)
        assert (root / "dags" / "new.py").read_bytes() == b"x = 1\n"
        gcs.delete(bucket, "dags/new.py")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (root / "dags" / "new.py").exists():
            time.sleep(0.1)
        assert not (root / "dags" / "new.py").exists()


def test_airflow_commands_refuse_bad_input_in_one_line(deployer_env: DeployerEnv) -> None:
    assert "nowhere" in one_line_error(cli("airflow", "start", "--env", "nowhere"))
    status = cli("airflow", "status", "--env", "local", "--json")
    assert status.code == 1 and json.loads(status.out)["running"] is False
    assert cli("airflow", "stop", "--env", "local").code == 0  # nothing to stop: says so


@pytest.mark.slow
def test_start_status_stop_leave_nothing_running(deployer_env: DeployerEnv, tmp_path: Path) -> None:
    environ = deployer_env.environ(DEPLOYER_AIRFLOW_STATE_DIR=str(tmp_path / "airflow"))
    started = run(["airflow", "start", "--env", "local"], environ, timeout=300)
    try:
        assert started.code == 0, (started.out, started.err)
        assert "started Airflow for local: http://127.0.0.1:" in started.out
        state = json.loads((tmp_path / "airflow" / "local.json").read_text())
        assert state["url"].startswith("http://127.0.0.1:")
        status = run(["airflow", "status", "--env", "local", "--json"], environ)
        assert status.code == 0 and status.json()["running"] is True, status.err
        home = Path(state["home"])
        assert (
            len(processes_of(home, state["pgids"])) >= 4
        )  # api-server, scheduler, dag-processor, triggerer (+ children)
        # Loopback only: every listening socket of those processes is on 127.0.0.1.
        ours = listening_addresses(processes_of(home, state["pgids"]))
        assert f"127.0.0.1:{state['url'].rsplit(':', 1)[1]}" in ours
        assert all(address.startswith("127.0.0.1:") for address in ours), ours
    finally:
        stopped = run(["airflow", "stop", "--env", "local"], environ, timeout=120)
    assert stopped.code == 0, stopped.err
    left = processes_of(Path(state["home"]), state["pgids"])
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True).stdout
    assert left == [], ps
    assert run(["airflow", "status", "--env", "local"], environ).code == 1


CRON_AND_ASSET_DAGS = """
import datetime as dt
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, Asset

with DAG("nightly", schedule="0 2 * * *", start_date=dt.datetime(2026, 1, 1), catchup=True):
    EmptyOperator(task_id="build", outlets=[Asset("x-test://built")])
with DAG("on_built", schedule=[Asset("x-test://built")], start_date=dt.datetime(2026, 1, 1)):
    EmptyOperator(task_id="use")
with DAG("by_hand", schedule=None, start_date=dt.datetime(2026, 1, 1)):
    EmptyOperator(task_id="once")
"""

PARSE = """
import json
from airflow.models.dagbag import DagBag
from airflow.configuration import conf
bag = DagBag(conf.get("core", "dags_folder"))
print(json.dumps({"errors": bag.import_errors, "dags": {
    i: [type(d.timetable).__name__, d.catchup] for i, d in bag.dags.items()}}))
"""


@pytest.mark.slow
def test_time_based_schedules_are_off_and_asset_schedules_kept(tmp_path: Path) -> None:
    # What the DAG processor of a LocalAirflow parses: Airflow itself loads the cluster policy from
    # $AIRFLOW_HOME/config, so a daily DAG with catchup does not start a backfill of the past year.
    airflow = LocalAirflow(tmp_path / "home")
    airflow.prepare()
    (airflow.dags_folder / "dags.py").write_text(CRON_AND_ASSET_DAGS)
    done = subprocess.run(
        [sys.executable, "-c", PARSE], env=airflow.environ(), capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-2000:]
    parsed = json.loads(done.stdout.strip().splitlines()[-1])
    assert parsed["errors"] == {}
    assert parsed["dags"] == {
        "nightly": ["NullTimetable", False],
        "on_built": ["AssetTriggeredTimetable", False],
        "by_hand": ["NullTimetable", False],
    }
