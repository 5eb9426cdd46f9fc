"""A local directory store with atomic, verified writes.

Every artifact is written to a hidden temporary name beside its final one, hashed as it is
written, fsynced, checked against the size and sha256 it must have, and only then renamed to
its visible name (and the directory fsynced). A crash or a failed check leaves nothing under a
visible name. Files are 0600 and directories 0700: room exports hold PINs.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
from pathlib import Path, PurePosixPath
from types import TracebackType

from backup_agent.errors import IntegrityError, StoreError

CHUNK = 1024 * 1024


def sha256_file(path: Path) -> tuple[int, str]:
    """Size and sha256 of a file, read in chunks (constant memory)."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _safe_relpath(relpath: str) -> PurePosixPath:
    rel = PurePosixPath(relpath)
    if rel.is_absolute() or any(p in ("", ".", "..") for p in rel.parts) or "\\" in relpath:
        raise StoreError(f"refusing unsafe store path {relpath!r}")
    if any(p.startswith(".") for p in rel.parts):
        raise StoreError(f"refusing hidden store path {relpath!r} (reserved for temporary files)")
    return rel


class AtomicFile:
    """A binary file under a temporary name that becomes visible only by :meth:`commit`.

    It hashes what is written. ``seek(0)`` + ``truncate()`` start it over (a download retried
    from the start); other seeks are refused so the running hash stays true. A writer that
    already hashes every byte it writes (the backup download does, on a thread of its own)
    opens it with ``hashed=False`` and hands its digest to :meth:`commit`: hashing a gigabyte
    twice would halve the download's speed.
    """

    def __init__(self, final: Path, hashed: bool = True) -> None:
        self.final = final
        self.hashed = hashed
        self.tmp = final.with_name(f".{final.name}.tmp-{secrets.token_hex(4)}")
        fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._fh = os.fdopen(fd, "wb")
        self._digest = hashlib.sha256()
        self.size = 0
        self.committed = False

    def write(self, data: bytes) -> int:
        try:
            written = self._fh.write(data)
        except OSError as exc:
            raise self._store_error(exc) from exc
        if self.hashed:
            self._digest.update(data)
        self.size += len(data)
        return written

    def seek(self, pos: int, whence: int = 0) -> int:
        if (pos, whence) != (0, 0):
            raise StoreError("AtomicFile only seeks back to the start")
        self._fh.seek(0)
        return 0

    def tell(self) -> int:
        return self.size

    def truncate(self, size: int | None = None) -> int:
        if size not in (None, 0) or self._fh.tell() != 0:
            raise StoreError("AtomicFile only truncates to empty after seek(0)")
        self._fh.truncate(0)
        self._digest = hashlib.sha256()
        self.size = 0
        return 0

    def flush(self) -> None:
        try:
            self._fh.flush()
        except OSError as exc:
            raise self._store_error(exc) from exc

    def seekable(self) -> bool:
        return True

    @property
    def sha256(self) -> str:
        if not self.hashed:
            raise StoreError("this AtomicFile does not hash: its writer's digest goes to commit()")
        return self._digest.hexdigest()

    def commit(self, expected_size: int | None = None, expected_sha256: str | None = None,
               sha256: str | None = None) -> None:
        """fsync, check size and sha256, then rename into place. On a mismatch nothing stays.

        ``sha256`` is the writer's own digest of what it wrote, required when ``hashed=False``.
        """
        if not self.hashed:
            if sha256 is None:
                self.abort()
                raise StoreError(f"{self.final.name}: an unhashed write needs its writer's sha256")
            self._declared = sha256.lower()
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
        except OSError as exc:
            self.abort()
            raise self._store_error(exc) from exc
        if expected_size is not None and expected_size != self.size:
            self.abort()
            raise IntegrityError(
                f"{self.final.name}: got {self.size} bytes, expected {expected_size}; not kept"
            )
        got = self.sha256 if self.hashed else self._declared
        if expected_sha256 is not None and expected_sha256.lower() != got:
            self.abort()
            raise IntegrityError(
                f"{self.final.name}: sha256 {got[:12]}… does not match the expected "
                f"{expected_sha256[:12]}…; not kept"
            )
        try:
            _publish(self.tmp, self.final)
        except FileExistsError:
            self.abort()
            raise StoreError(f"{self.final} already exists; not overwritten (another run "
                             "chose the same restore point id: run again)") from None
        except OSError as exc:
            self.abort()
            raise self._store_error(exc) from exc
        self.committed = True
        try:
            _fsync_dir(self.final.parent)
        except OSError as exc:
            raise self._store_error(exc) from exc

    def abort(self) -> None:
        """Drop the temporary file. Safe to call twice."""
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

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        if not self.committed:
            self.abort()


class LocalStore:
    """Artifacts under one root directory, addressed by safe relative paths."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, relpath: str) -> Path:
        return self.root.joinpath(*_safe_relpath(relpath).parts)

    def writer(self, relpath: str, hashed: bool = True) -> AtomicFile:
        """An :class:`AtomicFile` for ``relpath``; its directories are made 0700."""
        final = self.path(relpath)
        try:
            _makedirs(final.parent)
            return AtomicFile(final, hashed)
        except OSError as exc:
            raise StoreError(f"cannot write under {self.root}: {exc.strerror or exc}") from exc

    def put_bytes(self, relpath: str, data: bytes) -> tuple[int, str]:
        """Write ``data`` atomically; returns (size, sha256)."""
        with self.writer(relpath) as fh:
            fh.write(data)
            fh.commit(expected_size=len(data))
            return fh.size, fh.sha256

    def read_bytes(self, relpath: str) -> bytes:
        try:
            return self.path(relpath).read_bytes()
        except OSError as exc:
            raise StoreError(f"cannot read {relpath} from the store: {exc.strerror or exc}") from exc

    def check(self, relpath: str, size: int, sha256: str) -> str | None:
        """None when the file is there and hashes right, else what is wrong."""
        p = self.path(relpath)
        if not p.is_file():
            return "missing"
        got_size, got_sha = sha256_file(p)
        if got_size != size:
            return f"size {got_size} != {size}"
        if got_sha != sha256:
            return "sha256 mismatch"
        return None

    def delete(self, relpath: str) -> None:
        p = self.path(relpath)
        try:
            p.unlink()
        except FileNotFoundError:
            return
        # Remove emptied directories up to the root so retention leaves no husks.
        parent = p.parent
        while parent != self.root and parent.is_relative_to(self.root):
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent


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
