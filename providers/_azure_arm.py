"""ARM plumbing of the Azure provider: credentials, bounded LRO polling, ids, tags, records.

Part of ``providers.azure`` (split out to keep each file readable); imported only by it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError, HttpResponseError
from azure.core.pipeline import PipelineRequest
from azure.mgmt.compute import models as m
from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy
from azure.mgmt.core.polling.arm_polling import ARMPolling

from providers.base import NotFound, ProviderConfigError, SnapshotRef, SnapshotState

SET_TAG = "backup-agent-set"  # one value per VM snapshot: groups its per-disk snapshots
VM_TAG = "backup-agent-vm"  # the VM's resource id
ROLE_TAG = "backup-agent-disk"  # "os" or "lun<N>": where the disk goes back on revert
NAME_TAG = "backup-agent-name"  # the name the caller gave (resource names carry suffixes)
DESC_TAG = "backup-agent-description"
_HIDDEN = {ROLE_TAG, NAME_TAG, DESC_TAG}  # shown as fields of SnapshotRef, not as tags
MIN_POLL = 0.05  # seconds; ARM's Retry-After may be 0, and a bare loop would spin

_ID = re.compile(r"^/subscriptions/[^/]+/resourceGroups/([^/]+)/providers/Microsoft\.Compute/"
                 r"(\w+)/([^/]+)$", re.IGNORECASE)
_STATES = {"succeeded": SnapshotState.AVAILABLE, "creating": SnapshotState.CREATING,
           "updating": SnapshotState.CREATING, "deleting": SnapshotState.DELETING,
           "failed": SnapshotState.ERROR, "canceled": SnapshotState.ERROR}
_RANK = [SnapshotState.ERROR, SnapshotState.DELETING, SnapshotState.CREATING, SnapshotState.AVAILABLE]


class Overdue(Exception):
    """A long-running operation passed its deadline (becomes ProviderTimeout)."""


class Deadline:
    """A point in monotonic time that every wait of one call shares."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def overdue(self) -> Overdue:
        """The error to raise when it has passed."""
        return Overdue(f"not done within {self.seconds:g} s")

    def left(self) -> float:
        """Seconds until the deadline (0 when passed)."""
        return max(0.0, self.at - time.monotonic())


def deadline_polling(deadline: Deadline) -> ARMPolling:
    """ARM polling (Azure-AsyncOperation, Location) that raises :class:`Overdue` at ``deadline``.

    The SDK's poller thread would otherwise poll an operation that never ends for ever.
    """

    class _Bounded(ARMPolling):
        def _delay(self) -> None:
            left = deadline.left()
            if left <= 0:
                raise deadline.overdue()
            self._sleep(min(max(self._extract_delay(), MIN_POLL), left))

    return _Bounded(MIN_POLL)


def plain_http_policy(credential: TokenCredential, scope: str) -> ARMChallengeAuthenticationPolicy:
    """Bearer auth that also sends the token over http (the ``allow_http`` lab setting)."""

    class _PlainHttp(ARMChallengeAuthenticationPolicy):
        def on_request(self, request: PipelineRequest[Any]) -> None:
            request.context["enforce_https"] = False
            super().on_request(request)

    return _PlainHttp(credential, scope)


def build_credential(tenant_id: str, client_id: str, client_secret: str, authority: str,
                     instance_discovery: bool, ca_bundle: str) -> TokenCredential:
    """A service principal when a secret is given, else the SDK's default chain."""
    from azure.identity import ClientSecretCredential, DefaultAzureCredential

    check_credential_settings(tenant_id, client_id, client_secret)
    kwargs: dict[str, Any] = {"authority": authority} if authority else {}
    if ca_bundle:
        kwargs["connection_verify"] = ca_bundle
    try:
        if client_secret:
            return ClientSecretCredential(tenant_id, client_id, client_secret,
                                          disable_instance_discovery=not instance_discovery, **kwargs)
        if client_id:
            kwargs["managed_identity_client_id"] = client_id
        return DefaultAzureCredential(**kwargs)
    except ValueError as exc:  # e.g. an authority that is not https
        raise ProviderConfigError(f"azure: {exc}") from exc


