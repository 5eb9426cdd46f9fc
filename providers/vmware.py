"""VMware vSphere snapshots (vCenter or a standalone ESXi host) through pyvmomi.

Settings (the ``[providers.NAME]`` table, ``type = "vmware"``):

``host`` (required)
    vCenter or ESXi host name or address.
``port``
    HTTPS port of the SDK endpoint, default 443.
``username``, ``password`` (required)
    A vSphere account allowed to snapshot the VMs (``password_env``/``password_file`` are
    resolved into ``password`` before the provider sees its settings).
``verify_tls``
    Verify the endpoint's certificate, default ``true``; only an explicit ``false`` turns it
    off (for a lab with a self-signed certificate). Prefer ``ca_bundle``.
``ca_bundle``
    PEM file of the CA(s) that signed the endpoint's certificate.
``datacenter``
    Look for VMs only in this datacenter (its name, or inventory path ``Folder/DC`` when it
    sits in a folder); default: the whole inventory.
``timeout``
    Seconds to wait for a vSphere task (default 1800). Each SOAP call on its own gives up
    after ``min(timeout, 120)`` seconds.

VMs are identified by name, BIOS UUID, instance UUID or vCenter MoRef (``vm-123``; a
standalone ESXi host's numeric MoRefs are not recognised: use the name or a UUID there).
Names are not unique in vSphere: when two VMs share the name,
:class:`~providers.base.AmbiguousVM` asks for the UUID or MoRef. A snapshot's id is its MoRef
(``snapshot-45``), never its name; ``get``/``delete``/``revert`` read it directly.

``memory``, ``quiesce``
    Defaults of the options of the same names below (``false`` unless set), so that
    ``memory = true`` or ``quiesce = true`` in agent.toml applies to every snapshot.

Options of :meth:`VMwareProvider.create`: ``memory`` (include the VM's memory, default false)
and ``quiesce`` (quiesce the guest file system through VMware Tools, default false).

vSphere snapshots carry no tags, so the tags travel in the snapshot's description as its
last line, a trailer of the form ``backup-agent-tags: {"key": "value", ...}`` (compact JSON,
keys sorted). :attr:`SnapshotRef.description` is the description without the trailer.
A :class:`SnapshotRef`'s ``vm`` is the VM's MoRef; ``extra`` holds ``vm_name``, ``quiesced``,
``power_state`` (the VM's at snapshot time) and ``parent`` (the parent snapshot's MoRef).

``create`` always waits: the snapshot's MoRef exists only once its task has finished. When
the wait times out, the task is cancelled if vSphere allows it; a snapshot that lands anyway
is removed, otherwise the timeout error names the task and the snapshot's name. vSphere has
no notion of a snapshot in use by another resource: ``delete`` never raises ``InUse``.
"""

from __future__ import annotations

import json
import re
import ssl
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import UTC
from typing import Any, ClassVar

from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim, vmodl

from providers.base import (
    AmbiguousVM,
    AuthFailed,
    NotFound,
    ProviderConfigError,
    ProviderError,
    ProviderTimeout,
    SnapshotProvider,
    SnapshotRef,
    SnapshotState,
    TaskFailed,
    Unreachable,
    UnsupportedOption,
)
from providers.retry import Poll

TAG_TRAILER = "backup-agent-tags: "
SETTINGS = frozenset({"type", "host", "port", "username", "password", "verify_tls", "ca_bundle",
                      "datacenter", "timeout", "memory", "quiesce"})
MOREF_RE = re.compile(r"^vm-\d+$")
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
MAX_CALL_SECONDS = 120.0
VM_PROPS = ["name", "config.uuid", "config.instanceUuid"]


def compose_description(description: str, tags: Mapping[str, str]) -> str:
    """The vSphere description: the user's text, then the tag trailer on its own line."""
    trailer = TAG_TRAILER + json.dumps(dict(tags), sort_keys=True, separators=(",", ":"))
    return f"{description}\n{trailer}" if description else trailer


def parse_description(text: str) -> tuple[str, dict[str, str]]:
    """Split a vSphere description into the user's text and the tags of its trailer."""
    head, _, last = (text or "").rpartition("\n")
    if not last.startswith(TAG_TRAILER):
        return text or "", {}
    try:
        tags = json.loads(last[len(TAG_TRAILER):])
    except ValueError:
        tags = None
    if not isinstance(tags, dict):
        return text, {}  # not our trailer after all: keep the text as it is
    return head, {str(k): str(v) for k, v in tags.items()}


def _reason(fault: Any) -> str:
    """A vSphere fault in a few words: its message, else its type."""
    return "unknown error" if fault is None else str(getattr(fault, "msg", "") or type(fault).__name__)


