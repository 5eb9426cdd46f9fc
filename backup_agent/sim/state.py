"""The simulated deployment as a whole: configuration, node health, alarms and backups.

This is ``Simulator.state``: what tests, drills and the control API read and break.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from backup_agent.sim import status
from backup_agent.sim.backups import BackupStore
from backup_agent.sim.events import Events
from backup_agent.sim.generate import populate
from backup_agent.sim.licensing import Licences
from backup_agent.sim.model import Config, id_of, uri
from backup_agent.sim.options import SimOptions
from backup_agent.sim.release import profile, split_version


class SimState:
    """Everything a simulated deployment is, behind one object."""

    def __init__(self, opts: SimOptions, backups: BackupStore) -> None:
        self.opts = opts
        self.config = Config()
        self.backups = backups
        self.release = profile(opts.release)
        self.version, self.build = str(opts.version), str(opts.build)
        self.management_up = True
        #: what the Management Node reports as ``upgrade_status`` (``/_sim/upgrade``)
        self.upgrade_status = "IDLE"
        #: monotonic time until which the node restarts its services (answers 503)
        self.restarting_until = 0.0
        #: "503": the API answers 503; "close": connections are closed without an answer.
        self.down_mode = "503"
        self._lock = threading.RLock()
        self.nodes_down: dict[str, datetime] = {}
        #: Conferencing Nodes running another version than the Management Node (mid-upgrade)
        self.node_versions: dict[str, tuple[str, str]] = {}
        self.started = opts.now()
        self.requests_served = 0
        self.requests_by_path: Counter[str] = Counter()
        self.events = Events(self)
        self.licences = Licences(self)
        if not opts.empty:
            populate(self.config, opts)
            self.events.seed()
            self.licences.seed()

    def count_request(self, path: str = "") -> None:
        """Count one HTTP request (``requests_served``, and by path), exactly, under concurrency."""
        with self._lock:
            self.requests_served += 1
            self.requests_by_path[path] += 1

    def restart(self, seconds: float) -> None:
        """The node restarts its services (after a ``backup_restore``): 503s for ``seconds``."""
        with self._lock:
            self.restarting_until = max(self.restarting_until, time.monotonic() + seconds)

    @property
    def available(self) -> bool:
        """Whether the API answers: the node is up and not restarting."""
        return self.management_up and time.monotonic() >= self.restarting_until

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
            self.restarting_until = 0.0
            self.nodes_down.clear()
            self.events.clear()
            self.licences.clear()
            if not empty:
                self.events.seed()
                self.licences.seed()

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
        row = self.config.find("worker_vm", "name", name)
        if not row:
            raise KeyError(name)
        with self._lock:
            if name in self.nodes_down:
                return
            moment = self.nodes_down[name] = now or self.opts.now()
            self.events.contact_lost(row, moment)

    def set_node_up(self, name: str, now: datetime | None = None) -> None:
        """A Conferencing Node is in contact again (its alarm is lowered)."""
        with self._lock:
            if self.nodes_down.pop(name, None) is None:
                return
            row = self.config.find("worker_vm", "name", name)
            self.events.contact_restored(name, row, now or self.opts.now())

    def node_added(self, row: dict[str, Any]) -> None:
        """A node definition was created (``workervm_added``)."""
        self.events.status_event(row, "workervm_added", "running", self.opts.now())

    def node_removed(self, row: dict[str, Any]) -> None:
        """A node definition was deleted: a redeployed node of this name starts fresh."""
        with self._lock:
            self.nodes_down.pop(row["name"], None)
        self.events.lower_alarm("connectivity_lost", str(row.get("address", "")))
        self.events.status_event(row, "workervm_removed", "removed", self.opts.now())

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
            row = self.config.insert("worker_vm", {
                "name": name, "hostname": name, "domain": "example.com", "description": "",
                "address": address or f"10.200.{n // 250}.{n % 250 + 1}", "netmask": "255.255.0.0",
                "gateway": "10.200.0.1", "ipv6_address": None, "ipv6_gateway": None,
                "node_type": node_type, "system_location": uri("system_location", loc["id"]),
                "deployment_type": "MANUAL-ESXI", "vm_cpu_count": 8, "vm_system_memory": 16384,
                "maintenance_mode": False, "maintenance_mode_reason": "", "transcoding": True,
                "tls_certificate": None, "static_nat_address": None})
        self.node_added(row)
        return row

    def set_node_version(self, name: str, version: str, build: str | None = None) -> None:
        """One Conferencing Node runs another version (an upgrade under way, a node left behind)."""
        if not self.config.find("worker_vm", "name", name):
            raise KeyError(name)
        version, build = split_version(version, build)
        with self._lock:
            self.node_versions[name] = (version, build or self.build)

    def set_version(self, version: str, build: str | None = None) -> None:
        """The software version the deployment runs (an upgrade, or a node deployed at another)."""
        version, build = split_version(version, build)
        with self._lock:
            self.version = version
            if build is not None:
                self.build = build

    # -- status resources (rendered by backup_agent.sim.status) ----------------------------
    def management_status(self) -> list[dict[str, Any]]:
        return status.management(self)

    def worker_status(self) -> list[dict[str, Any]]:
        return status.workers(self)

    def alarms(self) -> list[dict[str, Any]]:
        return status.active_alarms(self)

    def location_name(self, location_uri: str | None) -> str:
        ident = id_of(location_uri)
        row = self.config.tables["system_location"].get(ident or 0)
        return row["name"] if row else ""

    def snapshot_meta(self) -> dict[str, Any]:
        """Version and build that a backup or a VM snapshot records."""
        return {"version": self.version, "build": self.build,
                "management": self.opts.management_name}
