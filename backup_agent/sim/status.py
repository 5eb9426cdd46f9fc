"""The status objects of the Management Node and its Conferencing Nodes, per release profile.

As a real node answers them (infinity-api.md, "Real answers"): ``version`` carries the build
(``"38.1 (81522.0.0)"``); ``last_updated`` is not a heartbeat (a day old on a healthy node);
contact is ``last_attempted_contact`` (and ``last_reported`` on older releases), which stops
moving while a node is out of contact; ``deploy_status`` is a lower-case word;
``sync_status`` exists on current releases only. Status objects carry no address.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from backup_agent.sim.backups import api_time
from backup_agent.sim.model import API
from backup_agent.sim.release import status_version

if TYPE_CHECKING:
    from backup_agent.sim.state import SimState

STATUS = API + "status/v1/"
#: how long before the simulator started the nodes last changed state (a boot, an upgrade)
LAST_UPDATED_AGE = timedelta(days=1, hours=2)


def management(state: SimState) -> list[dict[str, Any]]:
    """``status/v1/management_vm/``."""
    now = api_time(state.opts.now())
    release = state.release
    row: dict[str, Any] = {
        "id": 1, "name": state.opts.management_name, "configuration_id": 1,
        "version": status_version(state.version, state.build), "primary": True,
        "upgrade_status": state.upgrade_status, "last_attempted_contact": now,
        "last_updated": api_time(state.started - LAST_UPDATED_AGE),
        "resource_uri": f"{STATUS}management_vm/1/"}
    if release.sync_status:
        row["sync_status"] = "SYNCED"
    if release.last_reported:
        row["last_reported"] = now
    return [row]


def workers(state: SimState) -> list[dict[str, Any]]:
    """``status/v1/worker_vm/``: one object per node definition."""
    now = state.opts.now()
    release = state.release
    version = status_version(state.version, state.build)
    out = []
    for row in state.config.rows("worker_vm"):
        down = state.nodes_down.get(row["name"])
        contact = api_time(down if down else now)
        item: dict[str, Any] = {
            "id": row["id"], "name": row["name"], "node_type": row.get("node_type", "CONFERENCING"),
            "system_location": state.location_name(row.get("system_location")),
            "version": status_version(*state.node_versions[row["name"]])
            if row["name"] in state.node_versions else version,
            "deploy_status": "deploy_succeeded",
            "last_attempted_contact": contact,
            "last_updated": api_time(state.started - LAST_UPDATED_AGE),
            "boot_time": api_time(state.started - LAST_UPDATED_AGE),
            "maintenance_mode": row.get("maintenance_mode", False),
            "maintenance_mode_reason": row.get("maintenance_mode_reason", ""),
            "upgrade_status": "IDLE", "hypervisor": "VMware", "configuration_id": row["id"],
            "cpu_count": row.get("vm_cpu_count", 4), "total_ram": row.get("vm_system_memory", 4096),
            "media_load": 0, "signaling_count": 0, "resource_uri": f"{STATUS}worker_vm/{row['id']}/",
        }
        if release.sync_status:
            item["sync_status"] = "NOT_SYNCED" if down else "SYNCED"
        if release.last_reported:
            item["last_reported"] = contact
        out.append(item)
    return out


def active_alarms(state: SimState) -> list[dict[str, Any]]:
    """``status/v1/alarm/``."""
    return state.events.active()
