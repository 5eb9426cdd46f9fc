"""Google Compute Engine snapshots: every persistent disk of an instance, as one snapshot set.

Settings (the ``[providers.NAME]`` table, ``type = "gcp"``):

``project``            the GCP project id (required).
``zone``               the instance's zone, e.g. ``europe-north1-a`` (required). A node's ``vm``
                       is the instance *name* in that zone.
``api_endpoint``       override of ``https://compute.googleapis.com`` (Private Service Connect,
                       emulators in tests); an ``http://`` URL keeps its scheme.
``credentials_file``   service-account JSON key; the config loader resolves it (or
                       ``credentials_env``) into ``credentials``, the JSON text. A path passed
                       directly as ``credentials_file`` works too.
``access_token``       a ready OAuth2 access token (``access_token_env``/``_file``), e.g. from
                       ``gcloud auth print-access-token``; never refreshed.
``anonymous``          ``true`` sends no credentials (emulators, authenticating proxies).
                       Without any of these: Application Default Credentials.
``storage_locations``  default snapshot storage locations (a list or one name, e.g. ``"eu"``).
``kms_key_name``       default Cloud KMS key for snapshots (``snapshotEncryptionKey.kmsKeyName``).
``timeout``            seconds to wait for operations (default 1800).
``page_size``          ``maxResults`` when listing snapshots (1-500, default 500).

Per-call options of :meth:`GCPProvider.create`: ``storage_locations``, ``kms_key_name`` (both
override the settings) and ``guest_flush`` (application-consistent snapshot, ``guestFlush``).

How a VM snapshot maps onto GCE: ``disks.createSnapshot`` of every persistent disk attached
to the instance, all started before any is waited on, named ``<set id>-<n>`` (``n`` = 0 for
the boot disk). The *set id* (``<slug of the name>-<12 hex>``) is :attr:`SnapshotRef.id`; it
is also carried by every snapshot as the label ``ba-gce-set``, which is how ``get``, ``delete``
and ``revert`` find the set. The provider's own labels (``ba-gce-set``, ``ba-gce-vm``,
``ba-gce-device``, ``ba-gce-boot``, ``ba-gce-name``) are kept out of ``SnapshotRef.tags``; a
tag key starting with ``ba-gce-`` is refused. Per-disk snapshots are listed in ``extra``.

Tags become labels, which GCE restricts to lowercase letters, digits, ``_`` and ``-``, at most
63 characters, keys starting with a letter. Each tag key and value is lower-cased, every other
character becomes ``-``, a key not starting with a letter gets the prefix ``k-``, and both are
cut to 63 characters: ``{"Reason": "Pre Upgrade"}`` is stored (and returned) as
``{"reason": "pre-upgrade"}``, ``2026-12-01T00:00:00Z`` as ``2026-12-01t00-00-00z``. ``list``
normalises the tags it filters on the same way. Two tags that become one label are refused.

Revert creates a new disk from each snapshot (named ``<snapshot>-r<6 hex>``, of the old disk's
type), stops the instance, detaches each old disk and attaches the new one at the same device
name with the same boot/auto-delete/mode flags, then starts the instance again if it was
running. The old disks are kept (detached) and named in the log; delete them when satisfied.
When a step fails, new disks not yet attached are deleted and the error names the instance's
state, the old and the new disks. Only zonal persistent disks are handled (regional disks and
local SSDs are not snapshotted by ``disks.createSnapshot``; an instance with regional disks is
refused).

Every API call is bounded by the call's timeout; reads (get, list, operation waits) are retried
on HTTP 503/429 until then, writes are not. ``list(vm)`` needs the instance to exist
(:class:`NotFound` otherwise, which is what ``vm_exists`` relies on); ``list()`` without a VM
also finds the sets of deleted instances.
"""

from __future__ import annotations

import builtins
import logging
import re
import string
import time
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from providers.base import (
    NotFound,
    ProviderConfigError,
    ProviderError,
    SnapshotProvider,
    SnapshotRef,
    SnapshotState,
    TaskFailed,
    UnsupportedOption,
)
from providers.gcp_api import ComputeApi, last

log = logging.getLogger(__name__)
Names = list[str]  # the class's list() shadows the builtin in annotations
Snaps = list[Any]

