"""The simulator's hypervisor: VM snapshots of the Management Node and Conferencing Nodes.

A snapshot of the management VM captures the whole configuration and the software version;
reverting it really brings that configuration back (and the VM up). Conferencing Node
snapshots carry no configuration (Infinity keeps it on the Management Node); reverting one
brings the node back into contact.
"""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backup_agent.sim.simulator import Simulator


class HypervisorError(Exception):
    """A hypervisor request that cannot be done; ``status`` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Hypervisor:
    """VMs and their snapshots. VM ids are the node names (``mgr01``, ``cn-osl-1``...)."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self._lock = threading.Lock()
        self._snapshots: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._failures: list[str] = []

    def vms(self) -> list[dict[str, Any]]:
        """Every VM of the deployment with its role and power state."""
        state = self.sim.state
        out = [{"id": self.sim.opts.management_name, "role": "management",
                "power_state": "on" if state.management_up else "off"}]
        for row in state.config.rows("worker_vm"):
            out.append({"id": row["name"], "role": "conferencing",
                        "power_state": "off" if row["name"] in state.nodes_down else "on"})
        return out

    def _vm(self, vm: str) -> dict[str, Any]:
        for item in self.vms():
            if item["id"] == vm:
                return item
        raise HypervisorError(404, f"no VM {vm!r}")

    def fail_next(self, count: int = 1, message: str = "the datastore is full") -> None:
        """The next ``count`` snapshots end in state ``error`` with ``message`` (a failed task)."""
        with self._lock:
            self._failures.extend([message] * count)

    def create(self, vm: str, name: str, description: str = "",
               tags: dict[str, str] | None = None, wait: bool = True) -> dict[str, Any]:
        """Snapshot ``vm``; it takes ``snapshot_seconds`` (concurrent snapshots overlap).

        With ``wait`` false the snapshot is answered at once in state ``creating`` and becomes
        ``available`` (or ``error``) in the background, like a hypervisor task.
        """
        role = self._vm(vm)["role"]
        if tags is not None and not all(isinstance(v, str) for v in tags.values()):
            raise HypervisorError(400, "tag values must be strings")
        captured = self.sim.backup_content() if role == "management" else None
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
            snap = {"id": f"snapshot-{next(self._ids)}", "vm": vm, "name": name,
                    "description": description, "tags": dict(tags or {}), "state": "creating",
                    "message": "", "created": self.sim.opts.now().astimezone(UTC).isoformat(),
                    "version": self.sim.state.version, "role": role, "captured": captured}
            self._snapshots[snap["id"]] = snap
        seconds = self.sim.opts.snapshot_seconds
        if wait:
            self._finish(snap["id"], seconds, failure)
        else:
            threading.Thread(target=self._finish, args=(snap["id"], seconds, failure),
                             name=f"sim-{snap['id']}", daemon=True).start()
        return self.get(snap["id"])

    def _finish(self, snapshot_id: str, seconds: float, failure: str | None) -> None:
        if seconds:
            time.sleep(seconds)
        with self._lock:
            snap = self._snapshots.get(snapshot_id)
            if snap is None:  # deleted while it was being made: nothing to finish
                return
            if failure:
                snap.update(state="error", message=failure)
            else:
                snap["state"] = "available"

    def list(self, vm: str | None = None) -> list[dict[str, Any]]:
        """Snapshots of ``vm`` (all when None), oldest first; 404 for an unknown VM."""
        if vm is not None:
            self._vm(vm)
        with self._lock:
            return [_public(s) for s in self._snapshots.values() if vm is None or s["vm"] == vm]

    def get(self, snapshot_id: str) -> dict[str, Any]:
        with self._lock:
            snap = self._snapshots.get(snapshot_id)
        if snap is None:
            raise HypervisorError(404, f"no snapshot {snapshot_id!r}")
        return _public(snap)

    def delete(self, snapshot_id: str) -> None:
        with self._lock:
            if self._snapshots.pop(snapshot_id, None) is None:
                raise HypervisorError(404, f"no snapshot {snapshot_id!r}")

    def revert(self, snapshot_id: str) -> dict[str, Any]:
        """Bring the VM back to the snapshot (configuration and version for the management VM)."""
        with self._lock:
            snap = self._snapshots.get(snapshot_id)
        if snap is None:
            raise HypervisorError(404, f"no snapshot {snapshot_id!r}")
        if snap["state"] != "available":
            raise HypervisorError(409, f"snapshot {snapshot_id} is {snap['state']}, not available")
        state = self.sim.state
        if snap["role"] == "management":
            captured = snap["captured"]
            state.config.load(captured["config"])
            state.version, state.build = captured["version"], captured["build"]
            state.set_management_up()
        else:
            state.set_node_up(snap["vm"])
        return _public(snap)

    def clear(self) -> None:
        with self._lock:
            self._snapshots.clear()
            self._failures.clear()


def _public(snap: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in snap.items() if k != "captured"}
