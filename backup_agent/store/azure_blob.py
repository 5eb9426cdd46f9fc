"""An Azure Blob store: staged blocks committed on commit, never over a visible blob.

Each full part is staged as a block (memory bounded by one part) under block ids unique to
the write, and the blob appears only when the block list is committed, with
``If-None-Match: *``. The blob's sha256 goes into its metadata at that commit (Azure takes
metadata with the block list, so it is written once, with the blob). A container with an
immutability policy refuses deletes of blobs still retained: :class:`ObjectLocked`.
azure-storage-blob is imported here only, when such a store is opened.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from backup_agent.errors import StoreError
from backup_agent.store.base import ObjectInfo, already_exists, check_key
from backup_agent.store.objects import ObjectStore, SdkStream, failure
from backup_agent.store.parted import (
    DEFAULT_PART,
    ObjectLocked,
    PartedSink,
)

LOCKED = ("BlobImmutableDueToPolicy", "BlobImmutableDueToLegalHold")
DENIED = ("AuthorizationPermissionMismatch", "AuthorizationFailure",
          "AuthenticationFailed", "AuthorizationResourceTypeMismatch")


class AzureBlobStore(ObjectStore):
    """Blobs in ``container`` under ``prefix``."""

    def __init__(self, container: str, prefix: str = "", *, connection_string: str | None = None,
                 account_url: str | None = None, credential: Any = None,
                 part_size: int = DEFAULT_PART, name: str = "azure-blob") -> None:
        from azure.storage.blob import BlobServiceClient

        if connection_string:
            service = BlobServiceClient.from_connection_string(connection_string)
        elif account_url:
            service = BlobServiceClient(account_url, credential=credential)
        else:
            raise StoreError(f"{name}: set connection_string_env or account_url")
        self.container_name, self.prefix, self.part_size, self.name = container, prefix, part_size, name
        self.container = service.get_container_client(container)

    def error(self, doing: str, key: str, exc: Exception) -> StoreError:
        code = str(getattr(exc, "error_code", "") or "")
        status = getattr(exc, "status_code", None)
        denied = (code or status) if code in DENIED or status == 403 else None
        return failure(self.name, f"container {self.container_name!r}", doing, key,
                       code or type(exc).__name__, gone=code == "ContainerNotFound",
                       denied=denied)

    def _full(self, key: str) -> str:
        return self.prefix + check_key(key)

    def blob(self, key: str) -> Any:
        return self.container.get_blob_client(self._full(key))

    def writer(self, key: str, hashed: bool = True) -> AzureSink:
        return AzureSink(self, key, hashed)

    def _sdk_errors(self) -> tuple[type[Exception], type[Exception]]:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        return ResourceNotFoundError, AzureError

    def _place_gone(self, exc: Exception) -> bool:
        return getattr(exc, "error_code", "") == "ContainerNotFound"

    def _download(self, key: str) -> SdkStream:
        from azure.core.exceptions import AzureError

        chunks = self.blob(key).download_blob(max_concurrency=1).chunks()
        return SdkStream(_Chunks(chunks).read, (AzureError,), self, key)

    def _describe(self, key: str) -> ObjectInfo:
        props = self.blob(key).get_blob_properties()
        return ObjectInfo(key, int(props.size), props.last_modified,
                          (props.metadata or {}).get("sha256"))

    def _listing(self, prefix: str) -> Iterator[tuple[str, int, datetime]]:
        for b in self.container.list_blobs(name_starts_with=prefix):
            yield b.name, int(b.size), b.last_modified

    def delete(self, key: str) -> None:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            self.blob(key).delete_blob(delete_snapshots="include")
        except ResourceNotFoundError as exc:
            if getattr(exc, "error_code", "") == "ContainerNotFound":
                raise self.error("deleting", key, exc) from None
        except AzureError as exc:
            if str(getattr(exc, "error_code", "")) in LOCKED:
                raise ObjectLocked(f"{self.name}: {key} is kept by the container's "
                                   "immutability policy") from None
            raise self.error("deleting", key, exc) from None

    def location(self, key: str) -> str:
        # The SDK's URLs carry a SAS token in their query: a secret, never shown.
        base = urlsplit(self.container.url)._replace(query="", fragment="").geturl()
        return f"{base}/{self._full(key)}"


class AzureSink(PartedSink):
    """Blocks staged as parts fill; the block list committed (with the sha256) on commit."""

    def __init__(self, store: AzureBlobStore, key: str, hashed: bool) -> None:
        super().__init__(key, hashed, store.part_size)
        self.store, self.client = store, store.blob(key)
        self._write_id = secrets.token_hex(8)
        self._blocks: list[str] = []

    def _call(self, fn: Any, *args: Any, **kw: Any) -> Any:
        from azure.core.exceptions import AzureError, ResourceExistsError

        try:
            return fn(*args, **kw)
        except ResourceExistsError as exc:
            if getattr(exc, "error_code", "") in ("BlobAlreadyExists", "ConditionNotMet", None, ""):
                raise already_exists(self.key) from None
            raise self.store.error("writing", self.key, exc) from None
        except AzureError as exc:
            if getattr(exc, "error_code", "") == "ConditionNotMet" or \
                    getattr(exc, "status_code", None) == 412:
                raise already_exists(self.key) from None
            raise self.store.error("writing", self.key, exc) from None

    def _send_part(self, number: int, data: bytes) -> None:
        block = base64.b64encode(f"{self._write_id}-{number:06d}".encode()).decode()
        self._call(self.client.stage_block, block, data, length=len(data))
        self._blocks.append(block)

    def _finish(self, sha256: str) -> ObjectInfo:
        from azure.core import MatchConditions
        from azure.storage.blob import BlobBlock

        self._call(self.client.commit_block_list, [BlobBlock(block_id=b) for b in self._blocks],
                   metadata={"sha256": sha256}, match_condition=MatchConditions.IfMissing)
        return ObjectInfo(self.key, self.size, datetime.now(UTC), sha256)

    def _put_whole(self, data: bytes, sha256: str) -> ObjectInfo:
        self._call(self.client.upload_blob, data, overwrite=False, metadata={"sha256": sha256})
        return ObjectInfo(self.key, self.size, datetime.now(UTC), sha256)

    def _drop(self) -> None:
        # Uncommitted blocks are never visible and Azure drops them after a week; a restart
        # uses fresh block ids, so none of them can end up in this blob.
        self._write_id = secrets.token_hex(8)
        self._blocks = []


class _Chunks:
    """A blob download's chunks, read as a file is: at most ``n`` bytes a call."""

    def __init__(self, chunks: Any) -> None:
        self._it = iter(chunks)
        self._left = b""

    def read(self, n: int) -> bytes:
        if not self._left:
            self._left = next(self._it, b"")
        data, self._left = self._left[:n], self._left[n:]
        return data
