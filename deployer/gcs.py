"""GCS access for every command: one client, counted HTTP requests, the library's retries, one-line errors.

Every request the deployer sends goes through a counting session, so a promotion can report exactly how
many API calls and uploads it made (benchmarks and the promotion report read these figures). Retries are
the library's own (`google.cloud.storage.retry.DEFAULT_RETRY`: 408/429/5xx and connection errors with
exponential backoff) bounded by a deadline, `DEPLOYER_GCS_RETRY_DEADLINE` seconds (default 60), so a
burst of faults is survived and a lasting one fails cleanly. Every write that could race carries a
generation precondition; a retried precondition write that meets 412 is read back and compared, because
the first attempt may have succeeded with its response lost.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlparse

import requests

from platform_model.errors import ConfigError

RETRY_DEADLINE_ENV = "DEPLOYER_GCS_RETRY_DEADLINE"
DEFAULT_RETRY_DEADLINE = 60.0


@dataclass
class Counters:
    """What one command sent to GCS; thread-safe."""

    requests: int = 0
    writes: int = 0
    uploads: int = 0
    uploaded_bytes: int = 0
    downloads: int = 0
    lists: int = 0
    copies: int = 0
    deletes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, amount: int = 1) -> None:
        """Add `amount` to the counter called `name`."""
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict (for reports and --json)."""
        with self._lock:
            return {
                "api_calls": self.requests,
                "writes": self.writes,
                "uploads": self.uploads,
                "uploaded_bytes": self.uploaded_bytes,
                "downloads": self.downloads,
                "lists": self.lists,
                "copies": self.copies,
                "deletes": self.deletes,
            }


@dataclass(frozen=True)
class ObjInfo:
    """One object as a listing reports it."""

    name: str
    size: int
    md5: str | None
    crc32c: str | None
    generation: int


@dataclass(frozen=True)
class Obj:
    """One object read with its generation."""

    data: bytes
    generation: int


def _counting_session(counters: Counters, credentials: Any) -> requests.Session:
    """A requests session that counts every request (every retry attempt too)."""
    if credentials is None:

        class _Plain(requests.Session):
            def request(self, *args: Any, **kwargs: Any) -> Any:
                counters.add("requests")
                return super().request(*args, **kwargs)

        session: requests.Session = _Plain()
    else:
        from google.auth.transport.requests import AuthorizedSession

        class _Authorized(AuthorizedSession):
            def request(self, *args: Any, **kwargs: Any) -> Any:
                counters.add("requests")
                return super().request(*args, **kwargs)  # type: ignore[no-untyped-call]

        session = _Authorized(credentials)  # type: ignore[no-untyped-call]
    # Parallel transfers share this session: as many pooled connections as workers (no reconnects).
    from deployer.transfer import workers

    adapter = requests.adapters.HTTPAdapter(pool_connections=16, pool_maxsize=max(32, workers()))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def retry_deadline() -> float:
    """Seconds the library's retries may take in total (`DEPLOYER_GCS_RETRY_DEADLINE`, default 60)."""
    raw = os.environ.get(RETRY_DEADLINE_ENV, "")
    if not raw:
        return DEFAULT_RETRY_DEADLINE
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{RETRY_DEADLINE_ENV}={raw!r} is not a number of seconds") from None
    if not 0 < value <= 3600:
        raise ConfigError(f"{RETRY_DEADLINE_ENV}={raw!r} must be between 0 and 3600 seconds")
    return value


def check_emulator_reachable(url: str) -> None:
    """Fail fast (one line, exit 2) when nothing listens at the emulator URL, instead of retrying."""
    parsed = urlparse(url if "://" in url else f"http://{url}")
    host, port = parsed.hostname or "127.0.0.1", parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=2):
            return
    except ConnectionRefusedError:
        reason = "connection refused"
    except OSError as exc:
        reason = exc.strerror or str(exc)
    raise ConfigError(
        f"cannot reach the GCS emulator at {url}: {reason} (start one: python -m deployer.emulator start)"
    )


