"""The gates of a pre-upgrade checkpoint: is the deployment fit to be upgraded right now?

Each gate is judged from what the Management Node and the providers answer, and reported
pass or fail with its reason; a gate can be waived only by its name (:data:`GATES`), and the
waiver is recorded with the reason it would have failed for. Node health is judged by
:mod:`backup_agent.jobs.node_health` (contact, ``deploy_status``, ``sync_status`` where the
release has it, alarms by identifier), as ``status`` judges it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from backup_agent.config import Deployment, Node
from backup_agent.errors import AgentError, ApiError
from backup_agent.jobs import CHECKPOINT_GATES, probe
from backup_agent.jobs.env import Env, provider_errors
from backup_agent.jobs.node_health import api_time
from backup_agent.jobs.probe import Live

#: Every gate, in the order they are judged; ``--waive NAME`` takes these names.
GATES = CHECKPOINT_GATES
#: Room wanted in the store: this many times the last backup and export, and a floor.
STORAGE_MARGIN = 2
STORAGE_FLOOR = 64 * 1024 * 1024
IDLE_UPGRADE = ("", "idle", "none", "complete", "completed")


@dataclass
class Gate:
    """One gate's judgement; ``waived`` when it failed and the user waived it by name."""

    name: str
    passed: bool
    reason: str
    waived: bool = False

    @property
    def holds(self) -> bool:
        """Whether the checkpoint may go on past this gate."""
        return self.passed or self.waived

    def to_dict(self) -> dict[str, Any]:
        return {"gate": self.name, "passed": self.passed, "waived": self.waived,
                "reason": self.reason}


def judge(env: Env, deployment: Deployment, nodes: list[Node], now: datetime,
          waive: frozenset[str]) -> tuple[list[Gate], Live | None]:
    """Every gate for ``deployment`` (``nodes``: those to be snapshotted), waivers applied."""
    gates: list[Gate] = []
    live: Live | None = None
    try:
        client = env.client(deployment)
        live = probe.read(client, now)
        gates.append(Gate("api", True, "the Management Node API answers"))
    except ApiError as exc:
        gates.append(Gate("api", False, f"the Management Node API does not answer: {exc}"))
    if live is not None:
        gates += [_nodes(live), _alarms(live), _upgrade(live), _licence(env, deployment, now.date())]
    else:
        gates += [Gate(name, False, "not checked: the Management Node API does not answer")
                  for name in ("nodes", "alarms", "upgrade", "licence")]
    gates += [_storage(env, deployment), _providers(env, nodes)]
    for gate in gates:
        gate.waived = not gate.passed and gate.name in waive
    return gates, live


def _nodes(live: Live) -> Gate:
    bad = [f"{name}: {h.why or h.status}" for name, h in sorted(live.health.items())
           if h.status != "up"]
    if bad:
        return Gate("nodes", False, "Conferencing Nodes not in sync or not in contact: "
                    + "; ".join(bad))
    return Gate("nodes", True, f"all {len(live.health)} Conferencing Node(s) in sync and in contact")


def _alarms(live: Live) -> Gate:
    critical = [a for a in live.alarms if str(a.get("level") or "").lower() == "critical"
                and not a.get("acknowledged")]
    if critical:
        named = ", ".join(f"{a.get('name')} on {live.node_of(a.get('node'))}" for a in critical)
        return Gate("alarms", False, f"unacknowledged critical alarm(s): {named}")
    if "status/v1/alarm/" in live.unread:
        return Gate("alarms", False, "the alarms could not be read")
    return Gate("alarms", True, "no unacknowledged critical alarm")


def _upgrade(live: Live) -> Gate:
    busy = [f"{n.get('name')}: upgrade_status {n.get('upgrade_status')}"
            for n in [*live.managers, *live.workers]
            if str(n.get("upgrade_status") or "").lower() not in IDLE_UPGRADE]
    if busy:
        return Gate("upgrade", False, "an upgrade is already running: " + "; ".join(busy))
    return Gate("upgrade", True, "no upgrade running")


def _licence(env: Env, deployment: Deployment, today: date) -> Gate:
    try:
        rows = env.client(deployment).licences()
    except AgentError as exc:
        return Gate("licence", False, f"the licences could not be read: {exc}")
    expired = []
    for row in rows:
        expires = api_time(str(row.get("expiration_date") or "")[:10] + "T00:00:00")
        if expires is not None and expires.date() < today:
            expired.append(f"{row.get('entitlement_id')} expired on {expires.date()}")
    if expired:
        return Gate("licence", False, "licence expired: " + "; ".join(expired))
    if not rows:
        return Gate("licence", True, "no licence reported (nothing has expired)")
    return Gate("licence", True, f"{len(rows)} licence(s), none expired")


def needed_bytes(env: Env, deployment: Deployment) -> int:
    """Room for a backup and an export of the last known size, with the margin."""
    last = 0
    for kind in ("config-backup", "room-export"):
        rp = env.catalog.latest(deployment.name, kind)
        last += sum(f.size for f in rp.files) if rp else 0
    return last * STORAGE_MARGIN + STORAGE_FLOOR


def _storage(env: Env, deployment: Deployment) -> Gate:
    need = needed_bytes(env, deployment)
    # The local store lives under storage.path (only open_store is given its own directory):
    # the file system of storage.path is the store's.
    where: Path = env.config.storage_path
    while not where.exists() and where != where.parent:  # not made yet on a first run
        where = where.parent
    try:
        free = shutil.disk_usage(where).free
    except OSError as exc:
        return Gate("storage", False, f"the free space of {where} cannot be read: {exc.strerror}")
    if free < need:
        return Gate("storage", False, f"{free:,} bytes free in the store, {need:,} needed "
                    "(the last backup and export, twice, and 64 MiB)")
    return Gate("storage", True, f"{free:,} bytes free, {need:,} needed")


def _providers(env: Env, nodes: list[Node]) -> Gate:
    bad = []
    for node in nodes:
        try:
            with provider_errors(f"{node.name} ({node.provider})"):
                if not env.provider(str(node.provider)).vm_exists(str(node.vm)):
                    bad.append(f"{node.name}: no VM {node.vm!r} at {node.provider}")
        except AgentError as exc:
            bad.append(str(exc))
    if bad:
        return Gate("providers", False, "snapshot providers do not answer: " + "; ".join(bad))
    if not nodes:
        return Gate("providers", True, "no node is bound to a snapshot provider")
    return Gate("providers", True, f"the providers of {', '.join(n.name for n in nodes)} answer")
