"""``[retention.runs]``: how much run history the retention job keeps.

Every job leaves a run (the daemon's ``watch`` one every 5 minutes: 105,120 a year for each
deployment), so run history is pruned: a run is removed once it is older than ``keep_days``
and is not one of the ``keep_last`` newest runs of its job for its deployment. Never removed,
whatever its age: a run still going, and a run a restore point refers to (the run that made
it, or the retention run that removed it). The restore journal refers to no run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from backup_agent.errors import ConfigError

RUN_KEYS = ("keep_days", "keep_last")


@dataclass(frozen=True)
class RunRetention:
    keep_days: int = 90  # a quarter of history: trends and the last drills stay readable
    keep_last: int = 50  # of each job: the daemon reads the last 50 for a job's last success

    def cutoff(self, now: datetime) -> datetime:
        """Runs started before this may go (unless among the last ``keep_last`` of their job)."""
        return now - timedelta(days=self.keep_days)

    def to_dict(self) -> dict[str, int]:
        return {"keep_days": self.keep_days, "keep_last": self.keep_last}

    @classmethod
    def from_mapping(cls, where: str, raw: Any) -> RunRetention:
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{where}: must be a table")
        for key in raw:
            if key not in RUN_KEYS:
                raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(RUN_KEYS)})")
        values = {}
        for key in RUN_KEYS:
            value = raw.get(key, getattr(cls, key))
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{where}.{key}: must be a whole number >= 1, not {value!r}")
            values[key] = value
        return cls(**values)
