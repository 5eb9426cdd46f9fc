"""A local directory store with atomic, verified writes.

Every object is written to a hidden temporary name beside its final one, hashed as it is
written, fsynced, checked against the size and sha256 it must have, and only then given its
visible name (and the directory fsynced). A crash or a failed check leaves nothing under a
visible name, and a visible file is never replaced. Files are 0600 and directories 0700: room
exports hold PINs. The only module that turns a key into a local path.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import os
import re
import secrets
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from backup_agent.errors import StoreError
from backup_agent.store.base import ObjectInfo, Store, already_exists, check_key, check_written, commit_digest
from backup_agent.store.sinks import HashingSink

#: The hidden name :class:`AtomicFile` writes under until its commit.
TEMPORARY = re.compile(r"\..+\.tmp-[0-9a-f]{8}")


class AtomicFile(HashingSink):
    """A :class:`~backup_agent.store.base.Sink` on a local temporary file.

    A writer that already hashes every byte it writes (the backup download does, on a thread
    of its own) opens it with ``hashed=False`` and hands its digest to :meth:`commit`: hashing
    a gigabyte twice would halve the download's speed.
    """

    def __init__(self, key: str, final: Path, hashed: bool = True) -> None:
        super().__init__(key, hashed)
        self.final = final
        self.tmp = final.with_name(f".{final.name}.tmp-{secrets.token_hex(4)}")
        fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._fh = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> int:
        try:
            written = self._fh.write(data)
        except OSError as exc:
            raise self._store_error(exc) from exc
        self._count(data)
        return written

    def restart(self) -> None:
        try:
            self._fh.seek(0)
            self._fh.truncate(0)
        except OSError as exc:
            raise self._store_error(exc) from exc
        self._forget()

    def commit(self, expected_size: int | None = None, expected_sha256: str | None = None,
               sha256: str | None = None) -> ObjectInfo:
        """fsync, check size and sha256, then publish. On a mismatch nothing stays."""
        got = commit_digest(self, self.final.name, sha256)
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
        except OSError as exc:
            self.abort()
            raise self._store_error(exc) from exc
        try:
            check_written(self.key, self.size, got, expected_size, expected_sha256)
            _publish(self.tmp, self.final)
        except FileExistsError:
            self.abort()
            raise already_exists(self.key) from None
        except OSError as exc:
            self.abort()
            raise self._store_error(exc) from exc
        except BaseException:
            self.abort()
            raise
        self.committed = True
        try:
            _fsync_dir(self.final.parent)
        except OSError as exc:
            raise self._store_error(exc) from exc
        return ObjectInfo(self.key, self.size, datetime.now(UTC), got)

    def abort(self) -> None:
        super().abort()
        if not self._fh.closed:
            # Closing flushes the buffer, which fails again on a full disk: the file goes anyway.
            with contextlib.suppress(OSError):
                self._fh.close()
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()

    def _store_error(self, exc: OSError) -> StoreError:
        if exc.errno == errno.ENOSPC:
            return StoreError(f"disk full writing {self.final.name} under {self.final.parent}; "
                              "free space or move [storage] path, nothing was kept")
        return StoreError(f"cannot write {self.final}: {exc.strerror or exc}")


class LocalStore(Store):
    """Objects as files under one root directory; a key's segments are its directories."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._resolved: str | None = None

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def writer(self, key: str, hashed: bool = True) -> AtomicFile:
        final = self._path(key)
        try:
            _makedirs(final.parent)
            return AtomicFile(key, final, hashed)
        except OSError as exc:
            raise StoreError(f"cannot write under {self.root}: {exc.strerror or exc}") from exc

    def open(self, key: str) -> BinaryIO:
        try:
            return open(self._path(key), "rb")  # the caller closes the stream
        except OSError as exc:
            raise StoreError(f"cannot read {key} from the store: {exc.strerror or exc}") from exc

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            st = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise StoreError(f"cannot stat {key} in the store: {exc.strerror or exc}") from exc
        if not stat.S_ISREG(st.st_mode):
            return None
        return ObjectInfo(key, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        # Walk only the directory the prefix names: the rest of the store is not read.
        head = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        top = self._path(head) if head else self.root
        found = []
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel = Path(dirpath).relative_to(self.root).as_posix()
            for name in filenames:
                key = name if rel == "." else f"{rel}/{name}"
                if (not name.startswith(".") and key.startswith(prefix)
                        and (info := self.stat(key)) is not None):
                    found.append(info)
        return sorted(found, key=lambda i: i.key)

    def delete(self, key: str) -> None:
        self._unlink(key, self._path(key))

    def _unlink(self, key: str, p: Path) -> None:
        """Remove ``p`` (the file of ``key``; gone already is fine) and the emptied directories."""
        try:
            p.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            # bandit B608: a message, not SQL
            raise StoreError(f"cannot delete {key} from the store: {exc.strerror or exc}") from exc  # nosec B608
        self._remove_empty(p.parent)

    def _remove_empty(self, parent: Path) -> None:
        """Remove emptied directories up to the root so retention leaves no husks."""
        while parent != self.root and parent.is_relative_to(self.root):
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    def temporaries(self, prefix: str = "") -> builtins.list[ObjectInfo]:
        """The hidden temporaries (``.NAME.tmp-XXXXXXXX``) under ``prefix``: what a write
        killed before its commit left. Keys as :meth:`list`'s, the last segment hidden."""
        head = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        found = []
        for dirpath, dirnames, filenames in os.walk(self._path(head) if head else self.root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel = Path(dirpath).relative_to(self.root).as_posix()
            for name in filenames:
                key = name if rel == "." else f"{rel}/{name}"
                if TEMPORARY.fullmatch(name) and key.startswith(prefix):
                    with contextlib.suppress(OSError):
                        st = os.lstat(Path(dirpath) / name)
                        if stat.S_ISREG(st.st_mode):
                            found.append(ObjectInfo(key, st.st_size,
                                                    datetime.fromtimestamp(st.st_mtime, UTC)))
        return sorted(found, key=lambda i: i.key)

    def remove_temporary(self, key: str) -> None:
        """Remove one of :meth:`temporaries` (and the directories it leaves empty)."""
        parent, _, name = key.rpartition("/")
        if not TEMPORARY.fullmatch(name):
            raise StoreError(f"refusing to remove {key!r}: not a temporary of the store")
        self._unlink(key, (self._path(parent) if parent else self.root) / name)

    def location(self, key: str) -> str:
        # The root resolved once, not every key's path (a listing of 10,000 restore points
        # made 120,000 lstat calls); keys are checked, relative and hold no '..'.
        if self._resolved is None:
            self._resolved = str(self.root.resolve())
        return self._resolved + os.sep + check_key(key).replace("/", os.sep)


def _publish(tmp: Path, final: Path) -> None:
    """Give ``tmp`` its visible name, never replacing a file already there (a restore point)."""
    try:
        os.link(tmp, final)  # atomic, and fails with EEXIST rather than overwrite
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        # A filesystem without hard links: check, then rename (a narrow race, not a silent one).
        if final.exists():
            raise FileExistsError(errno.EEXIST, "exists", str(final)) from None
        os.replace(tmp, final)
        return
    tmp.unlink()


def _makedirs(path: Path) -> None:
    # mkdir(parents=True) gives the parents the umask's mode, not 0700: make each level itself.
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    for level in reversed(missing):
        level.mkdir(mode=0o700, exist_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
