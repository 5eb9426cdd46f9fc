"""Azure provider: one snapshot of a VM = one managed-disk snapshot per disk (OS + data).

Settings (the ``[providers.NAME]`` table, ``type = "azure"``):

``subscription_id`` (required)
    The subscription holding the VMs and the snapshots.
``resource_group`` (required)
    Where snapshots are made and listed, and where a bare VM name is looked up.
``location``
    Region of new snapshots and disks; default: the VM's.
``base_url``
    ARM endpoint for sovereign or private clouds (e.g. ``https://management.usgovcloudapi.net``)
    and tests; default ``https://management.azure.com``. The token scope follows it
    (``<base_url>/.default``) unless ``credential_scope`` says otherwise.
``authority``
    Entra ID host for sovereign clouds (e.g. ``login.microsoftonline.us``); https only.
``instance_discovery``
    Let MSAL validate ``authority`` with Microsoft (default ``true``); ``false`` for Azure
    Stack Hub, ADFS or a private identity endpoint.
``ca_bundle``
    PEM file of the CA(s) to trust for ``base_url`` and ``authority`` (private clouds).
``tenant_id``, ``client_id``, ``client_secret`` (``client_secret_env``/``client_secret_file``)
    A service principal. Without ``client_secret`` the SDK's ``DefaultAzureCredential`` chain
    is used (environment, workload and managed identity, Azure CLI...), with ``client_id`` as
    the user-assigned managed identity when given.
``incremental``
    Incremental snapshots (default ``true``); also a per-call option of :meth:`create`.
``timeout``
    Seconds any call waits for ARM operations (default 1800).
``retries``
    HTTP retries of the SDK per request (default 3).
``allow_http``
    Send the bearer token over plain ``http://`` (default ``false``). Only for a lab or test
    ARM endpoint given in ``base_url``; refused without it.

VM: its name in ``resource_group``, or a full resource id
(``/subscriptions/S/resourceGroups/RG/providers/Microsoft.Compute/virtualMachines/NAME``).

A snapshot set is the per-disk snapshots tagged with one ``backup-agent-set`` value; the
:class:`~providers.base.SnapshotRef` id is the ARM resource id of the OS disk's snapshot, and
``extra["disks"]`` lists every member (role ``os`` or ``lun<N>``, snapshot id, source disk).
Only sets carrying that tag are listed. Disks are snapshotted back to back, not at one
instant across disks. ``revert`` makes new disks (in ``resource_group``) from the snapshots,
deallocates the VM, swaps the disks in (data disks by LUN), and starts it again if it was
running; the old disks are kept (named in the log) for the admin to delete. A failed step
removes the new disks and starts the VM again on its old ones. Name and description are
kept in tags (256 characters at most); resource names are derived from the name.
"""

from __future__ import annotations

import builtins
import logging
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.polling import LROPoller
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute import models as m

from providers._azure_arm import (
    DESC_TAG,
    NAME_TAG,
    ROLE_TAG,
    SET_TAG,
    VM_TAG,
    Deadline,
    Overdue,
    arm_code,
    build_credential,
    check_credential_settings,
    deadline_polling,
    plain_http_policy,
    resource_name,
    snapshot_ref,
    split_id,
)
from providers._azure_revert import revert_set
from providers.base import (
    AuthFailed,
    InUse,
    NotFound,
    ProviderConfigError,
    ProviderError,
    ProviderTimeout,
    SnapshotProvider,
    SnapshotRef,
    TaskFailed,
    Unreachable,
    UnsupportedOption,
)

log = logging.getLogger(__name__)

SETTINGS = frozenset({
    "subscription_id", "resource_group", "location", "base_url", "authority", "credential_scope",
    "tenant_id", "client_id", "client_secret", "incremental", "timeout", "retries", "allow_http",
    "instance_discovery", "ca_bundle",
})
_VM_ID = re.compile(r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.Compute/"
                    r"virtualMachines/([^/]+)$", re.IGNORECASE)


