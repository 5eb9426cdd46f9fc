"""The live probe of a Management Node: node health, alarms, built-in backups, licences.

What ``evidence`` and ``status`` read from a node that answers. The status resources decide
whether the Management Node is up; everything else (definitions, alarms, history, autobackup,
licences) is read as well as it can be: a node that refuses one of them is still up, and what
could not be read is said, never guessed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from backup_agent.catalog import iso
from backup_agent.errors import ApiError
from backup_agent.infinity import InfinityClient
from backup_agent.jobs.node_health import NodeHealth, api_time, contact_of, judge
from backup_agent.planner.version import Version

log = logging.getLogger(__name__)
HISTORY_DAYS = 15  # the autonomy clock's 14 days, and a day to spare
LICENCE_WARN_DAYS = 30
AUTOBACKUP_FAILED = "autobackup_upload_failed"
LICENCES_EXPIRING = "licenses_expiring"


@dataclass
class Live:
    """What the Management Node said, and the node health judged from it."""

    managers: list[dict[str, Any]]
    workers: list[dict[str, Any]]
    configs: list[dict[str, Any]] = field(default_factory=list)
    alarms: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] | None = None
    health: dict[str, NodeHealth] = field(default_factory=dict)
    unread: list[str] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)  # audit(): alarms, licences, warnings

    def node_of(self, address: Any) -> str:
        """The node name an alarm's ``node`` (an IPv4 address) stands for; the address else."""
        for conf in self.configs:
            if conf.get("address") == address and address:
                return str(conf.get("name"))
        return str(address or "")


def _optional(live: Live, what: str, read: Any, default: Any) -> Any:
    try:
        return read()
    except ApiError as exc:
        log.warning("cannot read %s from the Management Node: %s", what, exc)
        live.unread.append(what)
        return default


def read(client: InfinityClient, now: datetime) -> Live:
    """Probe the node; ApiError (and AuthError) when its status resources do not answer."""
    live = Live(client.management_vm_status(), client.worker_vm_status())
    since = iso(now - timedelta(days=HISTORY_DAYS)).replace("Z", "")
    live.configs = _optional(live, "configuration/v1/worker_vm/", client.worker_vm_config, [])
    live.alarms = _optional(live, "status/v1/alarm/", client.alarms, [])
    live.events = _optional(live, "history/v1/workervm_status_event/",
                            lambda: client.worker_vm_events(since), None)
    primary = next((m for m in live.managers if m.get("primary", True)), None)
    live.health = judge(live.workers, live.configs, live.alarms, live.events, now,
                        contact_of(primary) if primary else None)
    return live


def alarm_view(live: Live) -> list[dict[str, Any]]:
    """Active alarms with the node they concern by name (the API gives its address)."""
    return [{"name": a.get("name"), "level": a.get("level"), "node": live.node_of(a.get("node")),
             "address": a.get("node"), "time_raised": a.get("time_raised"),
             "details": a.get("details")} for a in live.alarms]


def version_warnings(live: Live) -> list[str]:
    """Conferencing Nodes of another release than the Management Node (by release, never as
    strings: another build of the release is no warning)."""
    primary = next((m for m in live.managers if m.get("primary", True)), None)
    running = Version.parse(str((primary or {}).get("version") or ""))
    if running is None:
        return []
    out = []
    for worker in live.workers:
        theirs = Version.parse(str(worker.get("version") or ""))
        if theirs is not None and not theirs.same_release(running):
            out.append(f"{worker.get('name')} runs {theirs}, the Management Node {running}: an "
                       "upgrade under way, or a node left behind")
    return out


def autobackup_audit(client: InfinityClient, live: Live) -> tuple[dict[str, Any] | None, list[str]]:
    """The built-in automatic backups: enabled, interval, upload target; and warnings."""
    settings = _optional(live, "configuration/v1/autobackup/1/", client.autobackup, None)
    warnings = []
    if any(a.get("name") == AUTOBACKUP_FAILED for a in live.alarms):
        warnings.append("the built-in automatic backup failed to upload (autobackup_upload_failed "
                        "alarm): check autobackup_upload_url and its credentials")
    if settings is None:
        return None, warnings
    audit = {"enabled": bool(settings.get("autobackup_enabled")),
             "interval_hours": settings.get("autobackup_interval"),
             "start_hour_utc": settings.get("autobackup_start_hour"),
             "upload_url": settings.get("autobackup_upload_url") or None,
             "passphrase_set": bool(settings.get("autobackup_passphrase"))}
    if not audit["enabled"]:
        warnings.append("built-in automatic backups are disabled (Utilities > Automatic "
                        "backups): the node keeps no backups of its own between the agent's")
    elif not audit["upload_url"]:
        warnings.append(f"built-in automatic backups run every {audit['interval_hours']} h but "
                        "are kept on the Management Node only: lost with it unless harvested "
                        "(`backup-agent backup --harvest`)")
    return audit, warnings


def licence_audit(client: InfinityClient, live: Live, today: date
                  ) -> tuple[list[dict[str, Any]], list[str]]:
    """The licences (entitlement, expiry, status); a warning for each expiring soon."""
    rows = _optional(live, "configuration/v1/licence/", client.licences, [])
    licences = [{"entitlement_id": r.get("entitlement_id"), "fulfillment_id": r.get("fulfillment_id"),
                 "expiration_date": r.get("expiration_date"), "status": r.get("status")}
                for r in rows]
    warnings = []
    for lic in licences:
        expires = api_time(str(lic["expiration_date"] or "")[:10] + "T00:00:00")
        if expires is None:
            continue
        days = (expires.date() - today).days
        if days <= LICENCE_WARN_DAYS:
            warnings.append(f"licence {lic['entitlement_id']} " + (
                f"expired on {expires.date()}" if days < 0 else
                f"expires on {expires.date()} (in {days} day(s))") + ": renew it")
    if not warnings and any(a.get("name") == LICENCES_EXPIRING for a in live.alarms):
        warnings.append("licences are about to expire (licenses_expiring alarm)")
    return licences, warnings


def audit(client: InfinityClient, live: Live, today: date) -> dict[str, Any]:
    """Alarms by node name, the built-in backups, the licences, and every warning: what
    ``status`` and the evidence add to the node health (JSON-ready)."""
    autobackup, warnings = autobackup_audit(client, live)
    licences, expiring = licence_audit(client, live, today)
    out: dict[str, Any] = {"alarms": alarm_view(live), "licences": licences,
                           "warnings": version_warnings(live) + warnings + expiring}
    if autobackup is not None:
        out["autobackup"] = autobackup
    if live.unread:
        out["unread"] = live.unread
    return out


def node_view(live: Live) -> list[dict[str, Any]]:
    """Each Conferencing Node's health as ``status`` shows it."""
    out = []
    for name, health in sorted(live.health.items()):
        node: dict[str, Any] = {"name": name, "status": health.status}
        if health.why:
            node["why"] = health.why
        if health.out_of_contact_since:
            node["out_of_contact_since"] = iso(health.out_of_contact_since)
        out.append(node)
    return out
