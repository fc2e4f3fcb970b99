"""Faults from the store: bursts of 503/429 are survived through the library's retries; a lasting fault
fails cleanly within the configured deadline. A small proxy on loopback answers the first N requests
with an error, then forwards to the emulator."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from tests.conftest import DeployerEnv
from tests.deployer.conftest import Releases
from tests.deployer.helpers import cli, one_line_error


class FaultProxy:
    """Forwards to `upstream`; the first `failures` requests get `status` instead (all of them if -1)."""

    def __init__(self, upstream: str, failures: int, status: int = 503) -> None:
        self.failures = failures
        self.failed = 0
        self.forwarded = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if proxy.failures < 0 or proxy.failed < proxy.failures:
                    proxy.failed += 1
                    payload = b'{"error": {"code": %d, "message": "injected"}}' % status
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                proxy.forwarded += 1
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in {"host", "content-length"}
                }
                resp = requests.request(
                    self.command,
                    upstream + self.path,
                    headers=headers,
                    data=body,
                    timeout=30,
                    allow_redirects=False,
                )
                self.send_response(resp.status_code)
                for key, value in resp.headers.items():
                    if key.lower() not in {
                        "content-length",
                        "transfer-encoding",
                        "connection",
                        "content-encoding",
                    }:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(resp.content)))
                self.end_headers()
                self.wfile.write(resp.content)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def published(env_with_releases: DeployerEnv, releases: Releases) -> Iterator[DeployerEnv]:
    assert cli("release", "publish", releases.a, "--env", "local").code == 0
    yield env_with_releases


@pytest.mark.parametrize("status", [503, 429])
def test_a_burst_of_faults_is_survived(
    published: DeployerEnv, releases: Releases, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    proxy = FaultProxy(published.emulator_url, failures=4, status=status)
    try:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy.url)
        result = cli("promote", "--env", "local", "--release", releases.a, "--yes", "--json")
    finally:
        proxy.close()
    assert result.code == 0, result.err
    assert proxy.failed == 4
    report = result.json()
    assert report["counters"]["api_calls"] >= proxy.forwarded
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", published.emulator_url)
    assert cli("drift", "--env", "local").code == 0


def test_a_lasting_fault_fails_cleanly_within_the_deadline(
    published: DeployerEnv, releases: Releases, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = FaultProxy(published.emulator_url, failures=-1)
    try:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy.url)
        monkeypatch.setenv("DEPLOYER_GCS_RETRY_DEADLINE", "2")
        started = time.monotonic()
        result = cli("promote", "--env", "local", "--release", releases.a, "--yes")
        elapsed = time.monotonic() - started
    finally:
        proxy.close()
    line = one_line_error(result)
    assert "gave up after retrying for 2s" in line and "503" in line
    assert elapsed < 20
    assert proxy.failed > 1, "the fault must have been retried"


def test_bad_retry_deadline(published: DeployerEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYER_GCS_RETRY_DEADLINE", "soon")
    assert "DEPLOYER_GCS_RETRY_DEADLINE" in one_line_error(cli("status", "--env", "local"))