class Gcs:
    """The deployer's view of Cloud Storage: list, read, write (with preconditions), copy, delete."""

    def __init__(self, project: str, *, emulator_url: str | None, credentials: Any = None) -> None:
        """Client for `project`: anonymous against the emulator at `emulator_url`, else with `credentials`."""
        from google.cloud import storage  # type: ignore[attr-defined]
        from google.cloud.storage.retry import DEFAULT_RETRY

        self.counters = Counters()
        self.emulator_url = emulator_url
        deadline = retry_deadline()
        self.retry = DEFAULT_RETRY.with_timeout(deadline).with_delay(
            initial=0.25, maximum=8.0, multiplier=2.0
        )
        if emulator_url:
            from google.auth.credentials import AnonymousCredentials

            check_emulator_reachable(emulator_url)
            session = _counting_session(self.counters, None)
            anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
            self.client = storage.Client(project=project, credentials=anonymous, _http=session)
        else:
            session = _counting_session(self.counters, credentials)
            self.client = storage.Client(project=project, credentials=credentials, _http=session)

    # -- buckets -----------------------------------------------------------------------------------

    def bucket_exists(self, name: str) -> bool:
        """Whether bucket `name` exists (one GET)."""
        return self.client.lookup_bucket(name, retry=self.retry) is not None

    def create_bucket(self, name: str, location: str, labels: dict[str, str]) -> None:
        """Create a bucket with versioning on (local platform only; infra creates them on GCP)."""
        from google.api_core.exceptions import Conflict

        bucket = self.client.bucket(name)
        bucket.versioning_enabled = True
        bucket.labels = labels
        # Created meanwhile by a concurrent command: what we wanted.
        with contextlib.suppress(Conflict):
            self.client.create_bucket(bucket, location=location, retry=self.retry)

    # -- objects -----------------------------------------------------------------------------------

    def list(self, bucket: str, prefix: str) -> dict[str, ObjInfo]:
        """Every object under `prefix` by name, with size, md5, crc32c and generation (one call per page)."""
        self.counters.add("lists")
        out: dict[str, ObjInfo] = {}
        # Only the fields read here: a page of 1,000 objects is a third of the full resource's bytes.
        fields = "items(name,size,md5Hash,crc32c,generation),nextPageToken"
        for blob in self.client.list_blobs(bucket, prefix=prefix, fields=fields, retry=self.retry):
            out[blob.name] = ObjInfo(
                blob.name, int(blob.size or 0), blob.md5_hash, blob.crc32c, int(blob.generation)
            )
        return out

    def read(self, bucket: str, name: str) -> Obj | None:
        """The object's bytes and generation, or None when it does not exist."""
        from google.api_core.exceptions import NotFound

        blob = self.client.bucket(bucket).blob(name)
        self.counters.add("downloads")
        try:
            data = blob.download_as_bytes(retry=self.retry)
        except NotFound:
            return None
        return Obj(data, int(blob.generation or 0))

    def generation(self, bucket: str, name: str) -> int | None:
        """The live generation of an object (metadata only), or None when it does not exist."""
        blob = self.client.bucket(bucket).get_blob(name, retry=self.retry)
        return None if blob is None else int(blob.generation)

    def write(
        self,
        bucket: str,
        name: str,
        data: bytes,
        *,
        if_generation_match: int | None = None,
        content_type: str = "application/octet-stream",
        bookkeeping: bool = False,
    ) -> int:
        """Write `data`; with `if_generation_match` the write happens only if the live generation is that one
        (0: only if absent). Raises google.api_core.exceptions.PreconditionFailed when the condition fails.
        `bookkeeping` writes (lock, state, audit, approvals, reports) are not counted as uploads.
        Returns the new generation."""
        from google.api_core.exceptions import PreconditionFailed

        blob = self.client.bucket(bucket).blob(name)
        try:
            blob.upload_from_string(
                data, content_type=content_type, if_generation_match=if_generation_match, retry=self.retry
            )
        except PreconditionFailed:
            if if_generation_match is None:
                raise
            # A retried attempt may meet the object its own lost-response first attempt wrote.
            current = self.read(bucket, name)
            if current is None or current.data != data:
                raise
            return current.generation
        self.counters.add("writes")
        if not bookkeeping:
            self.counters.add("uploads")
            self.counters.add("uploaded_bytes", len(data))
        return int(blob.generation or 0)

    def copy(
        self,
        src_bucket: str,
        src_name: str,
        dst_bucket: str,
        dst_name: str,
        *,
        source_generation: int | None = None,
        content_type: str | None = None,
    ) -> str | None:
        """Server-side copy of one object (of `source_generation` when given; with `content_type` when
        given, else the source's); returns the copy's MD5.

        A rewrite: one request when GCS can copy the bytes at once (same location and storage class),
        else it answers with a token and this sends the next call until the copy is done."""
        src = self.client.bucket(src_bucket).blob(src_name, generation=source_generation)
        dst = self.client.bucket(dst_bucket).blob(dst_name)
        if content_type is not None:
            dst.content_type = content_type
        token, _done, _total = dst.rewrite(src, retry=self.retry)
        while token is not None:
            token, _done, _total = dst.rewrite(src, token=token, retry=self.retry)
        self.counters.add("copies")
        return dst.md5_hash  # type: ignore[no-any-return]

    def delete(self, bucket: str, name: str, *, if_generation_match: int | None = None) -> bool:
        """Delete an object (conditioned on its generation when given); False when it was already gone."""
        from google.api_core.exceptions import NotFound

        blob = self.client.bucket(bucket).blob(name)
        try:
            blob.delete(if_generation_match=if_generation_match, retry=self.retry)
        except NotFound:
            return False
        self.counters.add("deletes")
        return True


