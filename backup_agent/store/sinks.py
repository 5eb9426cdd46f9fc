"""What every store's sink shares: the digest kept as bytes come, and the checked commit.

A sink hashes what it is given (unless its writer hashes it and opens it ``hashed=False``),
counts it, forgets both on restart, and publishes on commit only what matches the size and
sha256 expected; a failed commit keeps nothing. Each store's sink adds where the bytes wait
(memory, a temporary file, parts uploaded) and how they are published.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from types import TracebackType
from typing import Self

from backup_agent.errors import StoreError
from backup_agent.store.base import ObjectInfo, check_written, commit_digest


class HashingSink:
    """The hashing, counting and commit checks of a :class:`~backup_agent.store.base.Sink`."""

    def __init__(self, key: str, hashed: bool) -> None:
        self.key, self.hashed = key, hashed
        self._digest = hashlib.sha256()
        self.size = 0
        self.committed = self.aborted = False

    def abort(self) -> None:
        """Drop the write (each sink frees what it holds)."""
        self.aborted = True

    def _refuse_closed(self) -> None:
        if self.committed or self.aborted:
            raise StoreError(f"{self.key}: write after the sink was closed")

    def _count(self, data: bytes) -> None:
        """Hash (unless the writer does) and count ``data``, once the sink holds it."""
        if self.hashed:
            self._digest.update(data)
        self.size += len(data)

    def _forget(self) -> None:
        """Start the digest and the count over, for a restart."""
        self._digest = hashlib.sha256()
        self.size = 0

    @property
    def sha256(self) -> str:
        if not self.hashed:
            raise StoreError("this sink does not hash: its writer's digest goes to commit()")
        return self._digest.hexdigest()

    def _commit_checked(self, publish: Callable[[str], ObjectInfo], expected_size: int | None,
                        expected_sha256: str | None, sha256: str | None) -> ObjectInfo:
        """``publish(sha256)`` once what was written is what was expected; else abort."""
        got = commit_digest(self, self.key, sha256)
        try:
            check_written(self.key, self.size, got, expected_size, expected_sha256)
            info = publish(got)
        except BaseException:
            self.abort()
            raise
        self.committed = True
        return info

    def __enter__(self) -> Self:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        if not self.committed:
            self.abort()
