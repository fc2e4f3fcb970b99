"""A counting, latency-adding HTTP proxy on loopback, in front of the GCS emulator.

On loopback a GCS request costs ~2 ms, so neither parallel transfers nor saved round trips show. Real
GCS is tens of milliseconds away: this proxy waits `delay` seconds before forwarding each request, which
is what one round trip to a distant server costs a client. It also counts every request it forwards by
kind (list, upload, download, metadata, copy, delete, other): a count taken at the transport, independent
of the deployer's own counters.

    with LatencyProxy(emulator_url, delay=0.030) as proxy:
        os.environ["STORAGE_EMULATOR_HOST"] = proxy.url
        ...
        proxy.counts()   # {"total": 17, "list": 5, "upload": 1, ...}
        proxy.uploads()  # [(bucket, object name), ...]
        proxy.copies()   # [(source bucket, source name, bucket, object name), ...] (server-side copies)

Keep-alive is kept (HTTP/1.1 on both sides, one upstream connection per client connection), as a real
client keeps its TLS connections to GCS open.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, unquote, urlsplit

# Hop-by-hop headers are never forwarded (RFC 9110 7.6.1); lengths are recomputed.
_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
}
_OBJECTS_LIST = re.compile(r"^/storage/v1/b/[^/]+/o/?$")
_OBJECT = re.compile(r"^/(storage/v1|download/storage/v1)/b/[^/]+/o/.+")
_UPLOAD_BUCKET = re.compile(r"^/upload/storage/v1/b/([^/]+)/o")
_COPY = re.compile(r"^/storage/v1/b/([^/]+)/o/([^/]+)/(?:copyTo|rewriteTo)/b/([^/]+)/o/([^/]+)$")
_METADATA_NAME = re.compile(rb'"name"\s*:\s*"((?:[^"\\]|\\.)*)"')


def classify(method: str, path: str) -> str:
    """The kind of a GCS JSON API request: list, upload, download, metadata, copy, delete, bucket, other."""
    url = urlsplit(path)
    route, query = url.path, url.query
    if route.startswith("/upload/"):
        return "upload"
    if "/copyTo/" in route or "/rewriteTo/" in route or route.endswith("/compose"):
        return "copy"
    if method == "GET" and _OBJECTS_LIST.match(route):
        return "list"
    if _OBJECT.match(route):
        if method == "DELETE":
            return "delete"
        if method == "GET":
            return "download" if "alt=media" in query or route.startswith("/download/") else "metadata"
        return "metadata"
    if route.startswith("/storage/v1/b"):
        return "bucket"
    return "other"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: with Nagle on, the client's delayed ACK would add
    # ~40 ms to every response, far more than the latency this proxy is meant to add.
    disable_nagle_algorithm = True
    server: _Server
    _conn: http.client.HTTPConnection | None = None

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: a benchmark's output is its table."""

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

    def _forward(self) -> None:
        body = self._body()
        kind = classify(self.command, self.path)
        self.server.count(kind, f"{self.command} {self.path}")
        if kind == "upload":
            self.server.record_upload(self.path, body)
        elif kind == "copy":
            self.server.record_copy(self.path)
        if self.server.delay:
            time.sleep(self.server.delay)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        if body or self.command in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body))
        conn = self._upstream()
        try:
            conn.request(self.command, self.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException):
            # A dropped keep-alive connection upstream: one fresh attempt, then a 502.
            conn.close()
            self._conn = None
            try:
                conn = self._upstream()
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException):
                self.send_error(502, "upstream unreachable")
                return
        self.send_response(resp.status, resp.reason)
        for key, value in resp.getheaders():
            if key.lower() not in _HOP:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _upstream(self) -> http.client.HTTPConnection:
        conn = self._conn
        if conn is None:
            conn = http.client.HTTPConnection(
                self.server.upstream_host, self.server.upstream_port, timeout=60
            )
            self._conn = conn
        return conn

    def finish(self) -> None:
        if self._conn is not None:
            self._conn.close()
        super().finish()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _forward


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, upstream: str, delay: float) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        parts = urlsplit(upstream if "://" in upstream else f"http://{upstream}")
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.delay = delay
        self._counts: Counter[str] = Counter()
        self._uploads: list[tuple[str, str]] = []
        self._copies: list[tuple[str, str, str, str]] = []
        self._requests: list[str] = []
        self._lock = threading.Lock()

    def count(self, kind: str, request: str) -> None:
        with self._lock:
            self._counts[kind] += 1
            self._counts["total"] += 1
            self._requests.append(request)

    def record_upload(self, path: str, body: bytes) -> None:
        url = urlsplit(path)
        bucket = _UPLOAD_BUCKET.match(url.path)
        names = parse_qs(url.query).get("name")
        if names:
            name = names[0]
        else:  # multipart: the object's name is in the JSON metadata part
            found = _METADATA_NAME.search(body[:8192])
            name = json.loads(b'"' + found.group(1) + b'"') if found else "?"
        with self._lock:
            self._uploads.append((unquote(bucket.group(1)) if bucket else "?", name))

    def record_copy(self, path: str) -> None:
        url = urlsplit(path)
        found = _COPY.match(url.path)
        if found is None or "rewriteToken" in parse_qs(url.query):  # a rewrite's next call: counted once
            return
        src_bucket, src_name, bucket, name = (unquote(part) for part in found.groups())
        with self._lock:
            self._copies.append((src_bucket, src_name, bucket, name))

    def copies(self) -> list[tuple[str, str, str, str]]:
        with self._lock:
            return list(self._copies)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def uploads(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._uploads)

    def requests(self) -> list[str]:
        with self._lock:
            return list(self._requests)


class LatencyProxy:
    """A proxy on 127.0.0.1 forwarding to `upstream` after `delay` seconds per request; counts requests."""

    def __init__(self, upstream: str, delay: float = 0.030) -> None:
        """Prepare a proxy to `upstream` (http://host:port) adding `delay` seconds to every request."""
        self._server = _Server(upstream, delay)
        self.delay = delay
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread: threading.Thread | None = None

    def start(self) -> LatencyProxy:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="latency-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()

    def counts(self) -> dict[str, int]:
        """Requests forwarded so far, by kind, plus `total`."""
        return self._server.snapshot()

    def uploads(self) -> list[tuple[str, str]]:
        """(bucket, object name) of every upload forwarded so far, in order."""
        return self._server.uploads()

    def copies(self) -> list[tuple[str, str, str, str]]:
        """(source bucket, source name, bucket, object name) of every server-side copy so far, in order."""
        return self._server.copies()

    def requests(self) -> list[str]:
        """`METHOD path` of every request forwarded so far, in order (to see what a command sends)."""
        return self._server.requests()

    def __enter__(self) -> LatencyProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    """Counts between two snapshots (kinds that did not move are left out)."""
    return {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}
