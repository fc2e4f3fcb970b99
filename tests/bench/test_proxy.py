"""The latency proxy: forwards to the real emulator, adds its delay to every request, counts by kind."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bench.proxy import LatencyProxy, classify, delta
from deployer.emulator import Emulator


@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        ("GET", "/storage/v1/b/bkt/o?prefix=dags%2F&projection=noAcl", "list"),
        ("POST", "/upload/storage/v1/b/bkt/o?uploadType=multipart", "upload"),
        ("GET", "/download/storage/v1/b/bkt/o/dags%2Fa.py?alt=media", "download"),
        ("GET", "/storage/v1/b/bkt/o/deployer%2Flock?projection=noAcl", "metadata"),
        ("DELETE", "/storage/v1/b/bkt/o/deployer%2Flock?ifGenerationMatch=3", "delete"),
        ("POST", "/storage/v1/b/bkt/o/a/rewriteTo/b/other/o/b", "copy"),
        ("GET", "/storage/v1/b/bkt?projection=noAcl", "bucket"),
    ],
)
def test_classify(method: str, path: str, kind: str) -> None:
    assert classify(method, path) == kind


def _client(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", endpoint)
    return storage.Client(project="bench-test", credentials=AnonymousCredentials())


def test_proxy_forwards_counts_and_delays(gcs_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    delay = 0.05
    with LatencyProxy(gcs_emulator.url, delay=delay) as proxy:
        client = _client(proxy.url, monkeypatch)
        bucket = client.create_bucket("bench-proxy-test")
        started = time.perf_counter()
        for i in range(3):
            bucket.blob(f"dags/f{i}.py").upload_from_string(f"print({i})\n".encode())
        elapsed = time.perf_counter() - started
        before = proxy.counts()
        listed = sorted(b.name for b in client.list_blobs("bench-proxy-test", prefix="dags/"))
        data = bucket.blob("dags/f1.py").download_as_bytes()
        counted = delta(proxy.counts(), before)
        uploads = proxy.uploads()
        copied = bucket.blob("copies/f1 copy.py")
        copied.rewrite(bucket.blob("dags/f1.py"))
        copies = proxy.copies()
    assert listed == ["dags/f0.py", "dags/f1.py", "dags/f2.py"]
    assert data == b"print(1)\n"
    assert elapsed >= 3 * delay
    assert counted == {"list": 1, "download": 1, "total": 2}
    assert uploads == [("bench-proxy-test", f"dags/f{i}.py") for i in range(3)]
    assert copies == [("bench-proxy-test", "dags/f1.py", "bench-proxy-test", "copies/f1 copy.py")]
    # Seen directly at the emulator, too: the proxy wrote what it was given.
    direct = _client(gcs_emulator.url, monkeypatch)
    assert direct.bucket("bench-proxy-test").blob("dags/f2.py").download_as_bytes() == b"print(2)\n"


def test_proxy_without_delay_passes_errors_through(
    gcs_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.api_core.exceptions import NotFound

    with LatencyProxy(gcs_emulator.url, delay=0) as proxy:
        client = _client(proxy.url, monkeypatch)
        with pytest.raises(NotFound):
            client.bucket("bench-proxy-missing").blob("x").download_as_bytes()
        assert proxy.counts()["download"] == 1