class VMwareProvider(SnapshotProvider):
    """Snapshots of vSphere VMs, one vCenter or ESXi endpoint per provider."""

    type_name = "vmware"
    settings_keys = SETTINGS - {"type"}
    options = frozenset({"memory", "quiesce"})
    #: How a vSphere task is waited for (providers/retry.py); tests may set their own.
    poll: ClassVar[Poll] = Poll(first=0.05, ceiling=2.0)

    def __init__(self, settings: Mapping[str, Any]) -> None:
        super().__init__(settings)
        unknown = sorted(set(self.settings) - SETTINGS)
        if unknown:
            raise ProviderConfigError(f"vmware: unknown setting(s) {', '.join(unknown)}")
        for key in ("host", "username", "password"):
            if not self.settings.get(key):
                raise ProviderConfigError(f"vmware: setting {key!r} is required")
        self.host = str(self.settings["host"])
        port = self.settings.get("port", 443)
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise ProviderConfigError(f"vmware: port must be a number from 1 to 65535, not {port!r}")
        self.port = port
        self.endpoint = f"{self.host}:{port}"
        verify = self.settings.get("verify_tls", True)
        if not isinstance(verify, bool):
            raise ProviderConfigError("vmware: verify_tls must be true or false")
        self.verify_tls = verify
        self.ca_bundle = self.settings.get("ca_bundle")
        self.datacenter = self.settings.get("datacenter")
        self.defaults = {k: self.settings[k] for k in self.options if k in self.settings}
        try:
            self._check_flags(self.defaults)
        except UnsupportedOption as exc:
            raise ProviderConfigError(str(exc).replace("option", "setting")) from exc
        self._si: Any = None
        self._service_content: Any = None
        self._lock = threading.Lock()

    # -- connection and error mapping ------------------------------------------------------

    def _content(self) -> Any:
        """The service content of a logged-in session, logging in (again) when needed."""
        with self._lock:
            if self._si is not None and not self._session_alive():
                self._si = None  # vCenter ends idle sessions (30 min by default): log in again
            if self._si is None:
                si = self._connect()
                with self._sdk_errors("read service content"):
                    self._service_content = si.RetrieveContent()
                self._si = si
            return self._service_content

    def _session_alive(self) -> bool:
        try:
            with self._sdk_errors("check session"):
                return self._service_content.sessionManager.currentSession is not None
        except AuthFailed:
            return False

    def _connect(self) -> Any:
        kwargs: dict[str, Any] = {}
        if not self.verify_tls:
            kwargs["disableSslCertValidation"] = True
        else:
            try:
                kwargs["sslContext"] = ssl.create_default_context(cafile=self.ca_bundle)
            except OSError as exc:
                raise ProviderConfigError(f"vmware: cannot read ca_bundle {self.ca_bundle}: "
                                          f"{exc.strerror}") from exc
        try:
            with self._sdk_errors("connect"):
                return SmartConnect(host=self.host, port=self.port, user=self.settings["username"],
                                    pwd=self.settings["password"],
                                    httpConnectionTimeout=min(self.timeout, MAX_CALL_SECONDS), **kwargs)
        except ProviderError:
            raise
        except Exception as exc:  # pyvmomi raises a bare Exception for "is not a VIM server"
            raise Unreachable(f"vmware {self.endpoint}: not a vSphere SDK endpoint (no VIM service "
                              f"answered: {type(exc).__name__}); check host and port") from exc

    @contextmanager
    def _sdk_errors(self, what: str) -> Iterator[None]:
        """Turn pyvmomi and socket errors into the contract's typed errors."""
        where = f"vmware {self.endpoint}"
        try:
            yield
        except ProviderError:
            raise
        except vim.fault.InvalidLogin as exc:
            raise AuthFailed(f"{where}: login refused for user {self.settings['username']!r}") from exc
        except vim.fault.NotAuthenticated as exc:
            raise AuthFailed(f"{where}: session not authenticated during {what}") from exc
        except vmodl.fault.ManagedObjectNotFound as exc:
            raise NotFound(f"{where}: {what}: object {getattr(exc.obj, '_moId', '?')} does not exist") \
                from exc
        except vmodl.MethodFault as exc:
            raise ProviderError(f"{where}: {what} failed: {_reason(exc)}") from exc
        except ssl.SSLCertVerificationError as exc:
            raise Unreachable(f"{where}: TLS certificate not trusted ({exc.verify_message}); put its "
                              "CA in ca_bundle, or set verify_tls = false for a lab only") from exc
        except TimeoutError as exc:
            raise ProviderTimeout(f"{where}: no answer to {what} within "
                                  f"{min(self.timeout, MAX_CALL_SECONDS):g}s") from exc
        except (OSError, ConnectionError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise Unreachable(f"{where}: cannot reach the SDK endpoint for {what}: {reason}") from exc

    def close(self) -> None:
        """Log out of vSphere. Safe to call twice."""
        with self._lock:
            si, self._si = self._si, None
        if si is not None:
            with suppress(Exception):  # a session that is already gone needs no logout
                Disconnect(si)

    # -- inventory ------------------------------------------------------------------------

    def _vms(self, props: list[str]) -> list[tuple[Any, dict[str, Any]]]:
        """Every VM under the datacenter (or the root folder) with the given properties."""
        content = self._content()
        root = content.rootFolder
        if self.datacenter:
            dc = content.searchIndex.FindByInventoryPath(self.datacenter)
            if not isinstance(dc, vim.Datacenter):
                raise NotFound(f"vmware {self.endpoint}: no datacenter {self.datacenter!r}")
            root = dc.vmFolder
        view = content.viewManager.CreateContainerView(root, [vim.VirtualMachine], True)
        try:
            spec = vmodl.query.PropertyCollector.FilterSpec(
                objectSet=[vmodl.query.PropertyCollector.ObjectSpec(
                    obj=view, skip=True, selectSet=[vmodl.query.PropertyCollector.TraversalSpec(
                        name="view", path="view", skip=False, type=vim.view.ContainerView)])],
                propSet=[vmodl.query.PropertyCollector.PropertySpec(type=vim.VirtualMachine,
                                                                    pathSet=props)])
            collector = content.propertyCollector
            result = collector.RetrievePropertiesEx([spec], vmodl.query.PropertyCollector.RetrieveOptions())
            found: list[tuple[Any, dict[str, Any]]] = []
            while result is not None:
                found += [(o.obj, {p.name: p.val for p in o.propSet}) for o in result.objects]
                result = collector.ContinueRetrievePropertiesEx(result.token) if result.token else None
            return found
        finally:
            view.DestroyView()

    def _find_vm(self, vm: str, props: list[str]) -> tuple[Any, dict[str, Any]]:
        """The one VM ``vm`` names (MoRef, UUID or name), with ``props``."""
        with self._sdk_errors(f"find VM {vm!r}"):
            vms = self._vms(sorted({*VM_PROPS, *props}))
        if MOREF_RE.match(vm):
            hits = [v for v in vms if v[0]._moId == vm]
        elif UUID_RE.match(vm):
            want = vm.lower()
            hits = [v for v in vms if want in (str(v[1].get("config.uuid", "")).lower(),
                                               str(v[1].get("config.instanceUuid", "")).lower())]
        else:
            hits = [v for v in vms if v[1].get("name") == vm]
        if not hits:
            scope = f" in datacenter {self.datacenter!r}" if self.datacenter else ""
            raise NotFound(f"vmware {self.endpoint}: no VM {vm!r}{scope}")
        if len(hits) > 1:
            ids = ", ".join(sorted(v[0]._moId for v in hits))
            raise AmbiguousVM(f"vmware {self.endpoint}: {len(hits)} VMs match {vm!r} ({ids}); "
                              "name the VM by its UUID or MoRef instead")
        return hits[0]

    # -- snapshot records ---------------------------------------------------------------

    @staticmethod
    def _walk(trees: Any, parent: str | None = None) -> Iterator[tuple[Any, str | None]]:
        for node in trees or []:
            yield node, parent
            yield from VMwareProvider._walk(node.childSnapshotList, node.snapshot._moId)

    @staticmethod
    def _ref(vm_obj: Any, vm_name: str, node: Any, parent: str | None) -> SnapshotRef:
        description, tags = parse_description(node.description)
        when = node.createTime
        created = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
        return SnapshotRef(
            id=node.snapshot._moId, vm=vm_obj._moId, name=node.name, created=created,
            state=SnapshotState.AVAILABLE, tags=tags, description=description,
            extra={"vm_name": vm_name, "quiesced": bool(node.quiesced),
                   "power_state": str(node.state), "parent": parent})

    def _refs(self, vm_obj: Any, vm_name: str, info: Any) -> list[SnapshotRef]:
        nodes = self._walk(info.rootSnapshotList if info is not None else [])
        return [self._ref(vm_obj, vm_name, node, parent) for node, parent in nodes]

    def _locate(self, snapshot_id: str) -> tuple[Any, SnapshotRef]:
        """The snapshot's managed object and record, read from its VM's snapshot tree."""
        self._content()  # connects when needed
        snap = vim.vm.Snapshot(snapshot_id, self._si._stub)
        with self._sdk_errors(f"read snapshot {snapshot_id}"):
            vm_obj = snap.vm
            name, info = vm_obj.name, vm_obj.snapshot
        for ref in self._refs(vm_obj, name, info):
            if ref.id == snapshot_id:
                return snap, ref
        raise NotFound(f"vmware {self.endpoint}: no snapshot {snapshot_id}")

    def _wait(self, task: Any, what: str, timeout: float) -> Any:
        """The task's result once it succeeds; TaskFailed or ProviderTimeout otherwise."""
        for _ in self.poll.looks(timeout):
            with self._sdk_errors(what):
                info = task.info
            if info.state == vim.TaskInfo.State.success:
                return info.result
            if info.state == vim.TaskInfo.State.error:
                raise TaskFailed(f"vmware {self.endpoint}: {what} failed (task {task._moId}): "
                                 f"{_reason(info.error)}")
        raise ProviderTimeout(f"vmware {self.endpoint}: {what} not done after {timeout:g}s "
                              f"(task {task._moId} still running)")

    # -- the contract ---------------------------------------------------------------------

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
        """Snapshot ``vm`` and return it once vSphere has made it (``wait=False`` is refused)."""
        opts = {**self.defaults, **self.check_options(options)}
        self._check_flags(opts)
        if not wait:
            raise UnsupportedOption("vmware: create must wait: the snapshot's id exists only "
                                    "once its vSphere task has finished")
        vm_obj, props = self._find_vm(vm, [])
        what = f"snapshot {name!r} of VM {props['name']!r} ({vm_obj._moId})"
        try:
            with self._sdk_errors(what):
                task = vm_obj.CreateSnapshot_Task(
                    name=name, description=compose_description(description, tags or {}),
                    memory=opts.get("memory", False), quiesce=opts.get("quiesce", False))
        except ProviderTimeout as exc:  # vCenter may still have started the task
            raise ProviderTimeout(f"{exc}; the snapshot may still be made: list shows it by name") \
                from exc.__cause__
        try:
            snap = self._wait(task, what, self.timeout if timeout is None else timeout)
        except ProviderTimeout as exc:
            raise self._abandon(task, exc) from exc
        return self._locate(snap._moId)[1]

    @staticmethod
    def _check_flags(opts: Mapping[str, Any]) -> None:
        for key in ("memory", "quiesce"):
            if not isinstance(opts.get(key, False), bool):
                raise UnsupportedOption(f"vmware: option {key} must be true or false")

    def _abandon(self, task: Any, timed_out: ProviderTimeout) -> ProviderTimeout:
        """Cancel a create that ran out of time; remove its snapshot if it landed meanwhile."""
        try:
            task.CancelTask()
            cancel = "cancel requested"
        except (vmodl.MethodFault, OSError):
            cancel = "the task cannot be cancelled"
        try:
            info = task.info
            if info.state == vim.TaskInfo.State.success and info.result is not None:
                self.delete(info.result._moId)
                return ProviderTimeout(f"{timed_out}; it finished as we gave up and snapshot "
                                       f"{info.result._moId} was removed")
        except ProviderError as exc:
            return ProviderTimeout(f"{timed_out}; its snapshot could not be checked or removed: {exc}")
        except (vmodl.MethodFault, OSError):
            pass
        return ProviderTimeout(f"{timed_out}; {cancel}: if it still completes, remove the snapshot "
                               "it leaves (list shows it by name)")

    def list(self, vm: str | None = None, tags: Mapping[str, str] | None = None) -> list[SnapshotRef]:
        """Snapshots of ``vm`` (or of every VM in scope) carrying every tag in ``tags``."""
        if vm is not None:
            found = [self._find_vm(vm, ["snapshot"])]
        else:
            with self._sdk_errors("list VMs"):
                found = self._vms([*VM_PROPS, "snapshot"])
        refs = [r for obj, p in found for r in self._refs(obj, p.get("name", ""), p.get("snapshot"))]
        want = dict(tags or {})
        return [r for r in refs if all(r.tags.get(k) == v for k, v in want.items())]

    def get(self, snapshot_id: str) -> SnapshotRef:
        """The snapshot with this MoRef; NotFound when it (or its VM) is gone."""
        return self._locate(snapshot_id)[1]

    def delete(self, snapshot_id: str, *, wait: bool = True, timeout: float | None = None) -> None:
        """Remove the snapshot (its children stay, consolidated into its parent)."""
        snap, ref = self._locate(snapshot_id)
        what = f"remove snapshot {snapshot_id} of VM {ref.vm}"
        with self._sdk_errors(what):
            task = snap.RemoveSnapshot_Task(removeChildren=False, consolidate=True)
        if wait:
            self._wait(task, what, self.timeout if timeout is None else timeout)

    def revert(self, snapshot_id: str, *, wait: bool = True, timeout: float | None = None) -> None:
        """Bring the snapshot's VM back to the snapshot."""
        snap, ref = self._locate(snapshot_id)
        what = f"revert VM {ref.vm} to snapshot {snapshot_id}"
        with self._sdk_errors(what):
            task = snap.RevertToSnapshot_Task()
        if wait:
            self._wait(task, what, self.timeout if timeout is None else timeout)
