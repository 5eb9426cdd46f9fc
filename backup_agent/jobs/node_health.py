"""Conferencing Node health from what real nodes report (issue 8, defect 6).

Status objects carry no address and, on older releases, no ``sync_status``; ``last_updated``
is no heartbeat (a day old on a healthy node). A node is judged from its contact
(``last_attempted_contact``, else ``last_reported``), ``deploy_status``, ``sync_status`` where it
exists, and alarms by identifier, mapped to the node through the ``address`` of its definition
in ``configuration/v1/worker_vm/``. ``history/v1/workervm_status_event/`` (where the release
has it) and ``history/v1/alarm/`` say since when a node is out of contact.

Pure: the caller fetches, this decides. A node out of contact is ``unknown`` (it may still
run on its own, and the planner counts it as possibly running), with the reason and since when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

CONTACT_LOST = "connectivity_lost"
SYNC_FAILED = ("configuration_sync_failure", "confuration_sync_failure")  # both spellings exist
DEPLOYED = ("deploy_succeeded", "succeeded", "deployed")
#: Contact older than this, next to the freshest contact any node reports, is lost contact.
STALE = timedelta(minutes=10)
LOST_STATES = ("unreachable", "lost", "disconnected", "down", "failed", "out_of_contact")
RUNNING_STATES = ("running", "connected", "reachable", "up", "in_contact")


@dataclass(frozen=True)
class NodeHealth:
    """One node's judgement: ``status`` up or unknown, why, and since when it is out of contact."""

    name: str
    status: str
    why: str = ""
    contact: datetime | None = None
    out_of_contact_since: datetime | None = None
    address: str | None = None


def api_time(value: Any) -> datetime | None:
    """An API timestamp (UTC, with or without zone) as an aware datetime; None if unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def contact_of(status: dict[str, Any]) -> datetime | None:
    """When the Management Node last had contact with the node (not ``last_updated``)."""
    return api_time(status.get("last_attempted_contact")) or api_time(status.get("last_reported"))


def _lost_at(name: str, address: str | None, events: list[dict[str, Any]]) -> datetime | None:
    """When the node's current loss of contact began, from its status events (None: in contact)."""
    lost: datetime | None = None
    mine = [e for e in events if e.get("workervm_configuration_name") == name
            or (address and e.get("workervm_address") == address)]
    for event in sorted(mine, key=lambda e: str(e.get("time_changed") or "")):
        words = f"{event.get('state') or ''} {event.get('event_type') or ''}".lower()
        if any(w in words for w in LOST_STATES):
            lost = lost or api_time(event.get("time_changed"))
        elif any(w in words for w in RUNNING_STATES) or "added" in words:
            lost = None
    return lost


def judge(statuses: list[dict[str, Any]], configs: list[dict[str, Any]],
          alarms: list[dict[str, Any]], events: list[dict[str, Any]] | None,
          now: datetime, manager_contact: datetime | None = None) -> dict[str, NodeHealth]:
    """Every node's health, by name. ``events`` None: the release keeps no status events."""
    address = {str(c.get("name")): c.get("address") for c in configs}
    by_address: dict[str, list[dict[str, Any]]] = {}
    for alarm in alarms:
        by_address.setdefault(str(alarm.get("node") or ""), []).append(alarm)
    contacts = [c for s in statuses if (c := contact_of(s))] + [manager_contact] * bool(manager_contact)
    reference = max([c for c in contacts if c is not None], default=now)
    out = {}
    for status in statuses:
        name = str(status.get("name"))
        addr = address.get(name)
        out[name] = _one(name, addr, status, by_address.get(str(addr or ""), []), events or [],
                         reference)
    return out


def _one(name: str, address: str | None, status: dict[str, Any], alarms: list[dict[str, Any]],
         events: list[dict[str, Any]], reference: datetime) -> NodeHealth:
    contact = contact_of(status)
    names = {str(a.get("name")) for a in alarms}
    lost_alarm = [a for a in alarms if a.get("name") == CONTACT_LOST]
    stale = contact is None or reference - contact > STALE
    if lost_alarm or (stale and contact is not None):
        raised = min((t for a in lost_alarm if (t := api_time(a.get("time_raised")))), default=None)
        since = _lost_at(name, address, events) or raised or contact
        why = ("out of contact with the Management Node: connectivity_lost alarm" if lost_alarm
               else "out of contact with the Management Node: no contact for "
                    f"{int((reference - contact).total_seconds() // 60)} min" if contact else "")
        return NodeHealth(name, "unknown", why, contact, since, address)
    deploy = str(status.get("deploy_status") or "").lower()
    if deploy and deploy not in DEPLOYED:
        return NodeHealth(name, "unknown", f"deploy_status {deploy}", contact, None, address)
    if names & set(SYNC_FAILED):
        return NodeHealth(name, "unknown", "configuration_sync_failure alarm", contact, None, address)
    if "sync_status" in status and status.get("sync_status") != "SYNCED":
        return NodeHealth(name, "unknown", f"sync_status {status.get('sync_status')}", contact,
                          None, address)
    if contact is None:
        return NodeHealth(name, "unknown", "no contact time reported", None, None, address)
    return NodeHealth(name, "up", "", contact, None, address)
