"""An in-memory store: the contract with no disk, for tests and dry runs.

It keeps every guarantee of the contract that is not about durability: a write is invisible
until committed, checked against its expected size and sha256, and never replaces a visible
object. Thread-safe: jobs write the files of one restore point from several threads.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import BinaryIO

from backup_agent.errors import StoreError
from backup_agent.store.base import ObjectInfo, Store, already_exists, check_key
from backup_agent.store.sinks import HashingSink


class MemorySink(HashingSink):
    """A write buffered in memory; published into its store on commit."""

    def __init__(self, key: str, publish: Callable[[str, bytes, str], ObjectInfo],
                 hashed: bool) -> None:
        super().__init__(key, hashed)
        self._publish = publish
        self._buf = io.BytesIO()

    def write(self, data: bytes) -> int:
        self._refuse_closed()
        self._buf.write(data)
        self._count(data)
        return len(data)

    def restart(self) -> None:
        self._buf = io.BytesIO()
        self._forget()

    def commit(self, expected_size: int | None = None, expected_sha256: str | None = None,
               sha256: str | None = None) -> ObjectInfo:
        return self._commit_checked(lambda got: self._publish(self.key, self._buf.getvalue(), got),
                                    expected_size, expected_sha256, sha256)

    def abort(self) -> None:
        super().abort()
        self._buf = io.BytesIO()


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
