"""Locks held across processes: an flock on a file under the storage path's ``locks/``.

The kernel drops an flock when its holder dies, so a crash never leaves a lock stuck. The
holder writes who it is into the file (cleared when it lets go), for the message of the one
refused. The daemon's storage lock and each job's run lock are both this.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from backup_agent.errors import StoreError


@contextmanager
def held(path: Path, text: str, refused: Callable[[str], Exception],
         label: str = "the lock") -> Iterator[None]:
    """Hold the lock file ``path``, writing ``text`` into it, or raise ``refused(what the
    holder wrote)`` at once; a StoreError naming ``label`` when the file cannot be opened."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fh = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o600), "r+")
    except OSError as exc:
        raise StoreError(f"cannot take {label} {path}: {exc.strerror or exc}") from exc
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise refused(fh.read().strip()) from None
        fh.truncate(0)
        fh.write(text)
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)