SETTINGS = frozenset({
    "project", "zone", "api_endpoint", "credentials", "credentials_file", "access_token", "anonymous",
    "storage_locations", "kms_key_name", "timeout", "page_size",
})
OWN = "ba-gce-"
SET, VM, DEVICE, BOOT, NAME = (OWN + k for k in ("set", "vm", "device", "boot", "name"))
SET_ID_RE = re.compile(r"^[a-z][-a-z0-9]{0,45}$")
STATES = {"READY": SnapshotState.AVAILABLE, "CREATING": SnapshotState.CREATING,
          "UPLOADING": SnapshotState.CREATING, "DELETING": SnapshotState.DELETING,
          "FAILED": SnapshotState.ERROR}


def label_key(key: str) -> str:
    """A tag key as a GCE label key (see the module docstring)."""
    k = re.sub(r"[^a-z0-9_-]", "-", key.lower())
    if not k or k[0] not in string.ascii_lowercase:
        k = "k-" + k
    return k[:63]


def label_value(value: str) -> str:
    """A tag value as a GCE label value (see the module docstring)."""
    return re.sub(r"[^a-z0-9_-]", "-", str(value).lower())[:63]


def labels_from_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    """Normalised labels for ``tags``; refuses provider-owned keys and colliding keys."""
    out: dict[str, str] = {}
    origin: dict[str, str] = {}
    for key, value in (tags or {}).items():
        k = label_key(key)
        if k.startswith(OWN):
            raise UnsupportedOption(f"gcp: tag {key!r} uses the reserved label prefix {OWN!r}")
        if k in origin:
            raise UnsupportedOption(f"gcp: tags {origin[k]!r} and {key!r} both become label {k!r}")
        origin[k], out[k] = key, label_value(value)
    return out


def _slug(name: str) -> str:
    s = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    s = re.sub(r"^[^a-z]+", "", s)[:26].rstrip("-")
    return s or "ba"


def _disk_order(snap: Any) -> tuple[int, str]:
    """Boot disk first, then in the order they were snapshotted (``<set id>-<n>``)."""
    n = snap.name.rsplit("-", 1)[-1]
    return (int(n) if n.isdigit() else 1 << 30, snap.name)


