"""What every object-store sink shares: bytes buffered one part at a time, published on commit.

An off-site store (S3, Azure Blob, GCS) uploads an artifact in parts and makes it visible
only when the last part is in and the whole matches its expected size and sha256. Memory is
bounded by one part, whatever the artifact's size. A small object (one part or less) is
uploaded in one request at commit instead.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod

from backup_agent.errors import ObjectLocked, StoreUnavailable
from backup_agent.store.base import ObjectInfo
from backup_agent.store.sinks import HashingSink

__all__ = ["UNREACHABLE", "ObjectLocked", "PartedSink", "StoreUnavailable"]

DEFAULT_PART = 8 * 1024 * 1024

# Transport errors of the SDKs that mean the endpoint is not reachable at all.
UNREACHABLE = ("EndpointConnectionError", "ConnectionClosedError", "ConnectTimeoutError",
               "ServiceRequestError", "ConnectionError", "ConnectionRefusedError")


class PartedSink(HashingSink, ABC):
    """A :class:`~backup_agent.store.base.Sink` that sends full parts as they fill."""

    def __init__(self, key: str, hashed: bool, part_size: int = DEFAULT_PART) -> None:
        super().__init__(key, hashed)
        self.part_size = part_size
        self._buf = bytearray()
        self._parts = 0

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
        self._refuse_closed()
        self._buf += data
        self._count(data)
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
        self._parts = 0
        self._forget()

    def commit(self, expected_size: int | None = None, expected_sha256: str | None = None,
               sha256: str | None = None) -> ObjectInfo:
        info = self._commit_checked(self._publish, expected_size, expected_sha256, sha256)
        self._buf = bytearray()
        return info

    def _publish(self, sha256: str) -> ObjectInfo:
        if not self._parts:
            return self._put_whole(bytes(self._buf), sha256)
        if self._buf:
            self._parts += 1
            self._send_part(self._parts, bytes(self._buf))
        return self._finish(sha256)

    def abort(self) -> None:
        if self.aborted or self.committed:
            return
        self.aborted = True
        self._buf = bytearray()
        if self._parts:
            # The store keeps unfinished parts invisible; failing to free them loses nothing.
            with contextlib.suppress(Exception):
                self._drop()