class AzureProvider(SnapshotProvider):
    """Managed-disk snapshots of Azure VMs through azure-mgmt-compute."""

    type_name: ClassVar[str] = "azure"
    settings_keys: ClassVar[frozenset[str] | None] = SETTINGS
    options: ClassVar[frozenset[str]] = frozenset({"incremental"})

    def __init__(self, settings: Mapping[str, Any], credential: TokenCredential | None = None) -> None:
        """Build from settings; ``credential`` (any azure.core TokenCredential) overrides the chain."""
        unknown = sorted(set(settings) - SETTINGS)
        if unknown:
            raise ProviderConfigError(f"azure: unknown setting(s) {', '.join(unknown)} "
                                      f"(known: {', '.join(sorted(SETTINGS))})")
        try:
            super().__init__(settings)
        except (TypeError, ValueError) as exc:
            raise ProviderConfigError("azure: timeout must be a number of seconds") from exc
        if not self.timeout > 0:
            raise ProviderConfigError("azure: timeout must be more than 0 seconds")
        s = self.settings
        self.subscription_id = _text(s, "subscription_id", required=True)
        self.resource_group = _text(s, "resource_group", required=True)
        self.location = _text(s, "location")
        self.base_url = (_text(s, "base_url") or "https://management.azure.com").rstrip("/")
        if not self.base_url.startswith(("https://", "http://")):
            raise ProviderConfigError(f"azure: base_url {self.base_url!r} must start with https://")
        self.incremental = _flag(s, "incremental", True)
        retries = s.get("retries", 3)
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise ProviderConfigError("azure: retries must be a whole number >= 0")
        allow_http = _flag(s, "allow_http", False)
        if allow_http and "base_url" not in s:
            raise ProviderConfigError("azure: allow_http needs base_url (a lab or test ARM endpoint)")
        if self.base_url.startswith("http://") and not allow_http:
            raise ProviderConfigError("azure: base_url is plain http; use https "
                                      "(or allow_http = true for a lab endpoint)")
        scope = _text(s, "credential_scope") or f"{self.base_url}/.default"
        principal = (_text(s, "tenant_id"), _text(s, "client_id"), _text(s, "client_secret"))
        check_credential_settings(*principal)
        self._own_credential = credential is None
        ca_bundle = _text(s, "ca_bundle")
        if ca_bundle and not Path(ca_bundle).is_file():
            raise ProviderConfigError(f"azure: ca_bundle {ca_bundle} is not a readable file")
        self.credential = credential or build_credential(
            *principal, _text(s, "authority"), _flag(s, "instance_discovery", True), ca_bundle)
        extra: dict[str, Any] = {"connection_verify": ca_bundle} if ca_bundle else {}
        if allow_http:
            extra["authentication_policy"] = plain_http_policy(self.credential, scope)
        self.client = ComputeManagementClient(
            self.credential, self.subscription_id, base_url=self.base_url, credential_scopes=[scope],
            retry_total=retries, **extra)

    # -- contract ---------------------------------------------------------------------------------
    def create(self, vm: str, name: str, description: str = "", tags: Mapping[str, str] | None = None,
               options: Mapping[str, Any] | None = None, *, wait: bool = True,
               timeout: float | None = None) -> SnapshotRef:
        """Snapshot every managed disk of ``vm``; a failed or late set is deleted, or named."""
        opts = self.check_options(options)
        incremental = _flag(opts, "incremental", self.incremental, UnsupportedOption)
        deadline = Deadline(self._timeout(timeout))
        machine = self._vm(vm)
        location = self.location or machine.location
        set_id = uuid.uuid4().hex[:12]
        base_tags = {**dict(tags or {}), SET_TAG: set_id, VM_TAG: machine.id or "", NAME_TAG: name[:256]}
        if description:
            base_tags[DESC_TAG] = description[:256]
        started: builtins.list[str] = []  # resource ids of snapshots whose PUT was accepted
        pollers: builtins.list[LROPoller[m.Snapshot]] = []
        try:
            for role, disk_id in _disks_of(machine):
                snap_name = resource_name(name, set_id, role)
                body = m.Snapshot({
                    "location": location, "tags": {**base_tags, ROLE_TAG: role},
                    "properties": {"creationData": {"createOption": "Copy", "sourceResourceId": disk_id},
                                   "incremental": incremental}})
                pollers.append(self._start(f"snapshot of disk {disk_id}", deadline, wait,
                                           self.client.snapshots.begin_create_or_update,
                                           self.resource_group, snap_name, body))
                started.append(self._snapshot_id(snap_name))
            pairs = zip(pollers, started, strict=True)
            members = ([self._wait(p, deadline, f"snapshot {sid}") for p, sid in pairs]
                       if wait else [self._get_snapshot(sid) for sid in started])
        except ProviderError as exc:
            raise type(exc)(f"{exc}{self._cleanup(started)}") from exc
        return snapshot_ref(members)

    def list(self, vm: str | None = None, tags: Mapping[str, str] | None = None) -> list[SnapshotRef]:
        """Snapshot sets in ``resource_group`` (of ``vm`` when given) carrying every tag in ``tags``."""
        vm_id = (self._vm(vm).id or "").lower() if vm is not None else None
        sets: dict[str, builtins.list[m.Snapshot]] = {}
        with self._arm("list snapshots"):
            for snap in self.client.snapshots.list_by_resource_group(self.resource_group):
                set_id = (snap.tags or {}).get(SET_TAG)
                if set_id:
                    sets.setdefault(set_id, []).append(snap)
        refs = [snapshot_ref(members) for members in sets.values()]
        want = dict(tags or {})
        return sorted((r for r in refs
                       if (vm_id is None or str(r.extra.get("vm_id", "")).lower() == vm_id)
                       and all(r.tags.get(k) == v for k, v in want.items())),
                      key=lambda r: (r.created, r.id))

    def get(self, snapshot_id: str) -> SnapshotRef:
        """The set the snapshot ``snapshot_id`` belongs to; NotFound when it is gone."""
        return snapshot_ref(self._members(snapshot_id))

    def delete(self, snapshot_id: str, *, wait: bool = True, timeout: float | None = None) -> None:
        """Delete every snapshot of the set; InUse when ARM refuses (e.g. an export is open)."""
        deadline = Deadline(self._timeout(timeout))
        members = self._members(snapshot_id)
        pollers = [self._start(f"delete snapshot {s.id}", deadline, wait, self.client.snapshots.begin_delete,
                               *split_id(s.id or "", "snapshots"), conflict=InUse) for s in members]
        if wait:
            for snap, poller in zip(members, pollers, strict=True):
                self._wait(poller, deadline, f"delete snapshot {snap.id}", conflict=InUse)

    def revert(self, snapshot_id: str, *, wait: bool = True, timeout: float | None = None) -> None:
        """Swap disks made from the set onto its VM (deallocated meanwhile); old disks are kept."""
        revert_set(self, self._members(snapshot_id), Deadline(self._timeout(timeout)), wait)

    def vm_exists(self, vm: str) -> bool:
        """Whether ``vm`` names a VM (one GET, no snapshot listing)."""
        try:
            self._vm(vm)
        except NotFound:
            return False
        return True

    def close(self) -> None:
        """Close the HTTP session and a credential this provider made."""
        self.client.close()
        if self._own_credential and hasattr(self.credential, "close"):
            self.credential.close()

    # -- helpers (also used by the revert workflow) ---------------------------------------------------
    def _timeout(self, timeout: float | None) -> float:
        return float(self.timeout if timeout is None else timeout)

    def _snapshot_id(self, name: str) -> str:
        return (f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
                f"/providers/Microsoft.Compute/snapshots/{name}")

    def _vm(self, vm: str, expand: bool = False) -> m.VirtualMachine:
        rg, name = self.resource_group, vm
        if vm.startswith("/"):
            match = _VM_ID.match(vm)
            if not match or match[1].lower() != self.subscription_id.lower():
                raise NotFound(f"azure: {vm!r} is not a VM resource id in subscription "
                               f"{self.subscription_id}")
            rg, name = match[2], match[3]
        with self._arm(f"VM {name!r} in resource group {rg!r}"):
            return self.client.virtual_machines.get(rg, name, expand="instanceView" if expand else None)

    def _get_snapshot(self, snapshot_id: str) -> m.Snapshot:
        rg, name = split_id(snapshot_id, "snapshots")
        sub = snapshot_id.split("/")[2]  # split_id checked the /subscriptions/S/... shape
        if sub.lower() != self.subscription_id.lower():
            # the client only reaches its own subscription: a 404 there must not read as "gone"
            raise ProviderConfigError(f"azure: snapshot {snapshot_id} is in subscription {sub}, but this "
                                      f"provider is configured for {self.subscription_id}")
        with self._arm(f"snapshot {snapshot_id}"):
            return self.client.snapshots.get(rg, name)

    def _members(self, snapshot_id: str) -> builtins.list[m.Snapshot]:
        """Every snapshot of the set ``snapshot_id`` belongs to."""
        first = self._get_snapshot(snapshot_id)
        set_id = (first.tags or {}).get(SET_TAG)
        if not set_id:
            raise NotFound(f"azure: {snapshot_id} is not part of a snapshot set made by backup-agent "
                           f"(no {SET_TAG} tag)")
        rg, _ = split_id(snapshot_id, "snapshots")
        with self._arm("list snapshots"):
            return [s for s in self.client.snapshots.list_by_resource_group(rg)
                    if (s.tags or {}).get(SET_TAG) == set_id]

    def _start(self, what: str, deadline: Deadline, wait: bool, begin: Callable[..., LROPoller[Any]],
               *args: Any, conflict: type[ProviderError] = TaskFailed) -> LROPoller[Any]:
        """Send the first request of a long-running operation (``begin_*``); poll only if ``wait``."""
        with self._arm(what, conflict=conflict):
            return begin(*args, polling=deadline_polling(deadline) if wait else False)

    def _run(self, what: str, deadline: Deadline, begin: Callable[..., LROPoller[Any]], *args: Any,
             conflict: type[ProviderError] = TaskFailed) -> Any:
        """A long-running operation, started and waited for until ``deadline``."""
        poller = self._start(what, deadline, True, begin, *args, conflict=conflict)
        return self._wait(poller, deadline, what, conflict=conflict)

    def _wait(self, poller: LROPoller[Any], deadline: Deadline, what: str,
              conflict: type[ProviderError] = TaskFailed) -> Any:
        with self._arm(what, conflict=conflict):
            # The polling method itself gives up at the deadline; the extra second only
            # covers a request in flight at that moment.
            poller.wait(deadline.left() + 1.0)
            if not poller.done():
                raise deadline.overdue()
            return poller.result()

    def _cleanup(self, snapshot_ids: builtins.list[str]) -> str:
        """Delete half-made snapshots; the text says what was removed or what is left."""
        if not snapshot_ids:
            return ""
        left = []
        for sid in snapshot_ids:
            rg, name = split_id(sid, "snapshots")
            try:
                self._run(f"delete snapshot {sid}", Deadline(self.timeout),
                          self.client.snapshots.begin_delete, rg, name)
            except ProviderError as exc:
                log.warning("azure: half-made snapshot %s not removed: %s", sid, exc)
                left.append(sid)
        if left:
            return f"; half-made snapshot(s) left, delete by hand: {', '.join(left)}"
        return f"; removed the {len(snapshot_ids)} half-made snapshot(s)"

    @contextmanager
    def _arm(self, what: str, conflict: type[ProviderError] = TaskFailed) -> Iterator[None]:
        """Turn SDK errors into the contract's typed errors, one line, no secrets."""
        try:
            yield
        except Overdue as exc:
            raise ProviderTimeout(f"azure: {what}: {exc}") from exc
        except ClientAuthenticationError as exc:
            raise AuthFailed(f"azure: {what}: credentials refused ({arm_code(exc)}); check tenant_id, "
                             "client_id, client_secret or the default credential chain") from exc
        except ResourceNotFoundError as exc:
            raise NotFound(f"azure: {what}: not found ({arm_code(exc)})") from exc
        except HttpResponseError as exc:
            if exc.status_code == 403:
                raise AuthFailed(f"azure: {what}: not authorised ({arm_code(exc)}); the identity needs "
                                 "a role such as Disk Snapshot Contributor on the resource group") from exc
            if exc.status_code == 409:
                raise conflict(f"azure: {what}: refused ({arm_code(exc)})") from exc
            raise TaskFailed(f"azure: {what}: failed ({arm_code(exc)})") from exc
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise Unreachable(f"azure: {what}: cannot reach {self.base_url} ({type(exc).__name__})") from exc
        except ValueError as exc:  # e.g. a proxy's HTML page: json's or the SDK's decode error
            raise Unreachable(f"azure: {what}: {self.base_url} answered something that is not Azure "
                              f"Resource Manager ({type(exc).__name__}); check base_url") from exc


