"""Private files the agent writes outside the store: deployment files, runbooks, bundles.

Every write goes through :func:`write_private`: a temporary made with ``mkstemp`` (``O_EXCL``,
0600, an unpredictable name) beside the target, then renamed over it, so a planted symlink is
never followed and a reader never sees half a file. A target that exists and is not a regular
file (a FIFO, a device node, a directory) is refused rather than replaced.

Names from the Management Node (Conferencing Node names) become file names only through
:func:`safe_file_name` and land only through :func:`confined`: they are data, never paths.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from backup_agent.errors import StoreError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
MAX_NAME = 80


def safe_file_name(name: str) -> str:
    """``name`` as one harmless file name: ``[A-Za-z0-9._-]``, no leading dot, bounded.

    A name that had to change gets a short hash of the original, so two different node names
    never map to one file (``a/b`` and ``a_b``).
    """
    safe = _UNSAFE.sub("_", name)[:MAX_NAME].lstrip(".") or "_"
    if safe != name:
        safe = f"{safe}-{hashlib.sha256(name.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"
    return safe


def confined(directory: Path, name: str, suffix: str = "") -> Path:
    """The path of the file for ``name`` directly inside ``directory``, never outside it."""
    path = directory / (safe_file_name(name) + suffix)
    if path.parent != directory or path.name in ("", ".", ".."):
        raise StoreError(f"refusing file name {name!r}: not a plain name")  # cannot happen
    return path


def check_target(path: Path) -> None:
    """Refuse a target that exists and is not a regular file (or a link to one)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise StoreError(f"refusing to write {path}: it exists and is not a regular file")


def _private_dirs(directory: Path) -> None:
    # mkdir(parents=True) gives the parents the umask's mode: make each missing one 0700.
    missing = [d for d in (directory, *directory.parents) if not d.exists()]
    for d in reversed(missing):
        d.mkdir(mode=0o700, exist_ok=True)


def write_private(path: Path, data: bytes | Callable[[BinaryIO], None]) -> None:
    """Write ``data`` (bytes, or a function writing to the open file) to ``path``, 0600.

    Parent directories are made 0700. The file appears whole or not at all.
    """
    _private_dirs(path.parent)
    check_target(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:40]}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            if callable(data):
                data(fh)
            else:
                fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        os.unlink(tmp)
        raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        os.unlink(tmp)
        raise


def read_bounded(path: str | os.PathLike[str], limit: int) -> bytes:
    """At most ``limit`` bytes of the file at ``path``; more is an error, not a MemoryError.

    ``/dev/zero`` or a runaway log given as a configuration, evidence or secret file would
    otherwise be read until memory runs out. Raises ``OSError`` (``EFBIG`` when too large)
    and ``ValueError`` for a name with a NUL byte, for the caller to word.
    """
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit} bytes")
    return data
