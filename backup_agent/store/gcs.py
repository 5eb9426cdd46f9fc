"""A Google Cloud Storage store: resumable uploads finalized on commit, never over an object.

Parts go into one resumable upload session (memory bounded by two parts); the object appears
only when the session is finalized at commit. ``ifGenerationMatch=0`` makes GCS refuse to
replace an existing object; the store also looks before finalizing, for peers (the loopback
emulator) that ignore preconditions. A small object carries its sha256 in its metadata; a
large one's is in its manifest. A bucket retention policy that refuses a delete is
:class:`ObjectLocked`. google-cloud-storage is imported here only, when such a store is opened.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from backup_agent.errors import StoreError
from backup_agent.store.base import ObjectInfo, already_exists, check_key
from backup_agent.store.objects import ObjectStore, SdkStream, failure
from backup_agent.store.parted import (
    DEFAULT_PART,
    ObjectLocked,
    PartedSink,
    StoreUnavailable,
)

QUANTUM = 256 * 1024  # resumable chunks are multiples of this


class GCSStore(ObjectStore):
    """Objects in ``bucket`` under ``prefix``."""

    def __init__(self, bucket: str, prefix: str = "", *, project: str | None = None,
                 endpoint_url: str | None = None, credentials_file: str | None = None,
                 part_size: int = DEFAULT_PART, name: str = "gcs") -> None:
        from google.cloud import storage  # type: ignore[attr-defined]

        options = {"api_endpoint": endpoint_url} if endpoint_url else None
        if credentials_file:
            client = storage.Client.from_service_account_json(credentials_file, project=project,
                                                              client_options=options)
        elif endpoint_url:  # a test peer or a private endpoint: no Google credentials
            from google.auth.credentials import AnonymousCredentials

            client = storage.Client(project=project or "backup-agent",
                                    credentials=AnonymousCredentials(), client_options=options)
        else:
            client = storage.Client(project=project)
        self.bucket_name, self.prefix, self.name = bucket, prefix, name
        self.part_size = max(QUANTUM, part_size // QUANTUM * QUANTUM)
        self.bucket = client.bucket(bucket)
        self.http: Any = client._http  # the client's own authorized session, for the upload

    def error(self, doing: str, key: str, exc: Exception) -> StoreError:
        code = getattr(exc, "code", None)
        text = str(getattr(exc, "message", "") or exc)
        return failure(self.name, f"bucket {self.bucket_name!r}", doing, key,
                       code or type(exc).__name__, gone=code == 404 and "bucket" in text.lower(),
                       denied=code if code in (401, 403) else None)

    def _full(self, key: str) -> str:
        return self.prefix + check_key(key)

    def blob(self, key: str) -> Any:
        return self.bucket.blob(self._full(key))

    def writer(self, key: str, hashed: bool = True) -> GCSSink:
        return GCSSink(self, check_key(key), hashed)

    def _sdk_errors(self) -> tuple[type[Exception], type[Exception]]:
        from google.api_core.exceptions import GoogleAPIError, NotFound

        return NotFound, GoogleAPIError

    def _place_gone(self, exc: Exception) -> bool:
        return "bucket" in str(exc).lower() and not self.bucket.exists()

    def _download(self, key: str) -> SdkStream | None:
        from google.api_core.exceptions import GoogleAPIError, NotFound

        if self.stat(key) is None:
            return None
        try:
            reader = self.blob(key).open("rb", chunk_size=1024 * 1024)
        except NotFound:  # gone since the stat: the object, not the bucket
            return None
        return SdkStream(reader.read, (GoogleAPIError, OSError), self, key, close=reader.close)

    def _describe(self, key: str) -> ObjectInfo:
        blob = self.blob(key)
        blob.reload()
        updated = blob.updated or datetime.now(UTC)
        return ObjectInfo(key, int(blob.size or 0), updated, (blob.metadata or {}).get("sha256"))

    def _listing(self, prefix: str) -> Iterator[tuple[str, int, datetime]]:
        for b in self.bucket.list_blobs(prefix=prefix):
            yield b.name, int(b.size or 0), b.updated or datetime.now(UTC)

    def delete(self, key: str) -> None:
        from google.api_core.exceptions import Forbidden, GoogleAPIError, NotFound

        try:
            self.blob(key).delete()
        except NotFound:
            return
        except Forbidden as exc:
            if "retention" in str(exc).lower() or "hold" in str(exc).lower():
                raise ObjectLocked(f"{self.name}: {key} is kept by the bucket's retention "
                                   "policy") from None
            raise self.error("deleting", key, exc) from None
        except GoogleAPIError as exc:
            raise self.error("deleting", key, exc) from None

    def location(self, key: str) -> str:
        return f"gs://{self.bucket_name}/{self._full(key)}"


class GCSSink(PartedSink):
    """One resumable upload session, its chunks sent one part behind, finalized on commit.

    The session is driven by hand (PUTs with ``Content-Range``) rather than through the
    library's file-like writer, which finalizes the upload when it is garbage-collected: an
    aborted write must never become an object.
    """

    def __init__(self, store: GCSStore, key: str, hashed: bool) -> None:
        super().__init__(key, hashed, store.part_size)
        self.store = store
        self._session: str | None = None
        self._pending: bytes | None = None
        self._offset = 0

    def _guard(self, fn: Any, *args: Any, **kw: Any) -> Any:
        from google.api_core.exceptions import GoogleAPIError, PreconditionFailed

        try:
            return fn(*args, **kw)
        except PreconditionFailed:
            raise already_exists(self.key) from None
        except GoogleAPIError as exc:
            raise self.store.error("writing", self.key, exc) from None
        except (OSError, ValueError) as exc:  # the transport's own errors (connection cut)
            raise StoreUnavailable(f"{self.store.name}: cannot write {self.key}: "
                                   f"{type(exc).__name__}", transient=True) from None

    def _send_part(self, number: int, data: bytes) -> None:
        if self._session is None:
            blob = self.store.blob(self.key)
            self._session = self._guard(blob.create_resumable_upload_session,
                                        if_generation_match=0)
        if self._pending is not None:
            self._put(self._pending, final=False)
        self._pending = data

    def _put(self, data: bytes, final: bool) -> None:
        total = str(self.size) if final else "*"
        span = f"bytes {self._offset}-{self._offset + len(data) - 1}/{total}" if data \
            else f"bytes */{total}"
        answer = self._guard(self.store.http.put, self._session, data=data,
                             headers={"Content-Range": span}, timeout=120)
        ok = (200, 201) if final else (308,)
        if answer.status_code == 412:
            raise already_exists(self.key)
        if answer.status_code not in ok:
            raise StoreError(f"{self.store.name}: cannot write {self.key} in bucket "
                             f"{self.store.bucket_name!r}: HTTP {answer.status_code}")
        self._offset += len(data)

    def _refuse_existing(self) -> None:
        if self.store.stat(self.key) is not None:
            raise already_exists(self.key)

    def _finish(self, sha256: str) -> ObjectInfo:
        self._refuse_existing()
        self._put(self._pending or b"", final=True)
        self._session = self._pending = None
        return ObjectInfo(self.key, self.size, datetime.now(UTC), sha256)

    def _put_whole(self, data: bytes, sha256: str) -> ObjectInfo:
        self._refuse_existing()
        blob = self.store.blob(self.key)
        blob.metadata = {"sha256": sha256}
        self._guard(blob.upload_from_string, data, if_generation_match=0)
        return ObjectInfo(self.key, self.size, datetime.now(UTC), sha256)

    def _drop(self) -> None:
        # An unfinalized session is never an object; cancelling it frees it at once.
        session, self._session, self._pending, self._offset = self._session, None, None, 0
        if session is not None:
            with contextlib.suppress(Exception):
                self.store.http.delete(session, timeout=30)
