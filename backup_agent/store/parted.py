"""What every object-store sink shares: bytes buffered one part at a time, published on commit.

An off-site store (S3, Azure Blob, GCS) uploads an artifact in parts and makes it visible
only when the last part is in and the whole matches its expected size and sha256. Memory is
bounded by one part, whatever the artifact's size. A small object (one part or less) is
uploaded in one request at commit instead.
"""

from __future__ import annotations

import contextlib
import hashlib
from abc import ABC, abstractmethod
from types import TracebackType

from backup_agent.errors import ObjectLocked, StoreError, StoreUnavailable
from backup_agent.store.base import ObjectInfo, check_written, commit_digest

__all__ = ["UNREACHABLE", "ObjectLocked", "PartedSink", "StoreUnavailable"]

DEFAULT_PART = 8 * 1024 * 1024



# Transport errors of the SDKs that mean the endpoint is not reachable at all.
UNREACHABLE = ("EndpointConnectionError", "ConnectionClosedError", "ConnectTimeoutError",
               "ServiceRequestError", "ConnectionError", "ConnectionRefusedError")


class PartedSink(ABC):
    """A :class:`~backup_agent.store.base.Sink` that sends full parts as they fill."""

    def __init__(self, key: str, hashed: bool, part_size: int = DEFAULT_PART) -> None:
        self.key, self.hashed, self.part_size = key, hashed, part_size
        self._buf = bytearray()
        self._digest = hashlib.sha256()
        self._parts = 0
        self.size = 0
        self.committed = self.aborted = False

    # -- what each store implements ---------------------------------------------------------
    @abstractmethod
    def _send_part(self, number: int, data: bytes) -> None:
        """Upload part ``number`` (from 1); the first call starts the upload."""

    @abstractmethod
    def _finish(self, sha256: str) -> ObjectInfo:
        """Publish the parts sent (never over a visible object), the object's sha256 with it."""

    @abstractmethod
    def _put_whole(self, data: bytes, sha256: str) -> ObjectInfo:
        """Publish a small object in one request (never over a visible object)."""

    @abstractmethod
    def _drop(self) -> None:
        """Forget the parts sent so far (the store frees them)."""

    # -- the Sink contract ------------------------------------------------------------------
    def write(self, data: bytes) -> int:
        if self.committed or self.aborted:
            raise StoreError(f"{self.key}: write after the sink was closed")
        self._buf += data
        if self.hashed:
            self._digest.update(data)
        self.size += len(data)
        while len(self._buf) >= self.part_size:
            part = bytes(self._buf[:self.part_size])
            del self._buf[:self.part_size]
            self._parts += 1
            try:
                self._send_part(self._parts, part)
            except BaseException:
                self.abort()
                raise
        return len(data)

    def restart(self) -> None:
        if self._parts:
            self._drop()
        self._buf = bytearray()
        self._digest = hashlib.sha256()
        self._parts = self.size = 0

    @property
    def sha256(self) -> str:
        if not self.hashed:
            raise StoreError("this sink does not hash: its writer's digest goes to commit()")
        return self._digest.hexdigest()

    def commit(self, expected_size: int | None = None, expected_sha256: str | None = None,
               sha256: str | None = None) -> ObjectInfo:
        got = commit_digest(self, self.key, sha256)
        try:
            check_written(self.key, self.size, got, expected_size, expected_sha256)
            if self._parts:
                if self._buf:
                    self._parts += 1
                    self._send_part(self._parts, bytes(self._buf))
                info = self._finish(got)
            else:
                info = self._put_whole(bytes(self._buf), got)
        except BaseException:
            self.abort()
            raise
        self.committed = True
        self._buf = bytearray()
        return info

    def abort(self) -> None:
        if self.aborted or self.committed:
            return
        self.aborted = True
        self._buf = bytearray()
        if self._parts:
            # The store keeps unfinished parts invisible; failing to free them loses nothing.
            with contextlib.suppress(Exception):
                self._drop()

    def __enter__(self) -> PartedSink:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        if not self.committed:
            self.abort()
