"""The autonomy clock: how long Conferencing Nodes can still run without their Management Node.

Pexip Infinity Conferencing Nodes keep working for at most 14 consecutive days without
contact with their Management Node; after that the deployment stops. The clock applies when
the Management Node is down (or ``unknown``, planned for as down) and at least one Conferencing
Node is up or ``unknown`` (it may still run). ``deadline`` is ``down_since`` + 14 days exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from backup_agent.planner.evidence import Evidence, effective_status, format_time, management_down

AUTONOMY = timedelta(days=14)
CRITICAL_WITHIN = timedelta(hours=72)
LEVELS = ("none", "warning", "critical", "expired")


@dataclass(frozen=True)
class Autonomy:
    """The clock's state at the evidence's ``now``; times are ``None`` when it does not apply."""

    applies: bool
    down_since: datetime | None
    deadline: datetime | None
    remaining: timedelta | None
    level: str

    @property
    def remaining_hours(self) -> float | None:
        """Hours left (negative once expired), rounded to 0.01 h for display."""
        if self.remaining is None:
            return None
        # + 0.0 turns a rounded -0.0 (one second past the deadline) into 0.0
        return round(self.remaining.total_seconds() / 3600, 2) + 0.0

    def to_dict(self) -> dict[str, Any]:
        """The ``autonomy`` object of the plan JSON."""
        return {
            "applies": self.applies,
            "down_since": format_time(self.down_since) if self.down_since else None,
            "deadline": format_time(self.deadline) if self.deadline else None,
            "remaining_hours": self.remaining_hours,
            "level": self.level,
        }


def hours_text(hours: float) -> str:
    """``hours`` (of ``remaining_hours``, sign ignored) as said on a bridge call: ``190.0 h``,
    then minutes in the last hour, where "0.0 h" would read as "none left"."""
    hours = abs(hours)
    if hours >= 1:
        return f"{hours:.1f} h"
    minutes = round(hours * 60)
    return f"{minutes} min" if minutes else "under a minute"


def level_for(remaining: timedelta) -> str:
    """``expired`` at 0 h or less, ``critical`` at 72 h or less, else ``warning``."""
    if remaining <= timedelta(0):
        return "expired"
    if remaining <= CRITICAL_WITHIN:
        return "critical"
    return "warning"


def autonomy_clock(ev: Evidence) -> Autonomy:
    """The autonomy clock for ``ev`` at ``ev.now``."""
    mn = ev.management_node
    mn_lost = management_down(ev) or mn.status == "unknown"
    may_run = any(effective_status(ev, n.name, n.status) in ("up", "unknown")
                  for n in ev.conferencing_nodes)
    if not (mn_lost and may_run):
        return Autonomy(False, mn.down_since, None, None, "none")
    if mn.down_since is None:
        # Only reachable for an ``unknown`` Management Node with no last contact on record:
        # no deadline can be computed, and a P1 call must not read that as "plenty of time".
        return Autonomy(True, None, None, None, "critical")
    deadline = mn.down_since + AUTONOMY
    remaining = deadline - ev.now
    return Autonomy(True, mn.down_since, deadline, remaining, level_for(remaining))
