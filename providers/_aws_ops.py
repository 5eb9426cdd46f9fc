"""The multi-step EC2 workflows of :mod:`providers.aws`: make a set or an AMI, delete, revert.

Kept apart from the provider class so each stays readable; these functions drive the
provider's ``call``/``wait``/``instance`` helpers and never import boto3 themselves.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from providers.base import InUse, NotFound, ProviderError, ProviderTimeout, SnapshotRef, TaskFailed

if TYPE_CHECKING:
    from providers.aws import AWSProvider

log = logging.getLogger("providers.aws")

INSTANCE_TAG = "backup-agent-instance"
SET_TAG = "backup-agent-snapset"
DEVICE_TAG = "backup-agent-device"
RESTORED_TAG = "backup-agent-restored-from"
REPLACED_TAG = "backup-agent-replaced-by-revert"
SET_PREFIX = "snapset-"
_AMI_NAME_BAD = re.compile(r"[^A-Za-z0-9()\[\] ./'@_-]")


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """EC2's ``[{"Key": k, "Value": v}]`` form of a tag map."""
    return [{"Key": k, "Value": str(v)} for k, v in tags.items()]


def tag_map(items: list[dict[str, str]] | None) -> dict[str, str]:
    """A tag map from EC2's list form."""
    return {t["Key"]: t["Value"] for t in items or []}


def ami_name(name: str) -> str:
    """An AMI name from ``name``: allowed characters only, unique suffix, at most 128 chars."""
    base = _AMI_NAME_BAD.sub("-", name)[:110] or "backup-agent"
    return f"{base}-{uuid.uuid4().hex[:12]}"


def image_snapshot_ids(image: Mapping[str, Any]) -> list[str]:
    """The EBS snapshot ids behind an AMI."""
    return [m["Ebs"]["SnapshotId"] for m in image.get("BlockDeviceMappings", [])
            if m.get("Ebs", {}).get("SnapshotId")]


def _copyable(tags: Mapping[str, str]) -> dict[str, str]:
    # aws: keys are reserved; the agent's own keys on a volume (e.g. restored-from) would lie
    # on a new snapshot
    return {k: v for k, v in tags.items() if not k.startswith(("aws:", "backup-agent"))}


def _discard(p: AWSProvider, what: str, snapshot_ids: list[str], exc: ProviderError) -> ProviderError:
    """Delete half-made snapshots after ``exc``; the error to raise says what became of them."""
    left = []
    for sid in snapshot_ids:
        try:
            p.call("delete_snapshot", SnapshotId=sid)
        except NotFound:
            pass
        except ProviderError:
            left.append(sid)
    fate = f"could not delete {', '.join(left)}: delete by hand" if left else "its snapshots were deleted"
    return type(exc)(f"{exc}; {what} was half-made and {fate}")


def create_set(p: AWSProvider, vm: str, set_id: str, description: str, tags: Mapping[str, str],
               copy_volume_tags: bool, wait: bool, timeout: float) -> None:
    """Snapshot all EBS volumes of ``vm`` at once (crash-consistent) as set ``set_id``."""
    inst = p.instance(vm)
    devices = {m["Ebs"]["VolumeId"]: m["DeviceName"] for m in inst.get("BlockDeviceMappings", [])
               if "Ebs" in m}
    if not devices:
        raise TaskFailed(f"aws: instance {vm} has no EBS volumes to snapshot")
    kwargs: dict[str, Any] = {
        "InstanceSpecification": {"InstanceId": vm}, "Description": description,
        "TagSpecifications": [{"ResourceType": "snapshot", "Tags": tag_list(tags)}],
    }
    if copy_volume_tags:
        kwargs["CopyTagsFromSource"] = "volume"
    made = p.call("create_snapshots", **kwargs)["Snapshots"]
    ids = [s["SnapshotId"] for s in made]
    try:
        volume_tags: dict[str, dict[str, str]] = {}
        if copy_volume_tags:
            vols = p.call("describe_volumes", VolumeIds=sorted({s["VolumeId"] for s in made}))["Volumes"]
            volume_tags = {v["VolumeId"]: _copyable(tag_map(v.get("Tags"))) for v in vols}
        for snap in made:
            # CopyTagsFromSource already copied them on AWS; endpoints that ignore it (moto)
            # get the missing ones here, never overriding the agent's own tags
            present = {*tag_map(snap.get("Tags")), *tags}
            extra = {k: v for k, v in volume_tags.get(snap["VolumeId"], {}).items() if k not in present}
            extra[DEVICE_TAG] = devices.get(snap["VolumeId"], "")
            p.call("create_tags", Resources=[snap["SnapshotId"]], Tags=tag_list(extra))
        if wait:
            p.wait("snapshot_completed", timeout, f"snapshot set {set_id} ({', '.join(ids)})",
                   SnapshotIds=ids)
    except ProviderTimeout as exc:
        raise ProviderTimeout(f"{exc}; it is kept and may still complete: "
                              f"delete {set_id} if it is not wanted") from exc
    except ProviderError as exc:
        raise _discard(p, f"snapshot set {set_id}", ids, exc) from exc


