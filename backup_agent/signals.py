"""Signals, installed once by the entry point (``cli/main.py``; the daemon does the same).

borg's way: SIGTERM becomes an exception, :class:`~backup_agent.errors.Terminated` (a
KeyboardInterrupt), raised in the main thread, so every run frame and the restore journal end
``interrupted`` on it exactly as on Ctrl-C, in one ``except`` clause.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from backup_agent.errors import Terminated


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` in the main thread inside the block; the previous
    handler comes back after (a test runner, or an embedding process, keeps its own)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only: nothing to install from another one
        return

    def raise_terminated(signum: int, frame: object) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
