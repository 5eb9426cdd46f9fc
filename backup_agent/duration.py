"""Durations as people write them in agent.toml: ``30s``, ``5m``, ``6h``, ``14d``, ``2w``, ``1h30m``.

Pure: used by schedules (``@every 6h``), retention (``keep_within = "14d"``) and alerts
(``stale_after = "26h"``). ``m`` is minutes, as Velero's and Go's durations have it.
"""

from __future__ import annotations

import re
from datetime import timedelta

from backup_agent.errors import ConfigError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?[smhdw])+$")


def parse_duration(text: str, where: str) -> timedelta:
    """``text`` as a positive :class:`timedelta`; a ConfigError naming ``where`` otherwise."""
    compact = text.strip().replace(" ", "")
    if not isinstance(text, str) or not _WHOLE.match(compact):
        raise ConfigError(f"{where}: {text!r} is not a duration (like 30s, 5m, 6h, 14d, 2w, 1h30m)")
    seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(compact))
    if seconds <= 0:
        raise ConfigError(f"{where}: {text!r} must be longer than zero")
    return timedelta(seconds=seconds)


def duration_text(td: timedelta) -> str:
    """The shortest exact form: ``90s`` → ``1m30s``, ``86400s`` → ``1d``."""
    left = int(td.total_seconds())
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size:
            out += f"{left // size}{unit}"
            left %= size
    return out or "0s"
