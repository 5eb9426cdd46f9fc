"""What the object stores (Azure Blob, GCS, S3) share to read objects and name failures.

Each asks its SDK in its own words; what it does with the answer is the same everywhere: a
missing object is None (or "no such object" on open), a missing container or bucket and a
refused credential are one line each, a transport failure is transient, and a download is a
buffered stream whose mid-read failures are StoreErrors too. No SDK is imported here: each
store hands over its own exception classes, as it imports its SDK only when it is opened.
"""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, BinaryIO, Protocol, TypeVar

from backup_agent.errors import StoreError, StoreUnavailable
from backup_agent.store.base import ObjectInfo, Store
from backup_agent.store.parted import UNREACHABLE

__all__ = ["ObjectStore", "SdkStream", "failure"]

T = TypeVar("T")
BUFFER = 1024 * 1024


# What is being done, as "cannot ..." says it ("writing" less its "ing" read "cannot writ").
_VERBS = {"reading": "read", "writing": "write", "deleting": "delete", "listing": "list"}


def failure(name: str, place: str, doing: str, key: str, what: object, *, gone: bool,
            denied: object | None) -> StoreError:
    """One line for a failed SDK call: ``place`` is "container 'x'" or "bucket 'x'";
    ``denied`` is what the refusal said (None when it was no refusal)."""
    if gone:
        return StoreUnavailable(f"{name}: {place} does not exist")
    if denied is not None:
        return StoreUnavailable(f"{name}: access denied {doing} {key} in {place} ({denied}): "
                                "check the credentials' permissions")
    message = f"{name}: cannot {_VERBS.get(doing, doing)} {key} in {place}: {what}"
    return StoreUnavailable(message, transient=True) if what in UNREACHABLE else StoreError(message)


class _Erring(Protocol):
    def error(self, doing: str, key: str, exc: Exception) -> StoreError: ...


class SdkStream(io.RawIOBase):
    """An SDK's download as a raw stream; a connection cut mid-read is a StoreError."""

    def __init__(self, read: Callable[[int], bytes], fails: tuple[type[Exception], ...],
                 store: _Erring, key: str, close: Callable[[], object] | None = None) -> None:
        self._read, self._fails, self._store, self._key = read, fails, store, key
        self._close = close

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        try:
            data = self._read(len(buf))
        except self._fails as exc:
            raise self._store.error("reading", self._key, exc) from None
        buf[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if self._close is not None:
            self._close()
        super().close()


class ObjectStore(Store, ABC):
    """A store whose objects one SDK call opens, describes or lists: it names only that call,
    the SDK's exceptions and how a not-found answer tells a missing container from an object."""

    name: str
    prefix: str  # before every key, in the container (bucket)

    @abstractmethod
    def error(self, doing: str, key: str, exc: Exception) -> StoreError:
        """One line naming the store, where it keeps objects and what failed."""

    @abstractmethod
    def _sdk_errors(self) -> tuple[type[Exception], type[Exception]]:
        """The SDK's (not found, any error) exceptions, imported when asked."""

    @abstractmethod
    def _place_gone(self, exc: Exception) -> bool:
        """Whether a not-found answer means the container (bucket) itself is missing."""

    @abstractmethod
    def _download(self, key: str) -> io.RawIOBase | None:
        """The object's bytes as a raw stream; None when it is missing."""

    @abstractmethod
    def _describe(self, key: str) -> ObjectInfo:
        """The object's size, mtime and sha256 (from its metadata) as the SDK gives them."""

    @abstractmethod
    def _listing(self, prefix: str) -> Iterable[tuple[str, int, datetime]]:
        """(full name, size, mtime) of the objects whose full name starts with ``prefix``."""

    def open(self, key: str) -> BinaryIO:
        raw = self._ask(key, self._download)
        if raw is None:
            raise StoreError(f"cannot read {key} from {self.name}: no such object")
        return io.BufferedReader(raw, buffer_size=BUFFER)

    def stat(self, key: str) -> ObjectInfo | None:
        return self._ask(key, self._describe)

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        _, failed = self._sdk_errors()
        try:
            found = [ObjectInfo(name[len(self.prefix):], size, mtime)
                     for name, size, mtime in self._listing(self.prefix + prefix)]
        except failed as exc:
            raise self.error("listing", prefix or "/", exc) from None
        return sorted(found, key=lambda i: i.key)

    def _ask(self, key: str, call: Callable[[str], T | None]) -> T | None:
        missing, failed = self._sdk_errors()
        try:
            return call(key)
        except missing as exc:
            if self._place_gone(exc):
                raise self.error("reading", key, exc) from None
            return None
        except failed as exc:
            raise self.error("reading", key, exc) from None
