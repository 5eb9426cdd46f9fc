"""Alarms and node status events, as ``status/v1/alarm/``, ``history/v1/alarm/`` and
``history/v1/workervm_status_event/`` answer them.

Alarms carry real identifiers (``connectivity_lost``, ``configuration_sync_failure``,
``autobackup_upload_failed``, ``licenses_expiring``) and, in ``node``, the IPv4 address of the
node concerned, not its name (infinity-api.md, "Real answers"). A lowered alarm moves to the
history with ``time_lowered``. The numeric ``identifier`` values and the status event's
``event_type``/``state`` words for a contact lost (``workervm_state_changed``,
``unreachable``/``running``) are this simulator's reading: no source found gives them.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from backup_agent.sim.backups import api_time
from backup_agent.sim.model import API

if TYPE_CHECKING:
    from backup_agent.sim.state import SimState

#: name -> (identifier, level, what the web UI says)
ALARMS: dict[str, tuple[int, str, str]] = {
    "connectivity_lost": (2002, "error", "Connectivity lost between nodes"),
    "configuration_sync_failure": (2010, "error", "Configuration synchronization failed"),
    "autobackup_upload_failed": (4031, "warning", "Automatic backup upload failed"),
    "licenses_expiring": (5005, "warning", "Licenses are about to expire"),
}
LOST_STATE = "unreachable"
EVENT_TYPE = "workervm_state_changed"


class Events:
    """Every alarm raised (active and lowered) and every node status event, in order."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self._lock = threading.RLock()
        self.alarms: list[dict[str, Any]] = []
        self.status_events: list[dict[str, Any]] = []

    def clear(self) -> None:
        with self._lock:
            self.alarms.clear()
            self.status_events.clear()

    def seed(self) -> None:
        """Each seeded node was added, and has run since, long before the simulator started."""
        deployed = self.state.opts.now() - timedelta(days=30)
        for row in self.state.config.rows("worker_vm"):
            self.status_event(row, "workervm_added", "running", deployed)

    # -- alarms --------------------------------------------------------------------------
    def raise_alarm(self, name: str, node: str, instance: str = "", details: str = "",
                    now: datetime | None = None, level: str | None = None) -> dict[str, Any]:
        """Raise alarm ``name`` on ``node`` (an IPv4 address); an active duplicate is kept.
        ``level`` overrides the alarm's own (``critical``, for a checkpoint's gate)."""
        identifier, own_level, words = ALARMS.get(name, (9999, "warning", name))
        level = level or own_level
        with self._lock:
            for alarm in self.alarms:
                if alarm["name"] == name and alarm["node"] == node and alarm["time_lowered"] is None:
                    return alarm
            alarm = {"id": len(self.alarms) + 1, "identifier": identifier, "instance": instance,
                     "level": level, "name": name, "node": node, "acknowledged": False,
                     "details": details or words,
                     "time_raised": api_time(now or self.state.opts.now()), "time_lowered": None}
            self.alarms.append(alarm)
            return alarm

    def lower_alarm(self, name: str, node: str | None = None, now: datetime | None = None) -> int:
        """Lower the active alarms ``name`` (of ``node``); how many were lowered."""
        lowered = 0
        with self._lock:
            for alarm in self.alarms:
                if (alarm["name"] == name and alarm["time_lowered"] is None
                        and node in (None, alarm["node"])):
                    alarm["time_lowered"] = api_time(now or self.state.opts.now())
                    lowered += 1
        return lowered

    def active(self) -> list[dict[str, Any]]:
        """``status/v1/alarm/`` objects."""
        with self._lock:
            return [{**{k: v for k, v in a.items() if k != "time_lowered"},
                     "resource_uri": f"{API}status/v1/alarm/{a['id']}/"}
                    for a in self.alarms if a["time_lowered"] is None]

    def history(self) -> list[dict[str, Any]]:
        """``history/v1/alarm/`` objects: the lowered alarms, with ``time_lowered``."""
        with self._lock:
            return [{**a, "resource_uri": f"{API}history/v1/alarm/{a['id']}/"}
                    for a in self.alarms if a["time_lowered"] is not None]

    # -- node status events --------------------------------------------------------------
    def status_event(self, row: dict[str, Any] | None, event_type: str, state: str,
                     moment: datetime, name: str | None = None) -> None:
        """Record one ``history/v1/workervm_status_event/`` entry."""
        row = row or {}
        with self._lock:
            ident = len(self.status_events) + 1
            self.status_events.append({
                "id": ident, "event_type": event_type, "state": state, "context": None,
                "details": None, "time_changed": api_time(moment),
                "workervm_address": row.get("address", ""),
                "workervm_configuration_id": row.get("id"),
                "workervm_configuration_name": row.get("name", name),
                "workervm_configuration_location_name":
                    self.state.location_name(row.get("system_location")) or None,
                "resource_uri": f"{API}history/v1/workervm_status_event/{ident}/"})

    def contact_lost(self, row: dict[str, Any], moment: datetime) -> None:
        """A node is out of contact: its ``connectivity_lost`` alarm and status event."""
        self.raise_alarm("connectivity_lost", str(row.get("address", "")),
                         instance=self.state.opts.management_address,
                         details="Lost connectivity with the Management Node", now=moment)
        self.status_event(row, EVENT_TYPE, LOST_STATE, moment)

    def contact_restored(self, name: str, row: dict[str, Any] | None, moment: datetime) -> None:
        """A node is in contact again: the alarm is lowered."""
        if row is not None:
            self.lower_alarm("connectivity_lost", str(row.get("address", "")), now=moment)
        self.status_event(row, EVENT_TYPE, "running", moment, name=name)

    def history_events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self.status_events]
