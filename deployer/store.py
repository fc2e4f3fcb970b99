"""The release store: `releases/<id>/files/<path>` first, then `releases/<id>/manifest.json` once.

The manifest is created with `if_generation_match=0`, so it is written once and never changed; files
are uploaded before it, so a manifest in the store always has all its files. Publishing again
uploads nothing. Before a published release is used, its files are checked against the manifest: the
store's listing (one call) must show every file with the manifest's size and MD5, and every byte the
deployer reads is checked against the manifest's sha256. A promotion copies the files server-side from
the very generation that listing showed (`PublishedRelease.listing`), so those bytes never pass
through the deployer: GCS's own MD5 of that generation is the manifest's, and the copy's result is
checked against it again.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from deployer import log
from deployer.gcs import Gcs, ObjInfo
from deployer.release import LocalRelease, find_local
from deployer.transfer import run_all
from platform_model.errors import ConfigError, Refused
from platform_model.manifest import (
    MANIFEST_NAME,
    FileEntry,
    Manifest,
    check_release_id,
    manifest_digest,
    parse_manifest,
    verify_bytes,
)


def manifest_object(release_id: str) -> str:
    """Object name of a release's manifest in the store."""
    return f"releases/{release_id}/{MANIFEST_NAME}"


def files_prefix(release_id: str) -> str:
    """Prefix of a release's files in the store."""
    return f"releases/{release_id}/files/"


@dataclass
class PublishResult:
    """What `publish` did."""

    release: str
    bucket: str
    uploaded: int
    skipped: int
    manifest_written: bool
    digest: str

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form."""
        return {
            "release": self.release,
            "store": f"gs://{self.bucket}/releases/{self.release}/",
            "uploaded": self.uploaded,
            "skipped": self.skipped,
            "manifest_written": self.manifest_written,
            "digest": self.digest,
        }


@dataclass
class PublishedRelease:
    """A release as the store holds it, its files checked against its manifest."""

    bucket: str
    manifest: Manifest
    manifest_bytes: bytes
    local: LocalRelease | None = None
    listing: dict[str, ObjInfo] = field(default_factory=dict, repr=False)
    """The store's objects of this release by release path, each matching the manifest (empty when the
    files were not checked): the sources of server-side copies."""
    _cache: dict[str, bytes] = field(default_factory=dict, repr=False)

    @property
    def release(self) -> str:
        """The release id."""
        return self.manifest.release

    @property
    def digest(self) -> str:
        """sha256 of the stored manifest bytes: what approvals bind to."""
        return manifest_digest(self.manifest_bytes)


def _matches(entry: FileEntry, obj: ObjInfo | None) -> bool:
    return obj is not None and obj.size == entry.size and obj.md5 == entry.md5


class ReleaseStore:
    """One release store bucket."""

    def __init__(self, gcs: Gcs, bucket: str) -> None:
        """The store in `bucket`, reached through `gcs`."""
        self.gcs = gcs
        self.bucket = bucket

    def where(self, release_id: str) -> str:
        """gs:// URI of a release's manifest (for messages)."""
        return f"gs://{self.bucket}/{manifest_object(release_id)}"

    def publish(self, local: LocalRelease, quiet: bool = False) -> PublishResult:
        """Upload the files the store lacks, then the manifest (once). Again: nothing is uploaded."""
        release = local.manifest.release
        existing = self.gcs.read(self.bucket, manifest_object(release))
        stored: Manifest | None = None
        if existing is not None:
            stored = parse_manifest(existing.data, self.where(release), release)
            if stored.files != local.manifest.files:
                raise Refused(
                    f"{self.where(release)} lists other files than the local build of {release} "
                    "(tampered store)"
                )
        listing = self.gcs.list(self.bucket, files_prefix(release))
        todo = [
            e for e in local.manifest.files if not _matches(e, listing.get(files_prefix(release) + e.path))
        ]

        def upload(entry: FileEntry) -> None:
            self.gcs.write(self.bucket, files_prefix(release) + entry.path, local.read_verified(entry))

        run_all(todo, upload, label=f"publishing {release}", phase="publish-upload", quiet=quiet)
        manifest_bytes = existing.data if existing is not None else local.manifest_bytes
        written = False
        if existing is None:
            from google.api_core.exceptions import PreconditionFailed

            try:
                self.gcs.write(
                    self.bucket,
                    manifest_object(release),
                    local.manifest_bytes,
                    if_generation_match=0,
                    content_type="application/json",
                )
                written = True
            except PreconditionFailed:
                # Published meanwhile by someone else: theirs stands, if it lists the same files.
                again = self.gcs.read(self.bucket, manifest_object(release))
                if (
                    again is None
                    or parse_manifest(again.data, self.where(release), release).files != local.manifest.files
                ):
                    raise Refused(
                        f"{self.where(release)} was written concurrently with other content"
                    ) from None
                manifest_bytes = again.data
        log.event(
            "release_published",
            release=release,
            store=self.bucket,
            uploaded=len(todo),
            manifest_written=written,
        )
        return PublishResult(
            release,
            self.bucket,
            uploaded=len(todo),
            skipped=len(local.manifest.files) - len(todo),
            manifest_written=written,
            digest=manifest_digest(manifest_bytes),
        )

    def fetch(self, release_id: str, *, verify_files: bool = True) -> PublishedRelease:
        """The published release `release_id`: manifest parsed, files checked against the store's listing."""
        check_release_id(release_id)
        with ThreadPoolExecutor(max_workers=1) as pool:
            # The listing needs only the release id: it runs during the manifest's round trip.
            prefix = files_prefix(release_id)
            listed = pool.submit(self.gcs.list, self.bucket, prefix) if verify_files else None
            obj = self.gcs.read(self.bucket, manifest_object(release_id))
            if obj is None:
                raise ConfigError(
                    f"release {release_id} is not published in gs://{self.bucket} "
                    f"(run: deployer release publish {release_id})"
                )
            manifest = parse_manifest(obj.data, self.where(release_id), release_id)
            listing = listed.result() if listed is not None else {}
        if verify_files:
            for entry in manifest.files:
                obj_info = listing.get(files_prefix(release_id) + entry.path)
                if obj_info is None:
                    raise Refused(
                        f"{self.where(release_id)}: {entry.path} is missing from the store (tampered store)"
                    )
                if not _matches(entry, obj_info):
                    raise Refused(
                        f"{self.where(release_id)}: {entry.path} in the store does not match the manifest "
                        "(tampered store)"
                    )
        local = find_local(release_id)
        if local is not None and local.manifest.files != manifest.files:
            local = None
        checked = (
            {entry.path: listing[prefix + entry.path] for entry in manifest.files} if verify_files else {}
        )
        return PublishedRelease(self.bucket, manifest, obj.data, local, checked)

    def read_file(self, published: PublishedRelease, path: str) -> bytes:
        """One file of a published release, sha256-checked (from the local build when it has it)."""
        if path in published._cache:
            return published._cache[path]
        entry = published.manifest.by_path().get(path)
        if entry is None:
            raise ConfigError(f"release {published.release} has no file {path}")
        data: bytes | None = None
        if published.local is not None:
            try:
                data = published.local.read_verified(entry)
            except Refused:
                data = None
        if data is None:
            obj = self.gcs.read(self.bucket, files_prefix(published.release) + path)
            if obj is None:
                raise Refused(
                    f"{self.where(published.release)}: {path} is missing from the store (tampered store)"
                )
            data = verify_bytes(entry, obj.data, f"gs://{self.bucket}/{files_prefix(published.release)}")
        published._cache[path] = data
        return data
