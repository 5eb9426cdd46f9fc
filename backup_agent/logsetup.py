"""The agent's own log file, set up once per process by the entry point (``cli/main.py`` sets
up stderr, and this log once the configuration is read; the daemon does the same).

The agent's own log lives under the storage path (rotated, 0600); ``support-bundle``
attaches it. The file handler belongs to the process,
not to an :class:`~backup_agent.jobs.env.Env`: no job or Env adds or removes handlers, so one
Env closing cannot cut the log of another still running.
"""

from __future__ import annotations

import logging
import os
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

from backup_agent.logformat import UTCFormatter

log = logging.getLogger(__name__)


class _PrivateRotatingFileHandler(RotatingFileHandler):
    """A rotating log whose new files are 0600 too, not the umask's 0644."""

    agent_log = True  # how use_file_log finds the handler it installed

    def _open(self) -> Any:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)


def attach_file_log(path: Path) -> logging.Handler | None:
    """A rotated 0600 log at ``path`` on the root logger; None when it cannot be written."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        handler = _PrivateRotatingFileHandler(path, maxBytes=5_000_000, backupCount=3,
                                              encoding="utf-8")
    except OSError as exc:  # a read-only store still lets read commands run
        log.warning("cannot write the agent log %s: %s", path, exc.strerror)
        return None
    handler.setLevel(logging.INFO)
    handler.setFormatter(UTCFormatter())
    logging.getLogger().addHandler(handler)
    return handler


def use_file_log(path: Path) -> None:
    """Make ``path`` the process's agent log: once per path, replacing another path's log.

    A process has one configuration, so one agent log; a test process running many
    configurations in turn gets the current one's. Called by the entry point, from its main
    thread, before any job runs.
    """
    root = logging.getLogger()
    mine = [h for h in root.handlers if getattr(h, "agent_log", False)]
    if any(getattr(h, "baseFilename", None) == str(path) for h in mine):
        return
    for handler in mine:
        root.removeHandler(handler)
        handler.close()
    attach_file_log(path)
