"""A fault-injecting HTTP proxy on loopback, in front of the GCS emulator (tests and the reliability suite).

Point the deployer at it (`STORAGE_EMULATOR_HOST=proxy.url`) and choose a fault:

    proxy.fail(status=503, count=5)              the next 5 requests answer 503, then pass through
    proxy.fail(status=429, count=3, after=40)    40 requests pass, 3 answer 429, then pass through
    proxy.fail(status=503, rate=0.3, seed=1)     30 % of requests answer 503 (seeded), until cleared
    proxy.fail(status=503)                       every request answers 503 until `clear()`
    proxy.fail(mode="reset", count=4)            4 connections closed without an answer (emulator gone)
    proxy.fail(mode="lost", count=4)             4 requests reach the emulator, their answers become 503
                                                 (a lost response: the retry meets its own write)
    proxy.clear()                                pass everything through again

A `status` or `reset` fault is never forwarded, so the emulator never sees it: what the client retries is
exactly what a 5xx/429 or a dropped connection in front of GCS would make it retry. Only loopback; no TLS.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Literal
from urllib.parse import urlsplit

Mode = Literal["status", "reset", "lost"]
_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
)


@dataclass
class Fault:
    """What to do to requests: `after` pass, then `count` fail (None: until cleared), at `rate`."""

    mode: Mode = "status"
    status: int = 503
    count: int | None = None
    after: int = 0
    rate: float = 1.0
    seed: int | None = None


@dataclass
class Figures:
    """What the proxy saw."""

    requests: int = 0
    failed: int = 0
    forwarded: int = 0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        parts = urlsplit(upstream if "://" in upstream else f"http://{upstream}")
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.lock = threading.Lock()
        self.fault: Fault | None = None
        self.seen = 0
        self.fired = 0
        self.rng = random.Random()
        self.figures = Figures()

    def decide(self) -> Fault | None:
        """The fault to apply to this request, or None to forward it."""
        with self.lock:
            self.figures.requests += 1
            fault = self.fault
            if fault is None:
                self.figures.forwarded += 1
                return None
            self.seen += 1
            hit = (
                self.seen > fault.after
                and (fault.count is None or self.fired < fault.count)
                and (fault.rate >= 1.0 or self.rng.random() < fault.rate)
            )
            if hit:
                self.fired += 1
                self.figures.failed += 1
                return fault
            self.figures.forwarded += 1
            return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_fault(self, status: int) -> None:
        reason = "Too Many Requests" if status == 429 else "injected fault"
        data = json.dumps({"error": {"code": status, "message": reason}}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _forward(self) -> None:
        body = self._body()
        fault = self.server.decide()
        if fault is not None and fault.mode == "reset":
            self.close_connection = True
            self.connection.close()
            return
        if fault is not None and fault.mode == "status":
            self._send_fault(fault.status)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        if body or self.command in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body))
        conn = http.client.HTTPConnection(*self.server.upstream, timeout=60)
        try:
            conn.request(self.command, self.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException):
            self.send_error(502, "upstream unreachable")
            return
        finally:
            conn.close()
        if fault is not None:  # lost: the emulator acted, the client hears a failure
            self._send_fault(fault.status)
            return
        self.send_response(resp.status, resp.reason)
        for key, value in resp.getheaders():
            if key.lower() not in _HOP and key.lower() != "content-length":
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _forward


class FaultProxy:
    """A loopback proxy to `upstream` (http://host:port) that injects the configured fault."""

    def __init__(self, upstream: str) -> None:
        """Bind a free port on 127.0.0.1 (call `start` or use as a context manager)."""
        self._server = _Server(upstream)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FaultProxy:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the port."""
        self._server.shutdown()
        self._server.server_close()

    def fail(
        self,
        *,
        mode: Mode = "status",
        status: int = 503,
        count: int | None = None,
        after: int = 0,
        rate: float = 1.0,
        seed: int | None = None,
    ) -> None:
        """Inject a fault from now on (see the module docstring); resets the fault's own counters."""
        with self._server.lock:
            self._server.fault = Fault(mode, status, count, after, rate, seed)
            self._server.seen = 0
            self._server.fired = 0
            self._server.rng.seed(seed)

    def clear(self) -> None:
        """Forward everything again."""
        with self._server.lock:
            self._server.fault = None

    @property
    def fired(self) -> int:
        """Requests the current fault failed so far."""
        with self._server.lock:
            return self._server.fired

    def figures(self) -> Figures:
        """A copy of the proxy's counters."""
        with self._server.lock:
            f = self._server.figures
            return Figures(f.requests, f.failed, f.forwarded)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
