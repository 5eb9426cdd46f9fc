"""One log line format for stderr and the agent's log: times in UTC, ISO 8601.

Everything else the agent writes (catalog, journal, plans, bundles) is in UTC; a log in the
machine's local time, without a zone, would not line up with them in a support bundle.
"""

from __future__ import annotations

import logging
import time


class UTCFormatter(logging.Formatter):
    """``2026-11-26T11:22:54.291Z LEVEL logger: message``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """The record's time as UTC ISO 8601 with milliseconds."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"