def create_image(p: AWSProvider, vm: str, name: str, description: str, tags: Mapping[str, str],
                 no_reboot: bool, wait: bool, timeout: float) -> str:
    """Make an AMI of ``vm``; its id. Once it is available its snapshots get the same tags."""
    specs = [{"ResourceType": "image", "Tags": tag_list(tags)}]
    image_id: str = p.call("create_image", InstanceId=vm, Name=ami_name(name), Description=description,
                           NoReboot=no_reboot, TagSpecifications=specs)["ImageId"]
    if not wait:
        return image_id
    try:
        p.wait("image_available", timeout, f"image {image_id}", ImageIds=[image_id])
        # tagged afterwards rather than by a "snapshot" TagSpecification, which moto refuses
        made = image_snapshot_ids(p.image(image_id))
        if made:
            p.call("create_tags", Resources=made, Tags=tag_list(tags))
    except ProviderTimeout as exc:
        raise ProviderTimeout(f"{exc}; it is kept and may still complete: "
                              f"delete {image_id} if it is not wanted") from exc
    except ProviderError as exc:
        try:
            snapshot_ids = image_snapshot_ids(p.image(image_id))
            p.call("deregister_image", ImageId=image_id)
        except ProviderError:
            raise type(exc)(f"{exc}; image {image_id} is half-made: deregister it by hand") from exc
        raise _discard(p, f"image {image_id}", snapshot_ids, exc) from exc
    return image_id


def delete_snapshots(p: AWSProvider, owner: str, snapshot_ids: list[str]) -> None:
    """Delete each snapshot of ``owner`` (a set or an AMI); InUse naming those still used."""
    in_use, deleted = [], 0
    for sid in snapshot_ids:
        try:
            p.call("delete_snapshot", SnapshotId=sid)
            deleted += 1
        except NotFound:
            continue
        except InUse:
            in_use.append(sid)
    if in_use:
        raise InUse(f"aws: {owner}: snapshot(s) {', '.join(in_use)} still in use (e.g. by an AMI "
                    f"registered from them: deregister it, then delete {owner} again); "
                    f"{deleted} other snapshot(s) deleted")