def describe_error(exc: BaseException) -> str | None:
    """One line for a google-api-core / google-auth / requests failure, or None if `exc` is none of them."""
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exc

    emulator = os.environ.get("STORAGE_EMULATOR_HOST")
    where = f"the GCS emulator at {emulator}" if emulator else "Google Cloud"
    if isinstance(exc, gexc.RetryError):
        cause = exc.cause
        detail = describe_error(cause) if cause is not None else None
        return f"gave up after retrying for {retry_deadline():.0f}s: {detail or exc.message}"
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = "connection refused" if "refused" in str(exc).lower() else "connection failed"
        return f"cannot reach {where}: {reason}"
    if isinstance(exc, requests.exceptions.Timeout):
        return f"timed out talking to {where}"
    if isinstance(exc, requests.exceptions.RequestException):
        return f"request to {where} failed: {type(exc).__name__}"
    if isinstance(exc, gexc.NotFound):
        match = re.search(r"/b/([a-z0-9._-]+)(/o/([^?\s]+))?", str(exc.message))
        if match and not match.group(3):
            return f"bucket gs://{match.group(1)} does not exist ({where})"
        if match:
            return f"gs://{match.group(1)}/{unquote(match.group(3))} does not exist ({where})"
        return f"not found: {str(exc.message).splitlines()[0]} ({where})"
    if isinstance(exc, gexc.Forbidden):
        return f"permission denied by {where}: {exc.message}"
    if isinstance(exc, gexc.GoogleAPICallError):
        first = str(exc.message).splitlines()[0] if exc.message else type(exc).__name__
        if "/storage/v1/" not in first:
            where = "a Google API (Composer or Data Catalog)"
        return f"{where} answered {exc.code}: {first}"
    if isinstance(exc, gexc.GoogleAPIError):
        return f"{where}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    if isinstance(exc, auth_exc.GoogleAuthError):
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return (
            f"no usable Google credentials: {first} (run `gcloud auth application-default login` or use WIF)"
        )
    return None
