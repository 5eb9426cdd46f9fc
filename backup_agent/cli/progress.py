"""A download progress line on stderr when it is a terminal; nothing otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from backup_agent.jobs.env import Progress


class ProgressLine:
    """Redraws one line: name, bytes, percent, rate. At most ten redraws a second."""

    def __init__(self, label: str, stream: TextIO) -> None:
        self.label, self.stream = label, stream
        self.start = self.last = time.monotonic()

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        finished = total is not None and done >= total
        if now - self.last < 0.1 and not finished:
            return
        self.last = now
        rate = done / max(now - self.start, 1e-6) / 1e6
        pct = f" {100 * done / total:5.1f}%" if total else ""
        self.stream.write(f"\r{self.label}: {done / 1e6:,.1f} MB{pct} {rate:,.1f} MB/s")
        if finished:
            self.stream.write("\n")
        self.stream.flush()


def factory(stream: TextIO | None = None) -> Callable[[str], Progress | None]:
    out = stream or sys.stderr  # looked up per call: tests and daemons swap sys.stderr

    def make(label: str) -> Progress | None:
        return ProgressLine(label, out) if out.isatty() else None
    return make
