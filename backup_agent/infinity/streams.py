"""Byte streams of the backup transfers: where a download writes, what an upload reads.

A download writes into a :class:`RestartableSink` (the store's sinks are ones; a plain file
becomes one through :class:`FileSink`), hashed off the receiving thread by :class:`Sha256Pipe`.
An upload reads a :class:`Package`: a name, a size and a way to open its bytes afresh for each
attempt, so the client never needs to know where (on disk, in an object store) they are.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol


class RestartableSink(Protocol):
    """Where a download writes: ``restart`` forgets what was written, for a retry from byte 0."""

    def write(self, data: bytes) -> int:
        """Append ``data``; an OSError or a StoreError here (disk full) ends the download."""
        ...

    def restart(self) -> None:
        """Start over: empty, as if nothing had been written."""
        ...


class FileSink:
    """A seekable, truncatable binary file as a :class:`RestartableSink`."""

    def __init__(self, fileobj: BinaryIO) -> None:
        self.fileobj = fileobj

    def write(self, data: bytes) -> int:
        return self.fileobj.write(data)

    def restart(self) -> None:
        self.fileobj.seek(0)
        self.fileobj.truncate()


@dataclass(frozen=True)
class Package:
    """A backup file to upload: its name, its size, and a fresh stream of it per attempt."""

    name: str
    size: int
    open: Callable[[], BinaryIO]

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> Package:
        """A package read from a local file (tests, a file handed over by an operator)."""
        p = Path(path)
        return cls(p.name, p.stat().st_size, lambda: open(p, "rb"))


class Sha256Pipe:
    """sha256 in a thread of its own, so hashing overlaps receiving and writing.

    hashlib releases the GIL on large updates: with the hash on another core a download runs
    at the pace of the slower of the two instead of their sum. At most QUEUED chunks wait.
    """

    QUEUED = 8

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=self.QUEUED)
        self._thread = threading.Thread(target=self._run, name="backup-sha256", daemon=True)
        self._thread.start()
        self._open = True

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            self._sha.update(chunk)

    def feed(self, chunk: bytes) -> None:
        """Queue ``chunk`` for hashing (blocks while QUEUED chunks wait)."""
        self._queue.put(chunk)

    def hexdigest(self) -> str:
        """Wait for every queued chunk; the sha256 of all of them."""
        self.close()
        return self._sha.hexdigest()

    def close(self) -> None:
        """Stop the hashing thread (idempotent)."""
        if self._open:
            self._open = False
            self._queue.put(None)
            self._thread.join()

    def __enter__(self) -> Sha256Pipe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MultipartBody:
    """A multipart/form-data body (``passphrase`` + ``package``) read from its stream as sent."""

    def __init__(self, package: Package, passphrase: str, boundary: str) -> None:
        self.boundary = boundary
        safe = package.name.replace('"', "_").replace("\r", "_").replace("\n", "_")
        b = self.boundary.encode()
        self._head = (b"--" + b + b'\r\nContent-Disposition: form-data; name="passphrase"\r\n\r\n'
                      + passphrase.encode("utf-8") + b"\r\n--" + b
                      + b'\r\nContent-Disposition: form-data; name="package"; filename="'
                      + safe.encode("utf-8") + b'"\r\nContent-Type: application/octet-stream\r\n\r\n')
        self._tail = b"\r\n--" + b + b"--\r\n"
        self._file = package.open()  # closed when fully read
        self._size = package.size
        self._parts: list[bytes | None] = [self._head, None, self._tail]

    def __len__(self) -> int:
        return len(self._head) + self._size + len(self._tail)

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes of the body (all of what is left when ``n`` < 0)."""
        out = b""
        while self._parts and (n < 0 or len(out) < n):
            part = self._parts[0]
            want = -1 if n < 0 else n - len(out)
            if part is None:
                data = self._file.read(want)
                if not data:
                    self._file.close()
                    self._parts.pop(0)
                out += data
            else:
                take = part if want < 0 else part[:want]
                out += take
                rest = part[len(take):]
                if rest:
                    self._parts[0] = rest
                else:
                    self._parts.pop(0)
        return out
