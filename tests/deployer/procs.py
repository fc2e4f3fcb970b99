"""Deployer processes a test can stop at a named phase (DEPLOYER_TEST_PAUSE_AT) and SIGKILL there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import DeployerEnv


class Paused:
    """`python -m deployer ARGS` started with DEPLOYER_TEST_PAUSE_AT=phase, waiting until it pauses there."""

    def __init__(self, env: DeployerEnv, args: list[str], phase: str, workdir: Path) -> None:
        """Start the process (call `wait_paused` next)."""
        workdir.mkdir(parents=True, exist_ok=True)
        self.signal_file = workdir / f"paused-{os.getpid()}-{time.monotonic_ns()}"
        self.stderr_path = workdir / f"stderr-{time.monotonic_ns()}.txt"
        self.phase = phase
        environ = env.environ(DEPLOYER_TEST_PAUSE_AT=phase, DEPLOYER_TEST_PAUSE_SIGNAL=str(self.signal_file))
        with open(self.stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "deployer", *args],
                env=environ,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )

    def wait_paused(self, timeout: float = 90) -> None:
        """Wait until the process announced the pause; fail with its stderr if it ended instead."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.signal_file.exists():
                return
            if self.proc.poll() is not None:
                code = self.proc.returncode
                raise AssertionError(
                    f"process ended (exit {code}) before pausing at {self.phase}: {self.stderr()}"
                )
            time.sleep(0.05)
        self.kill()
        raise AssertionError(f"process did not pause at {self.phase} within {timeout}s: {self.stderr()}")

    def stderr(self) -> str:
        """What the process wrote on stderr so far."""
        return self.stderr_path.read_text(errors="replace")

    def kill(self, sig: int = signal.SIGKILL) -> int:
        """Send `sig` and reap the process; returns its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=60)
