"""The Azure revert workflow: disks from snapshots, deallocate, swap, start.

Part of ``providers.azure``. Azure cannot roll a disk back in place: a revert makes a new
managed disk from each snapshot of the set, deallocates the VM (the OS disk can only be
swapped then), points the VM's OS disk and data disks (matched by LUN) at the new disks, and
starts the VM again if it was running. The previous disks are detached and kept, and logged,
so nothing is lost by a revert.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from azure.mgmt.compute import models as m

from providers._azure_arm import ROLE_TAG, Deadline, snapshot_ref, split_id
from providers.base import ProviderError, SnapshotState, TaskFailed

if TYPE_CHECKING:
    from providers.azure import AzureProvider

log = logging.getLogger("providers.azure")
RESTORED_TAG = "backup-agent-restored-from"


def revert_set(p: AzureProvider, members: Sequence[m.Snapshot], deadline: Deadline, wait: bool) -> None:
    """Bring the set's VM back to the set; ``wait=False`` does not wait for the final start."""
    ref = snapshot_ref(members)
    if ref.state is not SnapshotState.AVAILABLE:
        raise TaskFailed(f"azure: snapshot set {ref.id} is {ref.state.value}, not available for revert")
    machine = p._vm(str(ref.extra["vm_id"]), expand=True)
    rg, vm_name = split_id(machine.id or "", "virtualMachines")
    power = _power(machine)
    restored = _make_disks(p, members, machine, deadline)
    try:
        if power != "deallocated":
            p._run(f"deallocate VM {vm_name}", deadline, p.client.virtual_machines.begin_deallocate,
                   rg, vm_name)
        old = _swap(p, rg, vm_name, restored, deadline)
    except ProviderError as exc:
        raise type(exc)(f"{exc}{_undo(p, restored, rg, vm_name, power)}") from exc
    log.info("azure: VM %s now runs on disks from %s; previous disks kept: %s",
             vm_name, ref.id, ", ".join(old))
    if power in ("running", "starting"):
        what = f"start VM {vm_name} (disks already swapped)"
        poller = p._start(what, deadline, wait, p.client.virtual_machines.begin_start, rg, vm_name)
        if wait:
            p._wait(poller, deadline, what)


def _power(machine: m.VirtualMachine) -> str:
    view = machine.properties.instance_view if machine.properties else None
    for status in (view.statuses or []) if view else []:
        if (status.code or "").startswith("PowerState/"):
            return (status.code or "").split("/", 1)[1]
    return "unknown"


def _make_disks(p: AzureProvider, members: Sequence[m.Snapshot], machine: m.VirtualMachine,
                deadline: Deadline) -> dict[str, str]:
    """A new managed disk from each snapshot: role -> disk resource id. All or none."""
    current = _current_disks(machine)
    made: dict[str, str] = {}
    try:
        pollers = []
        for snap in members:
            role = (snap.tags or {}).get(ROLE_TAG, "")
            props: dict[str, Any] = {"creationData": {"createOption": "Copy", "sourceResourceId": snap.id}}
            if role == "os" and snap.properties and snap.properties.os_type:
                props["osType"] = snap.properties.os_type
            body: dict[str, Any] = {"location": machine.location, "tags": {RESTORED_TAG: snap.id or ""},
                                    "properties": props}
            if machine.zones:
                body["zones"] = list(machine.zones)
            sku = _sku(p, current.get(role))
            if sku:
                body["sku"] = {"name": sku}
            name = f"{(snap.name or 'disk')[:70]}-r{uuid.uuid4().hex[:6]}"
            pollers.append(p._start(f"disk from snapshot {snap.id}", deadline, True,
                                    p.client.disks.begin_create_or_update,
                                    p.resource_group, name, m.Disk(body)))
            made[role] = (f"/subscriptions/{p.subscription_id}/resourceGroups/{p.resource_group}"
                          f"/providers/Microsoft.Compute/disks/{name}")
        for poller, disk_id in zip(pollers, made.values(), strict=True):
            p._wait(poller, deadline, f"disk {disk_id}")
    except ProviderError as exc:
        raise type(exc)(f"{exc}{_delete_disks(p, list(made.values()))}") from exc
    return made


def _current_disks(machine: m.VirtualMachine) -> dict[str, str]:
    profile = machine.properties.storage_profile if machine.properties else None
    disks: dict[str, str] = {}
    if profile and profile.os_disk and profile.os_disk.managed_disk:
        disks["os"] = profile.os_disk.managed_disk.id or ""
    for data in (profile.data_disks or []) if profile else []:
        if data.managed_disk and data.managed_disk.id:
            disks[f"lun{data.lun}"] = data.managed_disk.id
    return disks


def _sku(p: AzureProvider, disk_id: str | None) -> str | None:
    """The storage type of the disk now in that place, so the new disk matches it."""
    if not disk_id:
        return None
    rg, name = split_id(disk_id, "disks")
    with p._arm(f"disk {disk_id}"):
        disk = p.client.disks.get(rg, name)
    return disk.sku.name if disk.sku else None


def _swap(p: AzureProvider, rg: str, vm_name: str, restored: dict[str, str], deadline: Deadline) -> list[str]:
    """Point the VM at the restored disks; returns the ids of the disks it no longer uses."""
    with p._arm(f"VM {vm_name}"):
        vm = p.client.virtual_machines.get(rg, vm_name).as_dict()
    profile = vm["properties"]["storageProfile"]
    old = []
    for role, disk_id in restored.items():
        new_name = disk_id.rsplit("/", 1)[1]
        if role == "os":
            slot = profile["osDisk"]
        else:
            lun = int(role[3:])
            slot = next((d for d in profile.setdefault("dataDisks", []) if d.get("lun") == lun), None)
            if slot is None:  # detached since the snapshot: attach it again at its LUN
                slot = {"lun": lun, "createOption": "Attach"}
                profile["dataDisks"].append(slot)
        if slot.get("managedDisk", {}).get("id"):
            old.append(slot["managedDisk"]["id"])
        slot["managedDisk"] = {"id": disk_id}
        slot["name"] = new_name
    p._run(f"swap disks of VM {vm_name}", deadline, p.client.virtual_machines.begin_create_or_update,
           rg, vm_name, m.VirtualMachine(vm))
    return old


def _undo(p: AzureProvider, restored: dict[str, str], rg: str, vm_name: str, power: str) -> str:
    """After a failed swap: drop the new disks, start the VM on its old disks if it ran."""
    note = _delete_disks(p, list(restored.values()))
    if power in ("running", "starting"):
        try:
            p._run(f"start VM {vm_name}", Deadline(p.timeout), p.client.virtual_machines.begin_start,
                   rg, vm_name)
            note += f"; VM {vm_name} started again on its previous disks"
        except ProviderError as exc:
            note += f"; VM {vm_name} left deallocated ({exc})"
    return note


def _delete_disks(p: AzureProvider, disk_ids: list[str]) -> str:
    left = []
    for disk_id in disk_ids:
        rg, name = split_id(disk_id, "disks")
        try:
            p._run(f"delete disk {disk_id}", Deadline(p.timeout), p.client.disks.begin_delete, rg, name)
        except ProviderError as exc:
            log.warning("azure: restored disk %s not removed: %s", disk_id, exc)
            left.append(disk_id)
    if left:
        return f"; restored disk(s) left, delete by hand: {', '.join(left)}"
    return f"; removed the {len(disk_ids)} restored disk(s)" if disk_ids else ""
