"""The ARM emulator's verbs on virtual machines, managed disks and snapshots.

Kept apart from the HTTP server in ``arm_emulator.py``; the emulator holds the state and
the operations, these functions decide what each request does to them.
"""

from __future__ import annotations

import copy
import re
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.peers.arm_emulator import ArmEmulator

Answer = tuple[int, Any, dict[str, str]]
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")  # what ARM takes for disk and snapshot names


class ArmError(Exception):
    """An ARM error answer: status and ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def public(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource as ARM shows it (without the emulator's own ``_`` keys)."""
    return {k: copy.deepcopy(v) for k, v in resource.items() if not k.startswith("_")}


def handle(emu: ArmEmulator, method: str, kind: str, rid: str, name: str, action: str | None,
           body: Any, base: str, query: dict[str, str]) -> Answer:
    """Answer one request on one resource (``action`` is e.g. ``deallocate``)."""
    ctx = _Ctx(emu, base, query["api-version"])
    if kind == "virtualMachines":
        return _vm(ctx, method, rid, name, action, body, query)
    if action is not None:
        raise ArmError(404, "InvalidResourceType", f"{kind}/{action} is not emulated")
    if method == "GET":
        return 200, public(_existing(emu, rid, kind, name)), {}
    if method == "DELETE":
        return _delete(ctx, rid)
    if method == "PUT":
        if not _NAME.match(name):
            raise ArmError(400, "InvalidParameter", f"Name '{name}' must be 1-80 characters of a-z, A-Z, 0-9, _ and -.")
        return (_put_snapshot if kind == "snapshots" else _put_disk)(ctx, rid, name, body)
    raise ArmError(405, "MethodNotAllowed", f"{method} on {kind} is not emulated")


class _Ctx:
    def __init__(self, emu: ArmEmulator, base: str, api_version: str) -> None:
        self.emu, self.base, self.api_version = emu, base, api_version

    def lro(self, status: int, payload: Any, on_success: Any, on_failure: Any = None) -> Answer:
        """Start an operation and answer with the headers the SDK polls."""
        op_id = self.emu.start_operation(on_success, on_failure or (lambda: None))
        url = (f"{self.base}/subscriptions/{self.emu.subscription}/providers/Microsoft.Compute/"
               f"locations/{self.emu.location}/operations/{op_id}?api-version={self.api_version}")
        return status, payload, {"Azure-AsyncOperation": url, "Location": url + "&monitor=true",
                                 "Retry-After": "0"}


def _existing(emu: ArmEmulator, rid: str, kind: str, name: str) -> dict[str, Any]:
    found = emu.find(rid)
    if found is None:
        raise ArmError(404, "ResourceNotFound",
                       f"The Resource 'Microsoft.Compute/{kind}/{name}' under resource group "
                       f"'{rid.split('/')[4]}' was not found.")
    return found


