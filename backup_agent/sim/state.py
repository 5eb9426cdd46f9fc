"""The simulated deployment as a whole: configuration, node health, alarms and backups.

This is ``Simulator.state``: what tests, drills and the control API read and break.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from backup_agent.sim.backups import BackupStore, api_time
from backup_agent.sim.generate import populate
from backup_agent.sim.model import API, Config, id_of, uri
from backup_agent.sim.options import SimOptions

STATUS = API + "status/v1/"


class SimState:
    """Everything a simulated deployment is, behind one object."""

    def __init__(self, opts: SimOptions, backups: BackupStore) -> None:
        self.opts = opts
        self.config = Config()
        self.backups = backups
        self.version = opts.version
        self.build = opts.build
        self.management_up = True
        #: "503": the API answers 503; "close": connections are closed without an answer.
        self.down_mode = "503"
        self._lock = threading.RLock()
        self.nodes_down: dict[str, datetime] = {}
        self.started = opts.now()
        self.requests_served = 0
        if not opts.empty:
            populate(self.config, opts)

    def count_request(self) -> None:
        """Count one HTTP request (``requests_served``), exactly, under concurrency."""
        with self._lock:
            self.requests_served += 1

    # -- counts and changes ---------------------------------------------------------------
    def counts(self) -> dict[str, Any]:
        """Object counts by table, plus rooms by service type and backups."""
        counts: dict[str, Any] = dict(self.config.counts())
        by_type: dict[str, int] = {}
        for row in self.config.rows("conference"):
            by_type[row["service_type"]] = by_type.get(row["service_type"], 0) + 1
        counts["service_types"] = by_type
        counts["system_backup"] = len(self.backups.listing())
        return counts

    @property
    def room_count(self) -> int:
        return len(self.config.tables["conference"])

    @property
    def alias_count(self) -> int:
        return len(self.config.tables["conference_alias"])

    def room_names(self) -> list[str]:
        return [r["name"] for r in self.config.rows("conference")]

    def delete_rooms(self, count: int | None = None, names: Iterable[str] | None = None) -> int:
        """Delete rooms by mistake: the last ``count`` rooms, or those ``names``. Returns how many."""
        with self.config.lock:
            rows = self.config.rows("conference")
            if names is not None:
                wanted = set(names)
                doomed = [r["id"] for r in rows if r["name"] in wanted]
            else:
                doomed = [r["id"] for r in rows[len(rows) - min(count or 0, len(rows)):]]
            for ident in doomed:
                self.config.delete("conference", ident)
        return len(doomed)

    def reset(self, empty: bool = True) -> None:
        """An empty (freshly deployed) Management Node, or the seeded deployment again."""
        with self._lock:
            if empty:
                self.config.clear()
            else:
                populate(self.config, self.opts)
            self.management_up = True
            self.nodes_down.clear()

    def set_management_down(self, mode: str = "503") -> None:
        """The Management Node stops answering: 503s (``"503"``) or closed connections (``"close"``)."""
        if mode not in ("503", "close"):
            raise ValueError("mode must be '503' or 'close'")
        with self._lock:
            self.down_mode = mode
            self.management_up = False

    def set_management_up(self) -> None:
        with self._lock:
            self.management_up = True

    def set_node_down(self, name: str, now: datetime | None = None) -> None:
        """A Conferencing Node loses contact (its status and an alarm show it)."""
        if not self.config.find("worker_vm", "name", name):
            raise KeyError(name)
        with self._lock:
            self.nodes_down[name] = now or self.opts.now()

    def set_node_up(self, name: str) -> None:
        with self._lock:
            self.nodes_down.pop(name, None)

    def add_node(self, name: str, location: str = "Oslo", node_type: str = "CONFERENCING",
                 address: str | None = None) -> dict[str, Any]:
        """Define a Conferencing Node (and its location when new), e.g. from a drill's inventory."""
        with self.config.lock:
            if self.config.find("worker_vm", "name", name):
                raise ValueError(f"a node named {name!r} exists")
            loc = self.config.find("system_location", "name", location) or self.config.insert(
                "system_location", {"name": location, "description": "", "mtu": 1500,
                                    "transcoding_location": None, "overflow_location1": None,
                                    "overflow_location2": None, "local_mssip_domain": "",
                                    "dns_servers": [], "ntp_servers": []})
            n = len(self.config.tables["worker_vm"]) + 1
            return self.config.insert("worker_vm", {
                "name": name, "hostname": name, "domain": "example.com", "description": "",
                "address": address or f"10.200.{n // 250}.{n % 250 + 1}", "netmask": "255.255.0.0",
                "gateway": "10.200.0.1", "ipv6_address": None, "ipv6_gateway": None,
                "node_type": node_type, "system_location": uri("system_location", loc["id"]),
                "deployment_type": "MANUAL-ESXI", "vm_cpu_count": 8, "vm_system_memory": 16384,
                "maintenance_mode": False, "maintenance_mode_reason": "", "transcoding": True,
                "tls_certificate": None, "static_nat_address": None})

    def set_version(self, version: str, build: str | None = None) -> None:
        """The software version the deployment runs (an upgrade, or a node deployed at another)."""
        with self._lock:
            self.version = version
            if build is not None:
                self.build = build

    # -- status resources ---------------------------------------------------------------
    def management_status(self) -> list[dict[str, Any]]:
        now = api_time(self.opts.now())
        return [{"id": 1, "name": self.opts.management_name, "version": self.version,
                 "build": self.build, "primary": True, "sync_status": "SYNCED",
                 "upgrade_status": "IDLE", "last_attempted_contact": now, "last_updated": now,
                 "resource_uri": f"{STATUS}management_vm/1/"}]

    def worker_status(self) -> list[dict[str, Any]]:
        now = self.opts.now()
        out = []
        for row in self.config.rows("worker_vm"):
            down = self.nodes_down.get(row["name"])
            contact = api_time(down) if down else api_time(now)
            out.append({
                "id": row["id"], "name": row["name"], "node_type": row["node_type"],
                "system_location": self._location_name(row.get("system_location")),
                "version": self.version, "sync_status": "NOT_SYNCED" if down else "SYNCED",
                "deploy_status": "DEPLOYED", "last_attempted_contact": api_time(now),
                "last_updated": contact, "last_reported": contact,
                "maintenance_mode": row.get("maintenance_mode", False),
                "upgrade_status": "IDLE", "hypervisor": "VMware", "configuration_id": row["id"],
                "resource_uri": f"{STATUS}worker_vm/{row['id']}/",
            })
        return out

    def _location_name(self, location_uri: str | None) -> str:
        ident = id_of(location_uri)
        row = self.config.tables["system_location"].get(ident or 0)
        return row["name"] if row else ""

    def alarms(self) -> list[dict[str, Any]]:
        out = []
        for i, (name, since) in enumerate(sorted(self.nodes_down.items()), start=1):
            out.append({"id": i, "name": "Connectivity lost between nodes", "level": "error",
                        "details": f"Lost connectivity to {name}", "node": name,
                        "time_raised": api_time(since), "acknowledged": False,
                        "resource_uri": f"{STATUS}alarm/{i}/"})
        return out

    def snapshot_meta(self) -> dict[str, Any]:
        """Version and build that a backup or a VM snapshot records."""
        return {"version": self.version, "build": self.build,
                "management": self.opts.management_name}
