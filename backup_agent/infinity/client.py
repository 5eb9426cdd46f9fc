"""``InfinityClient``: the Management Node API as the jobs use it.

One client per deployment; it is safe to share between threads (one ``requests.Session``,
one bound on concurrent requests for all of them). Use it as a context manager or call
:meth:`InfinityClient.close`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, BinaryIO

from backup_agent.config import Deployment
from backup_agent.errors import ApiError
from backup_agent.infinity import backups
from backup_agent.infinity.backups import BackupHandle, BackupInfo, Progress
from backup_agent.infinity.http import Transport
from backup_agent.infinity.listing import get_page, list_concurrent, list_sequential
from backup_agent.infinity.streams import Package, RestartableSink

CONFERENCE = "configuration/v1/conference/"
CONFERENCE_ALIAS = "configuration/v1/conference_alias/"
AUTOMATIC_PARTICIPANT = "configuration/v1/automatic_participant/"
SYSTEM_LOCATION = "configuration/v1/system_location/"
WORKER_VM_CONFIG = "configuration/v1/worker_vm/"
AUTOBACKUP = "configuration/v1/autobackup/"
MANAGEMENT_VM_STATUS = "status/v1/management_vm/"
WORKER_VM_STATUS = "status/v1/worker_vm/"
ALARM = "status/v1/alarm/"
ALARM_HISTORY = "history/v1/alarm/"
WORKER_VM_EVENTS = "history/v1/workervm_status_event/"
LICENSING_STATUS = "status/v1/licensing/"
LICENCE = "configuration/v1/licence/"
DIAGNOSTIC_BUNDLE = "command/v1/platform/snapshot/"  # Pexip's name; not a VM snapshot
_ID_IN_PATH = re.compile(r"/(\d+)/?$")


class InfinityClient:
    """The Management Node API of one deployment (see ``backup_agent.infinity`` for the rules)."""

    def __init__(self, deployment: Deployment, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 wallclock: Callable[[], float] = time.time) -> None:
        self.deployment = deployment
        self.transport = Transport(deployment, sleep=sleep, clock=clock, wallclock=wallclock)

    def __enter__(self) -> InfinityClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the session's connections."""
        self.transport.close()

    # -- generic ---------------------------------------------------------------------------
    def list_all(self, resource: str, params: dict[str, Any] | None = None, *,
                 sequential: bool = False, page_size: int | None = None) -> list[dict[str, Any]]:
        """Every object of a list resource (e.g. ``"configuration/v1/conference/"``), in order.

        By default pages of ``page_size`` (the deployment's, 500 unless configured) are fetched
        concurrently once the first page gives ``total_count``; ``sequential=True`` follows
        ``meta.next`` one page at a time (the API default page size is 20).
        """
        if sequential:
            return list_sequential(self.transport, resource, params, page_size or 20)
        return list_concurrent(self.transport, resource, params,
                               page_size or self.deployment.page_size,
                               workers=self.deployment.max_concurrency)

    def count(self, resource: str, params: dict[str, Any] | None = None) -> int:
        """``total_count`` of a list resource (one tiny request)."""
        meta, _ = get_page(self.transport, resource, {**(params or {}), "limit": 1, "offset": 0})
        total = meta.get("total_count")
        if not isinstance(total, int):
            raise ApiError(f"deployment {self.deployment.name}: {resource} gave no total_count")
        return total

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET one API path (relative to ``/api/admin/`` or a server path) as JSON."""
        return self.transport.get_json(path, params)

    def create(self, resource: str, obj: dict[str, Any]) -> int:
        """POST ``obj`` to ``resource``; the new object's id, parsed from ``Location`` (201)."""
        resp = self.transport.request("POST", resource, json=obj, expect=(201,))
        location = resp.headers.get("Location", "")
        match = _ID_IN_PATH.search(location.split("?", 1)[0])
        if not match:
            raise ApiError(f"deployment {self.deployment.name}: creating in {resource} answered 201 "
                           f"without a usable Location header")
        return int(match.group(1))

    def delete(self, resource: str, obj_id: int | str) -> None:
        """DELETE ``resource/<id>/``."""
        self.transport.request("DELETE", f"{resource}{obj_id}/", expect=(200, 202, 204))

    # -- resources -------------------------------------------------------------------------
    def conferences(self, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every conference (VMR, VA, Virtual Reception, test call, media playback)."""
        return self.list_all(CONFERENCE, params)

    def aliases(self, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every conference alias."""
        return self.list_all(CONFERENCE_ALIAS, params)

    def automatic_participants(self) -> list[dict[str, Any]]:
        """Every automatic (dial-out) participant."""
        return self.list_all(AUTOMATIC_PARTICIPANT)

    def system_locations(self) -> list[dict[str, Any]]:
        """Every system location."""
        return self.list_all(SYSTEM_LOCATION)

    def management_vm_status(self) -> list[dict[str, Any]]:
        """Status of the Management Node(s): name, version, ... (the version kept for the
        schema lookups: :func:`~backup_agent.infinity.schema.note_version`)."""
        from backup_agent.infinity.schema import note_version

        managers = self.list_all(MANAGEMENT_VM_STATUS)
        note_version(self, managers)
        return managers

    def worker_vm_status(self) -> list[dict[str, Any]]:
        """Status of every Conferencing Node."""
        return self.list_all(WORKER_VM_STATUS)

    def worker_vm_config(self) -> list[dict[str, Any]]:
        """The node definitions of every Conferencing Node."""
        return self.list_all(WORKER_VM_CONFIG)

    def alarms(self) -> list[dict[str, Any]]:
        """Every active alarm."""
        return self.list_all(ALARM)

    def optional_list(self, resource: str, params: dict[str, Any] | None = None
                      ) -> list[dict[str, Any]] | None:
        """Every object of a list resource some releases lack; None when this node has none."""
        probe = self.transport.request("GET", resource, params={**(params or {}), "limit": 1},
                                       expect=(200, 404))
        if probe.status_code == 404:
            return None
        return self.list_all(resource, params)

    def alarm_history(self, since: str | None = None) -> list[dict[str, Any]] | None:
        """Lowered alarms (``history/v1/alarm/``, with ``time_lowered``), raised since ``since``."""
        return self.optional_list(ALARM_HISTORY, {"time_raised__gte": since} if since else None)

    def worker_vm_events(self, since: str | None = None) -> list[dict[str, Any]] | None:
        """Node state changes (``history/v1/workervm_status_event/``); None where the release
        has none."""
        return self.optional_list(WORKER_VM_EVENTS, {"time_changed__gte": since} if since else None)

    def licences(self) -> list[dict[str, Any]]:
        """The installed licences (entitlement, fulfillment, expiry, status)."""
        return self.list_all(LICENCE)

    def licensing(self) -> dict[str, Any] | None:
        """``status/v1/licensing/``: a singleton answered as a list of one."""
        rows = self.list_all(LICENSING_STATUS)
        return rows[0] if rows else None

    def autobackup(self) -> dict[str, Any]:
        """The built-in automatic backup settings (the singleton ``autobackup/1/``)."""
        answer = self.get(f"{AUTOBACKUP}1/")
        if not isinstance(answer, dict):
            raise ApiError(f"deployment {self.deployment.name}: {AUTOBACKUP}1/ is not an object")
        return answer

    def create_conference(self, obj: dict[str, Any]) -> int:
        """Create a conference; its id."""
        return self.create(CONFERENCE, obj)

    def create_alias(self, obj: dict[str, Any]) -> int:
        """Create a conference alias (``conference`` is the conference's resource URI); its id."""
        return self.create(CONFERENCE_ALIAS, obj)

    def create_participant(self, obj: dict[str, Any]) -> int:
        """Create an automatic participant (``conference`` a list of conference URIs); its id."""
        return self.create(AUTOMATIC_PARTICIPANT, obj)

    def worker_vm(self, name: str) -> dict[str, Any] | None:
        """The node definition of the Conferencing Node called ``name``, if there is one."""
        return next((n for n in self.worker_vm_config() if n.get("name") == name), None)

    def delete_worker_vm(self, worker_id: int | str) -> None:
        """Delete a Conferencing Node's definition (before it is defined again, redeployed)."""
        self.delete(WORKER_VM_CONFIG, worker_id)

    def create_deployment_file(self, node: dict[str, Any]) -> tuple[int, bytes]:
        """Define a Conferencing Node as ``MANUAL-PROVISION-ONLY``; its id and deployment file.

        The Management Node answers such a POST with the node's configuration-only deployment
        file (XML) as the body, beside the usual ``Location`` of the new definition.
        """
        body = {**node, "deployment_type": "MANUAL-PROVISION-ONLY"}
        resp = self.transport.request("POST", WORKER_VM_CONFIG, json=body, expect=(201,))
        match = _ID_IN_PATH.search(resp.headers.get("Location", "").split("?", 1)[0])
        if not match:
            raise ApiError(f"deployment {self.deployment.name}: defining node {node.get('name')} "
                           "answered 201 without a usable Location header")
        if not resp.content.lstrip().startswith(b"<"):
            raise ApiError(f"deployment {self.deployment.name}: defining node {node.get('name')} "
                           "as MANUAL-PROVISION-ONLY answered no XML deployment file")
        return int(match.group(1)), resp.content

    def delete_conference(self, conference_id: int | str) -> None:
        """Delete a conference (its aliases go with it on the Management Node)."""
        self.delete(CONFERENCE, conference_id)

    # -- config backups --------------------------------------------------------------------
    def create_backup(self, passphrase: str, *, background: bool = False, timeout: float = 900.0,
                      poll_interval: float = 2.0) -> BackupHandle:
        """Start a config backup; see :func:`backup_agent.infinity.backups.create_backup`."""
        return backups.create_backup(self.transport, passphrase, background=background,
                                     timeout=timeout, poll_interval=poll_interval)

    def find_new_backup(self, handle: BackupHandle, *, timeout: float = 900.0,
                        poll_interval: float = 2.0) -> BackupInfo:
        """The backup ``handle`` created, once the listing shows it."""
        return backups.find_new_backup(self.transport, handle, timeout=timeout,
                                       poll_interval=poll_interval)

    def list_backups(self) -> list[BackupInfo]:
        """Every config backup held by the Management Node."""
        return backups.list_backups(self.transport, self.deployment.page_size)

    def download_backup(self, info: BackupInfo, sink: RestartableSink,
                        progress: Progress | None = None) -> tuple[int, str]:
        """Stream and verify a backup into ``sink`` (restarted on a retry); ``(size, sha256)``."""
        return backups.download_backup(self.transport, info, sink, progress)

    def restore_backup(self, package: Package, passphrase: str) -> Any:
        """Upload a backup (read from its stream) to ``backup_restore``."""
        return backups.restore_backup(self.transport, package, passphrase)

    def diagnostic_bundle(self, fileobj: BinaryIO, hours: int = 24) -> int:
        """Pexip's diagnostic bundle (what Pexip calls a "snapshot": logs for support, not a VM
        snapshot) of the last ``hours``, streamed into ``fileobj``; the number of bytes."""
        size = 0
        with self.transport.stream("POST", DIAGNOSTIC_BUNDLE, json={"limit": hours}) as resp:
            for chunk in resp.iter_content(1024 * 1024):
                fileobj.write(chunk)
                size += len(chunk)
        return size

    def delete_backup(self, filename: str) -> None:
        """Delete a config backup on the Management Node."""
        backups.delete_backup(self.transport, filename)
