"""SIGTERM raised as Terminated (a KeyboardInterrupt) inside the entry point's block, only there."""

from __future__ import annotations

import os
import signal
import time

import pytest

from backup_agent.errors import Terminated
from backup_agent.signals import sigterm_raises


def test_sigterm_is_an_interruption_inside_the_block_and_the_old_handler_comes_back() -> None:
    seen: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    try:
        with pytest.raises(KeyboardInterrupt) as caught, sigterm_raises():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # interrupted at once, not waited out
        assert isinstance(caught.value, Terminated)
        os.kill(os.getpid(), signal.SIGTERM)  # after the block: the handler from before
        time.sleep(0.05)
        assert seen == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)
