"""An in-memory store: the contract with no disk, for tests and dry runs.

It keeps every guarantee of the contract that is not about durability: a write is invisible
until committed, checked against its expected size and sha256, and never replaces a visible
object. Thread-safe: jobs write the files of one restore point from several threads.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import BinaryIO

from backup_agent.errors import StoreError
from backup_agent.store.base import ObjectInfo, Store, already_exists, check_key, check_written, commit_digest


class MemorySink:
    """A write buffered in memory; published into its store on commit."""

    def __init__(self, key: str, publish: Callable[[str, bytes, str], ObjectInfo],
                 hashed: bool) -> None:
        self.key, self.hashed = key, hashed
        self._publish = publish
        self._buf = io.BytesIO()
        self._digest = hashlib.sha256()
        self.size = 0
        self.committed = self.aborted = False

    def write(self, data: bytes) -> int:
        if self.committed or self.aborted:
            raise StoreError(f"{self.key}: write after the sink was closed")
        self._buf.write(data)
        if self.hashed:
            self._digest.update(data)
        self.size += len(data)
        return len(data)

    def restart(self) -> None:
        self._buf = io.BytesIO()
        self._digest = hashlib.sha256()
        self.size = 0

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
            info = self._publish(self.key, self._buf.getvalue(), got)
        except BaseException:
            self.abort()
            raise
        self.committed = True
        return info

    def abort(self) -> None:
        self.aborted = True
        self._buf = io.BytesIO()

    def __enter__(self) -> MemorySink:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        if not self.committed:
            self.abort()


class MemoryStore(Store):
    """Objects in a dict, key → (bytes, info)."""

    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self._objects: dict[str, tuple[bytes, ObjectInfo]] = {}
        self._lock = threading.Lock()

    def writer(self, key: str, hashed: bool = True) -> MemorySink:
        return MemorySink(check_key(key), self._put, hashed)

    def _put(self, key: str, data: bytes, sha256: str) -> ObjectInfo:
        info = ObjectInfo(key, len(data), datetime.now(UTC), sha256)
        with self._lock:
            if key in self._objects:
                raise already_exists(key)
            self._objects[key] = (data, info)
        return info

    def open(self, key: str) -> BinaryIO:
        with self._lock:
            found = self._objects.get(check_key(key))
        if found is None:
            raise StoreError(f"cannot read {key} from the store: no such object")
        return io.BytesIO(found[0])

    def stat(self, key: str) -> ObjectInfo | None:
        with self._lock:
            found = self._objects.get(check_key(key))
        return found[1] if found else None

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        with self._lock:
            return [info for key, (_, info) in sorted(self._objects.items())
                    if key.startswith(prefix)]

    def delete(self, key: str) -> None:
        with self._lock:
            self._objects.pop(check_key(key), None)

    def location(self, key: str) -> str:
        return f"{self.name}:{check_key(key)}"

    def corrupt(self, key: str, data: bytes) -> None:
        """Replace an object's bytes behind the store's back (what a damaged disk does)."""
        with self._lock:
            _, info = self._objects[key]
            self._objects[key] = (data, info)
