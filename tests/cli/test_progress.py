"""The download progress line: shown on a terminal, silent otherwise."""

from __future__ import annotations

import io
import os
import pty

from backup_agent.cli.progress import ProgressLine, factory


def test_quiet_when_not_a_terminal() -> None:
    assert factory(io.StringIO())("backup.tar") is None


def test_progress_on_a_real_terminal() -> None:
    leader, follower = pty.openpty()
    try:
        with os.fdopen(follower, "w", closefd=False) as tty:
            line = factory(tty)("backup.tar")
            assert isinstance(line, ProgressLine)
            line(500_000, 1_000_000)
            line(1_000_000, 1_000_000)
        shown = os.read(leader, 4096).decode()
    finally:
        os.close(leader)
        os.close(follower)
    assert "backup.tar" in shown and "100.0%" in shown and "MB/s" in shown