class _Revert:
    """One revert of an instance onto a snapshot set, remembering how far it got."""

    def __init__(self, p: AWSProvider, ref: SnapshotRef, timeout: float) -> None:
        self.p, self.ref, self.vm = p, ref, ref.vm
        self.deadline = time.monotonic() + timeout
        self.new: dict[str, str] = {}        # device -> new volume id
        self.detached: dict[str, str] = {}   # device -> old volume id

    def left(self) -> float:
        return max(1.0, self.deadline - time.monotonic())

    def progress(self) -> str:
        new = ", ".join(f"{d}={v}" for d, v in self.new.items()) or "none"
        old = ", ".join(f"{d}={v}" for d, v in self.detached.items()) or "none"
        return f"new volumes: {new}; detached old volumes: {old}"

    def new_volumes(self, az: str, current: Mapping[str, Mapping[str, Any]]) -> None:
        old_ids = [e["VolumeId"] for e in current.values()]
        olds = {v["VolumeId"]: v for v in self.p.call("describe_volumes", VolumeIds=old_ids)["Volumes"]} \
            if old_ids else {}
        for snap in self.ref.extra["snapshots"]:
            old = olds.get(current.get(snap["device"], {}).get("VolumeId", ""), {})
            tags = {**_copyable(tag_map(old.get("Tags"))), RESTORED_TAG: self.ref.id}
            kwargs: dict[str, Any] = {"SnapshotId": snap["id"], "AvailabilityZone": az,
                                      "TagSpecifications": [{"ResourceType": "volume",
                                                             "Tags": tag_list(tags)}]}
            if old.get("VolumeType"):
                kwargs["VolumeType"] = old["VolumeType"]
                if old["VolumeType"] in ("io1", "io2", "gp3") and old.get("Iops"):
                    kwargs["Iops"] = old["Iops"]
                if old["VolumeType"] == "gp3" and old.get("Throughput"):
                    kwargs["Throughput"] = old["Throughput"]
            self.new[snap["device"]] = self.p.call("create_volume", **kwargs)["VolumeId"]
        self.p.wait("volume_available", self.left(), "new volumes", VolumeIds=list(self.new.values()))

    def swap(self, current: Mapping[str, Mapping[str, Any]]) -> None:
        for device, vol in self.new.items():
            if device in current:
                old = current[device]["VolumeId"]
                self.p.call("detach_volume", VolumeId=old, InstanceId=self.vm)
                self.p.wait("volume_available", self.left(), f"detach of {old}", VolumeIds=[old])
                self.detached[device] = old
            self.p.call("attach_volume", VolumeId=vol, InstanceId=self.vm, Device=device)
        self.p.wait("volume_in_use", self.left(), "attach of new volumes", VolumeIds=list(self.new.values()))
        keep = [{"DeviceName": d, "Ebs": {"DeleteOnTermination": bool(current[d].get("DeleteOnTermination"))}}
                for d in self.new if d in current]
        if keep:
            self.p.call("modify_instance_attribute", InstanceId=self.vm, BlockDeviceMappings=keep)
        if self.detached:
            self.p.call("create_tags", Resources=list(self.detached.values()),
                        Tags=tag_list({REPLACED_TAG: self.ref.id}))

    def run(self, wait: bool) -> None:
        inst = self.p.instance(self.vm)
        state = inst["State"]["Name"]
        if state not in ("running", "stopped"):
            raise TaskFailed(f"aws: instance {self.vm} is {state}; revert needs it running or stopped")
        pending = [s["id"] for s in self.ref.extra["snapshots"]
                   if s["state"] != "completed" or not s["device"]]
        if pending:
            raise TaskFailed(f"aws: {self.ref.id}: snapshot(s) {', '.join(pending)} not completed or "
                             "without a device tag; cannot revert from it")
        current = {m["DeviceName"]: m["Ebs"] for m in inst.get("BlockDeviceMappings", []) if "Ebs" in m}
        self.new_volumes(inst["Placement"]["AvailabilityZone"], current)
        if state == "running":
            self.p.call("stop_instances", InstanceIds=[self.vm])
            self.p.wait("instance_stopped", self.left(), f"stop of {self.vm}", InstanceIds=[self.vm])
        self.swap(current)
        if state == "running":
            self.p.call("start_instances", InstanceIds=[self.vm])
            if wait:
                self.p.wait("instance_running", self.left(), f"start of {self.vm}", InstanceIds=[self.vm])
        extra = sorted(set(current) - set(self.new))
        log.info("aws: reverted %s to %s (%s); old volumes kept, tagged %s%s", self.vm, self.ref.id,
                 self.progress(), REPLACED_TAG,
                 f"; devices not in the snapshot left as they were: {', '.join(extra)}" if extra else "")


def revert_set(p: AWSProvider, ref: SnapshotRef, wait: bool, timeout: float) -> None:
    """Bring ``ref.vm`` back to snapshot set ``ref`` by swapping in volumes made from it."""
    job = _Revert(p, ref, timeout)
    try:
        job.run(wait)
    except ProviderError as exc:
        if not job.new:
            raise
        raise type(exc)(f"{exc}; revert of {ref.vm} to {ref.id} stopped part-way ({job.progress()}): "
                        "check the instance and attach the right volumes by hand") from exc
