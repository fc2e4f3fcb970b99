"""The cache of results that need not be computed again: each under the digest of its inputs.

The release build keeps its steps' results here (`deployer.release`), and the policy run its checkov
report (`policies.checkov_run`): `$DEPLOYER_BUILD_CACHE`, else `build/cache` in the repository. A key is
the sha256 of everything the result depends on; a result is never patched, only replaced whole.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from platform_model import REPO_ROOT

BUILD_CACHE_ENV = "DEPLOYER_BUILD_CACHE"


def hash_files(digest: Any, files: Iterable[tuple[str, Path]]) -> None:
    """Feed `digest` each (label, path) in label order: the label, the length and the bytes."""
    for label, path in sorted(files):
        data = path.read_bytes()
        digest.update(f"{label}\0{len(data)}\0".encode())
        digest.update(data)


def default_cache_dir() -> Path:
    """Where the build keeps what it need not redo: `$DEPLOYER_BUILD_CACHE`, else `build/cache`."""
    return Path(os.environ.get(BUILD_CACHE_ENV) or REPO_ROOT / "build" / "cache")


class BuildCache:
    """Results of a build's steps (a release build's, checkov's report), each under the digest of its
    inputs (`<dir>/<kind>/<key>`).

    An entry appears whole or not at all: it is written into a temporary name in the same folder and
    renamed into place (a killed build leaves only a temporary name, swept by a later build), and a
    folder entry carries the sha256 of its files, checked when it is used.
    """

    def __init__(self, directory: Path) -> None:
        self.dir = directory

    def _sweep(self, kind_dir: Path) -> None:
        cutoff = time.time() - 3600  # a build in progress in another process renames its entry sooner
        for stale in kind_dir.glob(".tmp-*"):
            with contextlib.suppress(OSError):
                if stale.stat().st_mtime < cutoff and stale.is_dir():
                    shutil.rmtree(stale)
                elif stale.stat().st_mtime < cutoff:
                    stale.unlink()

    def folder(self, kind: str, key: str, make: Callable[[Path], object]) -> tuple[Path, bool]:
        """The folder of files cached as `kind/key` (made by `make(empty folder)` if missing or damaged);
        returns it and whether it was there."""
        kind_dir = self.dir / kind
        final = kind_dir / key
        if self._intact(final):
            return final / "files", True
        kind_dir.mkdir(parents=True, exist_ok=True)
        self._sweep(kind_dir)
        tmp = kind_dir / f".tmp-{uuid.uuid4().hex[:12]}"
        try:
            make(tmp / "files")
            digests = {
                p.relative_to(tmp / "files").as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted((tmp / "files").rglob("*"))
                if p.is_file()
            }
            (tmp / "digests.json").write_text(json.dumps(digests, indent=1, sort_keys=True), encoding="utf-8")
            if final.exists():  # damaged: replaced, never patched
                trash = kind_dir / f".tmp-{uuid.uuid4().hex[:12]}"
                with contextlib.suppress(OSError):
                    final.rename(trash)
                shutil.rmtree(trash, ignore_errors=True)
            try:
                tmp.rename(final)
            except OSError:
                if not self._intact(final):  # another build renamed its own entry first: use that one
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return final / "files", False

    @staticmethod
    def _intact(entry: Path) -> bool:
        try:
            digests = json.loads((entry / "digests.json").read_text(encoding="utf-8"))
            found = {
                p.relative_to(entry / "files").as_posix() for p in (entry / "files").rglob("*") if p.is_file()
            }
            if found != set(digests):
                return False
            return all(
                hashlib.sha256((entry / "files" / rel).read_bytes()).hexdigest() == sha
                for rel, sha in digests.items()
            )
        except (OSError, ValueError, AttributeError):
            return False

    def get(self, kind: str, key: str) -> Any:
        """The JSON value cached as `kind/key.json`, or None."""
        try:
            return json.loads((self.dir / kind / f"{key}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def put(self, kind: str, key: str, value: Any) -> None:
        """Cache a JSON value as `kind/key.json` (written to a temporary name, then renamed)."""
        kind_dir = self.dir / kind
        kind_dir.mkdir(parents=True, exist_ok=True)
        tmp = kind_dir / f".tmp-{uuid.uuid4().hex[:12]}.json"
        try:
            tmp.write_text(json.dumps(value, sort_keys=True), encoding="utf-8")
            os.replace(tmp, kind_dir / f"{key}.json")
        finally:
            tmp.unlink(missing_ok=True)
