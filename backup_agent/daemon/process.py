"""What the daemon's process holds for its life: one storage path, few malloc arenas."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from backup_agent import filelock
from backup_agent.errors import NotReadyError


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's per-thread malloc arenas before the job threads start.

    Every thread that ever ran a job otherwise keeps an arena of its own for the life of the
    daemon: 40-50 MB of idle RSS at 10 deployments (bench/bench_daemon.py). Nothing on a libc
    without mallopt.
    """
    import ctypes
    import ctypes.util

    with contextlib.suppress(OSError, AttributeError, TypeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-8, arenas)  # M_ARENA_MAX


def _lock_path(storage: Path) -> Path:
    return storage / "locks" / "daemon.lock"


@contextmanager
def storage_lock(storage: Path) -> Iterator[str]:
    """One daemon per storage path; a second one is refused with the holder's pid.

    Yields the holder's mark, ``PID NANOSECONDS`` (also the lock file's text): the owner a
    trigger's reserved run records. Another process tells a live owner with
    :func:`live_daemon`; the time keeps a restarted daemon apart from its predecessor even
    where both are pid 1 (a container).
    """
    def refused(held: str) -> NotReadyError:
        return NotReadyError(f"another backup-agent daemon (pid {(held.split() or ['unknown'])[0]}) "
                             f"already runs on storage path {storage}; stop it first")

    mark = f"{os.getpid()} {time.time_ns()}"
    with filelock.held(_lock_path(storage), mark, refused, "the daemon lock"):
        yield mark


def live_daemon(storage: Path) -> str | None:
    """The mark of the daemon holding ``storage``'s lock now (see :func:`storage_lock`), None
    when no process holds it. Probed with a shared flock taken and dropped at once; from
    the daemon's own process too (another open file description conflicts with its lock)."""
    try:
        fd = os.open(_lock_path(storage), os.O_RDONLY)
    except OSError:
        return None  # never taken: no daemon ever ran here
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.read(fd, 100).decode("ascii", "replace").strip() or None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
