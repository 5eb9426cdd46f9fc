"""The store contract: where artifact bytes live, addressed by keys, whatever holds them.

Modelled on restic's ``Backend`` and Velero's ``ObjectStore``: a few small operations on
opaque keys (``a/b/c.json``), nothing of the application. Writes go through a :class:`Sink`
that hashes what it is given, can start over (a download retried from its first byte) and
makes the object visible only by :meth:`Sink.commit`, once it is checked against the size
and sha256 it must have. A commit never replaces a visible object. Nothing in the contract
assumes a rename or a local path, so object stores (S3, Azure Blob, GCS) fit under it: their
sink may buffer or upload in parts and publish on commit.

Keys are chosen by :mod:`backup_agent.store.layout`; :func:`check_key` refuses the rest.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import BinaryIO, Protocol, runtime_checkable

from backup_agent.errors import IntegrityError, StoreError
from backup_agent.untrusted import unsafe_char

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ObjectInfo:
    """What a store knows of one visible object; ``sha256`` is None when it would need a read."""

    key: str
    size: int
    mtime: datetime
    sha256: str | None = None


@runtime_checkable
class Sink(Protocol):
    """A write in progress: invisible until :meth:`commit`, gone on :meth:`abort`."""

    key: str
    size: int

    def write(self, data: bytes) -> int:
        """Append ``data`` (hashed as written unless the sink was opened unhashed)."""
        ...

    def restart(self) -> None:
        """Forget everything written so far, hash included: the write starts over."""
        ...

    @property
    def sha256(self) -> str:
        """The sha256 of what was written (a StoreError on an unhashed sink)."""
        ...

    def commit(self, expected_size: int | None = None, expected_sha256: str | None = None,
               sha256: str | None = None) -> ObjectInfo:
        """Make the object visible once it is durable and matches what is expected.

        A mismatch raises IntegrityError and keeps nothing; an object already visible under
        the key is never replaced (StoreError). ``sha256`` is the writer's own digest, required
        by a sink opened with ``hashed=False``.
        """
        ...

    def abort(self) -> None:
        """Drop the write; safe to call twice and after a failed commit."""
        ...

    def __enter__(self) -> Sink: ...

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Abort unless committed."""
        ...


class Store(Protocol):
    """Artifact bytes by key. Subclasses implement the five primitives; the helpers follow."""

    def writer(self, key: str, hashed: bool = True) -> Sink:
        """A :class:`Sink` for ``key``. ``hashed=False`` for a writer that hashes itself."""
        ...

    def open(self, key: str) -> BinaryIO:
        """The object as a binary stream to read (and close); StoreError when it is missing."""
        ...

    def stat(self, key: str) -> ObjectInfo | None:
        """Size, mtime (and sha256 when known) of a visible object; None when there is none."""
        ...

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        """Visible objects whose key starts with ``prefix``, sorted by key."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; one already gone is no error."""
        ...

    def location(self, key: str) -> str:
        """Where the object lives, for people to read (a path, a URL); never parsed back."""
        ...

    # -- helpers over the primitives, shared by every store ----------------------------------
    def put_bytes(self, key: str, data: bytes) -> tuple[int, str]:
        """Write ``data`` under ``key``; ``(size, sha256)``."""
        with self.writer(key) as sink:
            sink.write(data)
            sink.commit(expected_size=len(data))
            return sink.size, sink.sha256

    def read_bytes(self, key: str) -> bytes:
        """The whole object (small ones: inventories, definitions)."""
        with self.open(key) as fh:
            return fh.read()

    def check(self, key: str, size: int, sha256: str) -> str | None:
        """None when the object is there and hashes right, else what is wrong."""
        info = self.stat(key)
        if info is None:
            return "missing"
        if info.size != size:
            return f"size {info.size} != {size}"
        try:
            with self.open(key) as fh:
                got_size, got_sha = hash_stream(fh)
        except StoreError:
            return "missing"
        if got_size != size:
            return f"size {got_size} != {size}"
        return None if got_sha == sha256 else "sha256 mismatch"


def hash_stream(fh: BinaryIO) -> tuple[int, str]:
    """Size and sha256 of what is left of a stream, read in chunks (constant memory)."""
    digest = hashlib.sha256()
    size = 0
    while chunk := fh.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


_UNSAFE_KEY = re.compile(r"[\x00-\x1f\\]|^/|(?:^|/)\.{0,2}(?:/|$)")
_HIDDEN_KEY = re.compile(r"(?:^|/)\.")
# Matches wherever either of the two above can (a segment empty or starting with '.').
_ANY_DOUBT = re.compile(r"[\x00-\x1f\\]|^/|//|/$|^$|(?:^|/)\.")


def check_key(key: str) -> str:
    """``key`` if it is a safe relative key; else a StoreError saying why."""
    # Regular expressions, not a loop over characters: a listing checks every file's key.
    # Absolute, an empty, '.' or '..' segment, '\\', a control, format or direction character.
    if _ANY_DOUBT.search(key) is None and unsafe_char(key) is None:
        return key  # the common case, one search: nothing below can match
    if _UNSAFE_KEY.search(key) or unsafe_char(key) is not None:
        raise StoreError(f"refusing unsafe store key {key!r}")
    if _HIDDEN_KEY.search(key):
        raise StoreError(f"refusing hidden store key {key!r} (reserved for temporary files)")
    return key


class _HashingSink(Protocol):
    hashed: bool

    @property
    def sha256(self) -> str: ...

    def abort(self) -> None: ...


def commit_digest(sink: _HashingSink, name: str, sha256: str | None) -> str:
    """The sha256 a sink's commit checks: its own, or (an unhashed sink) its writer's.

    An unhashed write committed without its writer's digest is aborted: it cannot be checked.
    """
    if not sink.hashed and sha256 is None:
        sink.abort()
        raise StoreError(f"{name}: an unhashed write needs its writer's sha256")
    return sink.sha256 if sink.hashed else str(sha256).lower()


def check_written(key: str, size: int, got_sha256: str, expected_size: int | None,
                  expected_sha256: str | None) -> None:
    """The IntegrityError a commit raises when what was written is not what was expected."""
    name = key.rsplit("/", 1)[-1]
    if expected_size is not None and expected_size != size:
        raise IntegrityError(f"{name}: got {size} bytes, expected {expected_size}; not kept")
    if expected_sha256 is not None and expected_sha256.lower() != got_sha256:
        raise IntegrityError(f"{name}: sha256 {got_sha256[:12]}… does not match the expected "
                             f"{expected_sha256[:12]}…; not kept")


def already_exists(key: str) -> StoreError:
    """A commit onto a visible object: refused, the object stays as it was."""
    return StoreError(f"{key} already exists in the store; not overwritten")