def _source(emu: ArmEmulator, body: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    props = body.get("properties") or {}
    creation = props.get("creationData") or {}
    if creation.get("createOption") != "Copy" or not creation.get("sourceResourceId"):
        raise ArmError(400, "InvalidParameter", "creationData needs createOption Copy and sourceResourceId")
    if not body.get("location"):
        raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
    source = emu.find(creation["sourceResourceId"])
    if source is None:
        raise ArmError(404, "ResourceNotFound", f"Source '{creation['sourceResourceId']}' was not found.")
    return props, source


def _put_snapshot(ctx: _Ctx, rid: str, name: str, body: Any) -> Answer:
    emu = ctx.emu
    props, disk = _source(emu, body)
    snap: dict[str, Any] = {
        "name": name, "type": "Microsoft.Compute/snapshots", "location": body["location"],
        "tags": dict(body.get("tags") or {}), "sku": {"name": "Standard_LRS", "tier": "Standard"},
        "properties": {
            "creationData": {**props["creationData"], "sourceUniqueId": disk["properties"]["uniqueId"]},
            "diskSizeGB": disk["properties"]["diskSizeGB"], "incremental": bool(props.get("incremental")),
            "timeCreated": emu.now().isoformat(), "provisioningState": "Creating",
            "diskState": "Unattached", "uniqueId": str(uuid.uuid4()),
        },
    }
    if "osType" in disk["properties"]:
        snap["properties"]["osType"] = disk["properties"]["osType"]
    emu.put(rid, snap)

    def done(state: str) -> None:
        snap["properties"]["provisioningState"] = state

    return ctx.lro(202, None, lambda: done("Succeeded"), lambda: done("Failed"))


def _put_disk(ctx: _Ctx, rid: str, name: str, body: Any) -> Answer:
    emu = ctx.emu
    if emu.find(rid) is not None:
        raise ArmError(409, "Conflict", f"Disk '{name}' already exists.")
    props, snap = _source(emu, body)
    disk: dict[str, Any] = {
        "name": name, "type": "Microsoft.Compute/disks", "location": body["location"],
        "tags": dict(body.get("tags") or {}), "sku": body.get("sku") or {"name": "Premium_LRS"},
        "properties": {
            "creationData": dict(props["creationData"]), "diskSizeGB": snap["properties"]["diskSizeGB"],
            "timeCreated": emu.now().isoformat(), "provisioningState": "Creating",
            "diskState": "Unattached", "uniqueId": str(uuid.uuid4()),
        },
    }
    os_type = props.get("osType") or snap["properties"].get("osType")
    if os_type:
        disk["properties"]["osType"] = os_type
    emu.put(rid, disk)

    def done(state: str) -> None:
        disk["properties"]["provisioningState"] = state

    return ctx.lro(202, None, lambda: done("Succeeded"), lambda: done("Failed"))


def _delete(ctx: _Ctx, rid: str) -> Answer:
    emu = ctx.emu
    found = emu.find(rid)
    if found is None:
        return 204, None, {}  # ARM answers a DELETE of what is not there with 204
    if found.get("managedBy"):
        raise ArmError(409, "OperationNotAllowed", f"Disk {found['name']} is attached to VM {found['managedBy']}.")
    props = found["properties"]
    before = props["provisioningState"]
    props["provisioningState"] = "Deleting"

    def gone() -> None:
        emu.resources.pop(rid.lower(), None)

    def failed() -> None:
        props["provisioningState"] = before

    return ctx.lro(202, None, gone, failed)


# -- virtual machines ---------------------------------------------------------------------------

def _vm(ctx: _Ctx, method: str, rid: str, name: str, action: str | None, body: Any,
        query: dict[str, str]) -> Answer:
    vm = _existing(ctx.emu, rid, "virtualMachines", name)
    if method == "GET" and action in (None, "instanceView"):
        if action == "instanceView":
            return 200, _instance_view(vm), {}
        shown = public(vm)
        if query.get("$expand") == "instanceView":
            shown["properties"]["instanceView"] = _instance_view(vm)
        return 200, shown, {}
    if method == "POST" and action in ("deallocate", "powerOff", "start"):
        target = {"deallocate": "deallocated", "powerOff": "stopped", "start": "running"}[action]

        def power() -> None:
            vm["_power"] = target

        return ctx.lro(202, None, power)
    if method in ("PUT", "PATCH") and action is None:
        return _update_vm(ctx, vm, body)
    raise ArmError(405, "MethodNotAllowed", f"{method} {action or ''} on a virtual machine is not emulated")


def _instance_view(vm: dict[str, Any]) -> dict[str, Any]:
    return {"statuses": [
        {"code": f"ProvisioningState/{vm['properties']['provisioningState'].lower()}", "level": "Info"},
        {"code": f"PowerState/{vm['_power']}", "level": "Info"},
    ]}


def _update_vm(ctx: _Ctx, vm: dict[str, Any], body: Any) -> Answer:
    """Swap managed disks in and out (what a revert does); other changes are refused."""
    emu = ctx.emu
    new = (body.get("properties") or {}).get("storageProfile")
    if not new:
        raise ArmError(400, "InvalidParameter", "only storageProfile updates are emulated")
    old = vm["properties"]["storageProfile"]
    old_ids = _disk_ids(old)
    new_os = ((new.get("osDisk") or old["osDisk"]).get("managedDisk") or {}).get("id", "")
    if new_os.lower() != old["osDisk"]["managedDisk"]["id"].lower() and vm["_power"] != "deallocated":
        raise ArmError(409, "OperationNotAllowed",
                       "Changing the OS disk of a VM is allowed only when the VM is deallocated.")
    new_ids = _disk_ids({"osDisk": new.get("osDisk") or old["osDisk"],
                         "dataDisks": new.get("dataDisks", old["dataDisks"])})
    for disk_id in new_ids:
        disk = emu.find(disk_id)
        if disk is None:
            raise ArmError(404, "NotFound", f"Disk {disk_id} was not found.")
        if disk.get("managedBy") and disk["managedBy"].lower() != vm["id"].lower():
            raise ArmError(409, "OperationNotAllowed", f"Disk {disk['name']} is attached to another VM.")
    vm["properties"]["provisioningState"] = "Updating"
    answer = public(vm)

    def apply() -> None:
        vm["properties"]["storageProfile"] = {
            "osDisk": copy.deepcopy(new.get("osDisk") or old["osDisk"]),
            "dataDisks": copy.deepcopy(new.get("dataDisks", old["dataDisks"])),
        }
        for disk_id in old_ids - new_ids:
            disk = emu.find(disk_id)
            if disk is not None:
                disk.pop("managedBy", None)
                disk["properties"]["diskState"] = "Unattached"
        for disk_id in new_ids:
            disk = emu.find(disk_id)
            if disk is not None:
                disk["managedBy"] = vm["id"]
                disk["properties"]["diskState"] = "Reserved" if vm["_power"] == "deallocated" else "Attached"
        vm["properties"]["provisioningState"] = "Succeeded"

    def failed() -> None:
        vm["properties"]["provisioningState"] = "Failed"

    return ctx.lro(200, answer, apply, failed)


def _disk_ids(profile: dict[str, Any]) -> set[str]:
    ids = {profile["osDisk"]["managedDisk"]["id"].lower()}
    ids |= {d["managedDisk"]["id"].lower() for d in profile.get("dataDisks") or []}
    return ids