def check_credential_settings(tenant_id: str, client_id: str, client_secret: str) -> None:
    """Refuse a half-configured service principal."""
    if client_secret and not (tenant_id and client_id):
        raise ProviderConfigError("azure: client_secret needs tenant_id and client_id")
    if tenant_id and not client_secret:
        raise ProviderConfigError("azure: tenant_id is used with client_secret (client_secret_env or _file)")


def arm_code(exc: AzureError) -> str:
    """The ARM error code (or status) of an SDK error, without anything secret."""
    if isinstance(exc, HttpResponseError) and exc.response is None:  # raised by azure-identity
        return (exc.message or type(exc).__name__).splitlines()[0][:200]
    if isinstance(exc, HttpResponseError):
        code = getattr(exc.error, "code", None) if exc.error is not None else None
        status = exc.status_code or (exc.response.status_code if exc.response is not None else None)
        inner = exc.inner_exception
        if not code and inner is not None and "failed or canceled" in str(inner):
            code = "operation Failed"
        return f"{code or 'HTTP'} {status}" if status else str(code or type(exc).__name__)
    return type(exc).__name__


def split_id(resource_id: str, kind: str) -> tuple[str, str]:
    """(resource group, name) of a ``Microsoft.Compute/<kind>`` resource id; NotFound if not one."""
    match = _ID.match(resource_id)
    if not match or match[2].lower() != kind.lower():
        raise NotFound(f"azure: {resource_id!r} is not a Microsoft.Compute/{kind} resource id")
    return match[1], match[3]


def resource_name(name: str, set_id: str, role: str) -> str:
    """A valid, unique snapshot resource name (at most 80 characters of [A-Za-z0-9_-])."""
    suffix = f"-{set_id}-{role}"
    stem = re.sub(r"[^A-Za-z0-9_-]", "-", name).strip("-") or "snapshot"
    return stem[:80 - len(suffix)] + suffix


def snapshot_ref(members: Sequence[m.Snapshot]) -> SnapshotRef:
    """One :class:`SnapshotRef` for the per-disk snapshots of one set (the OS disk's first)."""
    ordered = sorted(members, key=lambda s: _role_key((s.tags or {}).get(ROLE_TAG, "")))
    if not ordered:
        raise NotFound("azure: the snapshot set has no snapshots left")
    head = ordered[0]
    tags = dict(head.tags or {})
    states = [_state(s) for s in ordered]
    created = [s.properties.time_created for s in ordered if s.properties and s.properties.time_created]
    vm_id = tags.get(VM_TAG, "")
    return SnapshotRef(
        id=head.id or "",
        vm=vm_id.rsplit("/", 1)[-1],
        name=tags.get(NAME_TAG, head.name or ""),
        created=min(created) if created else datetime.fromtimestamp(0, UTC),
        state=min(states, key=_RANK.index),
        tags={k: v for k, v in tags.items() if k not in _HIDDEN},
        description=tags.get(DESC_TAG, ""),
        extra={
            "vm_id": vm_id, "set": tags.get(SET_TAG, ""), "location": head.location,
            "incremental": bool(head.properties and head.properties.incremental),
            "disks": [_member(s) for s in ordered],
        },
    )


def _member(snap: m.Snapshot) -> dict[str, Any]:
    props = snap.properties
    source = props.creation_data.source_resource_id if props and props.creation_data else None
    return {"role": (snap.tags or {}).get(ROLE_TAG, ""), "snapshot_id": snap.id, "source_disk_id": source,
            "size_gb": props.disk_size_gb if props else None, "state": _state(snap).value}


def _state(snap: m.Snapshot) -> SnapshotState:
    raw = (snap.properties.provisioning_state if snap.properties else None) or "Succeeded"
    return _STATES.get(raw.lower(), SnapshotState.ERROR)


def _role_key(role: str) -> tuple[int, int]:
    if role == "os":
        return (0, 0)
    return (1, int(role[3:])) if role.startswith("lun") and role[3:].isdigit() else (2, 0)