class GCPProvider(SnapshotProvider):
    """Snapshots of a GCE instance's persistent disks, known by a snapshot-set id."""

    type_name = "gcp"
    settings_keys = SETTINGS
    options = frozenset({"storage_locations", "kms_key_name", "guest_flush"})

    def __init__(self, settings: Mapping[str, Any]) -> None:
        unknown = sorted(set(settings) - SETTINGS - {"type"})
        if unknown:
            raise ProviderConfigError(
                f"gcp: unknown setting(s) {', '.join(unknown)} (known: {', '.join(sorted(SETTINGS))})")
        for key in ("project", "zone"):
            if not isinstance(settings.get(key), str) or not settings[key]:
                raise ProviderConfigError(f"gcp: setting {key!r} is required")
        try:
            super().__init__(settings)
            self.page_size = int(settings.get("page_size", 500))
        except (TypeError, ValueError) as exc:
            raise ProviderConfigError("gcp: timeout and page_size must be numbers") from exc
        if self.timeout <= 0:
            raise ProviderConfigError("gcp: timeout must be a positive number of seconds")
        if not 1 <= self.page_size <= 500:
            raise ProviderConfigError("gcp: page_size must be between 1 and 500")
        self.project: str = settings["project"]
        self.zone: str = settings["zone"]
        try:
            self.defaults = self._check_create_options(
                {k: settings[k] for k in ("storage_locations", "kms_key_name") if k in settings})
        except UnsupportedOption as exc:
            raise ProviderConfigError(str(exc)) from exc
        self.api = ComputeApi(self.project, self.settings, self.timeout)

    def _deadline(self, timeout: float | None) -> float:
        return time.monotonic() + (self.timeout if timeout is None else timeout)

    # -- reads -----------------------------------------------------------------------------
    def _instance(self, vm: str) -> Any:
        return self.api.call(f"instance {vm!r} in zone {self.zone}", "InstancesClient.get",
                             project=self.project, zone=self.zone, instance=vm)

    def _snapshots(self, labels: Mapping[str, str]) -> list[Any]:
        """Provider-made snapshots carrying every label, following pages."""
        from google.cloud import compute_v1

        flt = " ".join(f'(labels.{k} = "{v}")' for k, v in sorted(labels.items()))
        req = compute_v1.ListSnapshotsRequest(project=self.project, filter=flt, max_results=self.page_size)
        try:
            found = self.api.call("listing snapshots", "SnapshotsClient.list", request=req)
        except NotFound as exc:
            # the collection itself is missing: the project (or api_endpoint) is wrong, which
            # must not read as "the snapshot is gone" to a caller that then forgets it
            raise ProviderConfigError(f"gcp: project {self.project!r} has no snapshot collection at "
                                      f"this endpoint; check project and api_endpoint ({exc})") from exc
        return [s for s in found if s.labels.get(SET)]

    def _set(self, snapshot_id: str) -> list[Any]:
        if not SET_ID_RE.match(snapshot_id):
            raise NotFound(f"gcp: {snapshot_id!r} is not a snapshot id of this provider")
        snaps = self._snapshots({SET: snapshot_id})
        if not snaps:
            raise NotFound(f"gcp: snapshot {snapshot_id} not found in project {self.project}")
        return sorted(snaps, key=_disk_order)

    def _ref(self, snaps: list[Any]) -> SnapshotRef:
        first = snaps[0]
        states = {STATES.get(s.status, SnapshotState.ERROR) for s in snaps}
        state = next(st for st in (SnapshotState.ERROR, SnapshotState.DELETING, SnapshotState.CREATING,
                                   SnapshotState.AVAILABLE) if st in states)
        return SnapshotRef(
            id=first.labels[SET], vm=first.labels.get(VM, ""), name=first.labels.get(NAME, ""),
            created=min(datetime.fromisoformat(s.creation_timestamp) for s in snaps), state=state,
            tags={k: v for k, v in first.labels.items() if not k.startswith(OWN)},
            description=first.description,
            extra={"project": self.project, "zone": self.zone, "snapshots": [{
                "name": s.name, "id": str(s.id), "status": s.status, "device": s.labels.get(DEVICE, ""),
                "boot": s.labels.get(BOOT) == "true", "source_disk": s.source_disk,
                "storage_locations": list(s.storage_locations),
                "kms_key_name": s.snapshot_encryption_key.kms_key_name} for s in snaps]},
        )

    def get(self, snapshot_id: str) -> SnapshotRef:
        """The snapshot set with this id; :class:`NotFound` when none of it is left."""
        return self._ref(self._set(snapshot_id))

    def list(self, vm: str | None = None, tags: Mapping[str, str] | None = None) -> list[SnapshotRef]:
        """Snapshot sets of ``vm`` (all instances when None) carrying every tag (normalised)."""
        labels = labels_from_tags(tags)
        if vm is not None:
            self._instance(vm)
            labels[VM] = label_value(vm)
        sets: dict[str, Snaps] = {}
        for snap in self._snapshots(labels):
            sets.setdefault(snap.labels[SET], []).append(snap)
        refs = [self._ref(sorted(v, key=_disk_order)) for v in sets.values()]
        return sorted(refs, key=lambda r: (r.created, r.id))

    # -- create ----------------------------------------------------------------------------
    def _check_create_options(self, opts: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(opts)
        locs = out.get("storage_locations")
        if isinstance(locs, str):
            out["storage_locations"] = [locs]
        elif locs is not None and not (isinstance(locs, list) and all(isinstance(x, str) for x in locs)):
            raise UnsupportedOption("gcp: storage_locations must be a location name or a list of them")
        if "kms_key_name" in out and not (isinstance(out["kms_key_name"], str) and out["kms_key_name"]):
            raise UnsupportedOption("gcp: kms_key_name must be a key resource name")
        if "guest_flush" in out and not isinstance(out["guest_flush"], bool):
            raise UnsupportedOption("gcp: guest_flush must be true or false")
        return out

    def create(
        self,
        vm: str,
        name: str,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        options: Mapping[str, Any] | None = None,
        *,
        wait: bool = True,
        timeout: float | None = None,
    ) -> SnapshotRef:
        """Snapshot every persistent disk of instance ``vm`` as one set (see module docstring)."""
        from google.cloud import compute_v1

        opts = self._check_create_options({**self.defaults, **self.check_options(options)})
        labels = labels_from_tags(tags)
        deadline = self._deadline(timeout)
        disks = sorted((d for d in self._instance(vm).disks if d.type_ == "PERSISTENT"),
                       key=lambda d: (not d.boot, d.index))
        if not disks:
            raise UnsupportedOption(f"gcp: instance {vm} has no persistent disk to snapshot")
        regional = [last(d.source) for d in disks if "/zones/" not in d.source]
        if regional:
            raise UnsupportedOption(f"gcp: {vm} has regional disks ({', '.join(regional)}); only zonal work")
        set_id = f"{_slug(name)}-{uuid.uuid4().hex[:12]}"
        started: Names = []
        ops: Snaps = []
        try:
            for n, att in enumerate(disks):
                snap = compute_v1.Snapshot(
                    name=f"{set_id}-{n}", description=description,
                    labels={**labels, SET: set_id, VM: label_value(vm), DEVICE: label_value(att.device_name),
                            BOOT: "true" if att.boot else "false", NAME: label_value(name)},
                    storage_locations=opts.get("storage_locations", []))
                if opts.get("kms_key_name"):
                    key = compute_v1.CustomerEncryptionKey(kms_key_name=opts["kms_key_name"])
                    snap.snapshot_encryption_key = key
                req = compute_v1.CreateSnapshotDiskRequest(
                    project=self.project, zone=att.source.split("/zones/")[1].split("/")[0],
                    disk=last(att.source), snapshot_resource=snap)
                if "guest_flush" in opts:
                    req.guest_flush = opts["guest_flush"]
                ops.append(self.api.call(f"snapshot of disk {last(att.source)} of {vm}",
                                         "DisksClient.create_snapshot_unary", deadline, request=req))
                started.append(snap.name)
            if wait:
                self._wait_all(ops, deadline, f"snapshot {set_id} of {vm}")
        except ProviderError as exc:
            raise type(exc)(f"{exc}; {self._discard(started)}") from exc
        return self.get(set_id)

    def _wait_all(self, ops: Snaps, deadline: float, what: str) -> None:
        """Wait for every operation, even after one failed, so cleanup finds them settled."""
        errors = []
        for op in ops:
            try:
                self.api.wait(op, deadline, what)
            except ProviderError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    def _discard(self, names: Names) -> str:
        """Delete half-made snapshots after a failure; says what happened, for the error."""
        if not names:
            return "no snapshot was made"
        left = self.api.remove("half-made snapshot", "SnapshotsClient.delete_unary", names, "snapshot",
                               project=self.project)
        if left:
            return f"half-made snapshots left, delete them by hand: {', '.join(left)}"
        return f"half-made snapshots deleted: {', '.join(names)}"

    # -- delete ----------------------------------------------------------------------------
    def delete(self, snapshot_id: str, *, wait: bool = True, timeout: float | None = None) -> None:
        """Delete every snapshot of the set."""
        deadline = self._deadline(timeout)
        ops = []
        for snap in self._set(snapshot_id):
            try:
                ops.append(self.api.call(f"deleting snapshot {snap.name}", "SnapshotsClient.delete_unary",
                                         deadline, project=self.project, snapshot=snap.name))
            except NotFound:
                continue  # gone meanwhile: that is what we wanted
        if wait:
            self._wait_all(ops, deadline, f"deleting snapshot {snapshot_id}")

    # -- revert ----------------------------------------------------------------------------
    def revert(self, snapshot_id: str, *, wait: bool = True, timeout: float | None = None) -> None:
        """Swap new disks made from the set onto its instance; the old disks are kept.

        With ``wait=False`` the call still waits for every step but the final start.
        """
        deadline = self._deadline(timeout)
        snaps = self._set(snapshot_id)
        not_ready = [s.name for s in snaps if s.status != "READY"]
        if not_ready:
            raise TaskFailed(f"gcp: snapshot {snapshot_id} is not ready ({', '.join(not_ready)})")
        vm = snaps[0].labels[VM]
        inst = self._instance(vm)
        attached = {a.device_name: a for a in inst.disks}
        new_disks = self._disks_from(snaps, attached, deadline)
        was_running = inst.status not in ("TERMINATED", "STOPPED", "SUSPENDED")
        try:
            self._instance_op("stop_unary", vm, deadline, "stopping instance")
        except ProviderError as exc:
            raise type(exc)(f"{exc}; {self._drop_disks(new_disks)}") from exc
        devices = {s.labels[DEVICE] for s in snaps}
        old = [last(a.source) for a in attached.values() if a.device_name in devices]
        swapped: Names = []
        try:
            for snap, disk in zip(snaps, new_disks, strict=True):
                device = snap.labels[DEVICE]
                self._swap(vm, device, attached.get(device), disk, snap.labels.get(BOOT) == "true", deadline)
                swapped.append(device)
        except ProviderError as exc:
            raise type(exc)(f"{exc}; instance {vm} left stopped, devices already swapped: "
                            f"{', '.join(swapped) or 'none'}; old disks: {', '.join(old)}; "
                            f"new disks: {', '.join(new_disks)}") from exc
        log.info("gcp: %s reverted to %s; old disks kept, detached: %s", vm, snapshot_id, ", ".join(old))
        if was_running:
            self._instance_op("start_unary", vm, deadline if wait else None, "starting instance")

    def _instance_op(self, method: str, vm: str, deadline: float | None, what: str) -> None:
        op = self.api.call(f"{what} {vm}", f"InstancesClient.{method}", deadline,
                           project=self.project, zone=self.zone, instance=vm)
        if deadline is not None:
            self.api.wait(op, deadline, f"{what} {vm}")

    def _disks_from(self, snaps: Snaps, attached: Mapping[str, Any], deadline: float) -> Names:
        """New disks from each snapshot, of the replaced disk's type; all or none."""
        from google.cloud import compute_v1

        suffix = uuid.uuid4().hex[:6]
        made: builtins.list[tuple[str, Any]] = []
        try:
            for snap in snaps:
                disk = compute_v1.Disk(name=f"{snap.name}-r{suffix}", source_snapshot=snap.self_link,
                                       labels={SET: snap.labels[SET]})
                old = attached.get(snap.labels[DEVICE])
                if old is not None:
                    disk.type_ = self.api.call(f"disk {last(old.source)}", "DisksClient.get", deadline,
                                               project=self.project, zone=self.zone,
                                               disk=last(old.source)).type_
                op = self.api.call(f"creating disk {disk.name}", "DisksClient.insert_unary", deadline,
                                   project=self.project, zone=self.zone, disk_resource=disk)
                made.append((disk.name, op))
            self._wait_all([op for _, op in made], deadline, f"disks from snapshot {snaps[0].labels[SET]}")
        except ProviderError as exc:
            raise type(exc)(f"{exc}; {self._drop_disks([n for n, _ in made])}; instance untouched") from exc
        return [n for n, _ in made]

    def _drop_disks(self, names: Names) -> str:
        left = self.api.remove("disk", "DisksClient.delete_unary", names, "disk",
                               project=self.project, zone=self.zone)
        return f"new disks left, delete them by hand: {', '.join(left)}" if left else "new disks deleted"

    def _swap(self, vm: str, device: str, old: Any, disk: str, boot: bool, deadline: float) -> None:
        from google.cloud import compute_v1

        new = compute_v1.AttachedDisk(source=f"projects/{self.project}/zones/{self.zone}/disks/{disk}",
                                      device_name=device, boot=boot, auto_delete=False)
        if old is not None:
            new.auto_delete, new.mode = old.auto_delete, old.mode
            op = self.api.call(f"detaching {device} from {vm}", "InstancesClient.detach_disk_unary", deadline,
                               project=self.project, zone=self.zone, instance=vm, device_name=device)
            self.api.wait(op, deadline, f"detaching {device} from {vm}")
        op = self.api.call(f"attaching {disk} to {vm}", "InstancesClient.attach_disk_unary", deadline,
                           project=self.project, zone=self.zone, instance=vm, attached_disk_resource=new)
        self.api.wait(op, deadline, f"attaching {disk} to {vm} as {device}")