def _disks_of(machine: m.VirtualMachine) -> list[tuple[str, str]]:
    """(role, managed disk id) of every disk of the VM: ``os``, then ``lun<N>`` by LUN."""
    profile = machine.properties.storage_profile if machine.properties else None
    if profile is None or profile.os_disk is None or profile.os_disk.managed_disk is None:
        raise TaskFailed(f"azure: VM {machine.name} has no managed OS disk "
                         "(unmanaged disks are not supported)")
    disks = [("os", profile.os_disk.managed_disk.id or "")]
    for data in sorted(profile.data_disks or [], key=lambda d: d.lun):
        if data.managed_disk is None or not data.managed_disk.id:
            raise TaskFailed(f"azure: VM {machine.name} data disk LUN {data.lun} is not a managed disk")
        disks.append((f"lun{data.lun}", data.managed_disk.id))
    return disks


def _text(settings: Mapping[str, Any], key: str, required: bool = False) -> str:
    value = settings.get(key)
    if value is None or value == "":
        if required:
            raise ProviderConfigError(f"azure: setting {key} is required")
        return ""
    if not isinstance(value, str):
        raise ProviderConfigError(f"azure: setting {key} must be a string")
    return value


def _flag(settings: Mapping[str, Any], key: str, default: bool,
          error: type[ProviderError] = ProviderConfigError) -> bool:
    value = settings.get(key, default)
    if not isinstance(value, bool):
        raise error(f"azure: {key} must be true or false")
    return value

