"""Snapshots of a simulated deployment's VMs, through the simulator's hypervisor API.

Settings (``[providers.NAME]`` with ``type = "sim"``):

- ``url``: the simulator's base URL (``http://127.0.0.1:8080``), required;
- ``username`` (default ``admin``) and ``password`` (``password_env``/``password_file`` in
  agent.toml), the simulator's basic-auth credentials;
- ``timeout``: seconds for each call (default 1800).

VM ids are node names (``mgr01``, ``cn-osl-1``). A snapshot of the management VM captures the
configuration; reverting it restores that configuration. How long a snapshot takes is the
simulator's own setting (``backup-agent sim --snapshot-seconds``). No per-call options.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import quote

import requests

from providers.base import (
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
)
from providers.retry import Poll

log = logging.getLogger(__name__)
KNOWN_SETTINGS = {"type", "url", "username", "password", "timeout"}


class SimProvider(SnapshotProvider):
    """VM snapshots of the bundled simulator."""

    type_name: ClassVar[str] = "sim"
    settings_keys: ClassVar[frozenset[str] | None] = frozenset(KNOWN_SETTINGS - {"type"})
    #: How a snapshot being made is waited for (providers/retry.py); tests may set their own.
    poll: ClassVar[Poll] = Poll(first=0.02, ceiling=0.5)

    def __init__(self, settings: Mapping[str, Any]) -> None:
        super().__init__(settings)
        unknown = sorted(set(self.settings) - KNOWN_SETTINGS)
        if unknown:
            raise ProviderConfigError(f"sim: unknown setting(s) {', '.join(unknown)} "
                                      f"(known: {', '.join(sorted(KNOWN_SETTINGS))})")
        url = self.settings.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ProviderConfigError("sim: 'url' must be the simulator's http(s) base URL")
        if not self.settings.get("password"):
            raise ProviderConfigError("sim: 'password' is required (password_env or password_file)")
        self.base = url.rstrip("/") + "/_sim/hypervisor/"
        self.session = requests.Session()
        self.session.auth = (str(self.settings.get("username", "admin")), str(self.settings["password"]))

    def _call(self, method: str, path: str, timeout: float | None = None, **kwargs: Any) -> Any:
        limit = timeout if timeout is not None else self.timeout
        try:
            response = self.session.request(method, self.base + path, timeout=limit, **kwargs)
        except requests.Timeout as exc:
            raise ProviderTimeout(f"sim: {method} {path} took longer than {limit:g} s") from exc
        except requests.RequestException as exc:
            raise Unreachable(f"sim: cannot reach the simulator at {self.base}: "
                              f"{type(exc).__name__}") from exc
        if response.status_code == 401:
            raise AuthFailed("sim: the simulator refused the username or password")
        if response.status_code == 404:
            raise NotFound(f"sim: {_message(response)}")
        if response.status_code >= 400:
            raise TaskFailed(f"sim: {method} {path} failed ({response.status_code}): {_message(response)}")
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise ProviderError("sim: the simulator answered something that is not JSON") from exc

    def create(self, vm: str, name: str, description: str = "", tags: Mapping[str, str] | None = None,
               options: Mapping[str, Any] | None = None, *, wait: bool = True,
               timeout: float | None = None) -> SnapshotRef:
        """Snapshot ``vm``: the simulator starts a task; with ``wait``, poll it until done.

        A snapshot that ends in error, or is still being made at the timeout, is deleted and
        the error names its id.
        """
        self.check_options(options)
        body = {"name": name, "description": description, "tags": dict(tags or {}), "wait": False}
        ref = _ref(self._call("POST", f"vms/{quote(vm, safe='')}/snapshots/", timeout, json=body))
        if not wait:
            return ref
        limit = timeout if timeout is not None else self.timeout
        for n, _ in enumerate(self.poll.looks(limit)):
            if n:  # the first look is at the answer to the create itself
                ref = self.get(ref.id)
            if ref.state is not SnapshotState.CREATING:
                break
        if ref.state is SnapshotState.CREATING:
            self._discard(ref.id)
            raise ProviderTimeout(f"sim: snapshot {ref.id} of {vm} not done after {limit:g} s; "
                                  "it was deleted")
        if ref.state is SnapshotState.ERROR:
            self._discard(ref.id)
            reason = ref.extra.get("message") or "no reason given"
            raise TaskFailed(f"sim: snapshot {ref.id} of {vm} failed ({reason}); it was deleted")
        return ref

    def _discard(self, snapshot_id: str) -> None:
        """Delete a half-made snapshot; if that fails too, the caller's error still names it."""
        try:
            self.delete(snapshot_id)
        except ProviderError:
            log.warning("sim: could not delete half-made snapshot %s", snapshot_id)

    def list(self, vm: str | None = None, tags: Mapping[str, str] | None = None) -> list[SnapshotRef]:
        """Snapshots of ``vm`` (all VMs when None) carrying every tag in ``tags``."""
        path = f"vms/{quote(vm, safe='')}/snapshots/" if vm is not None else "snapshots/"
        refs = [_ref(s) for s in self._call("GET", path)["snapshots"]]
        wanted = dict(tags or {})
        return [r for r in refs if all(r.tags.get(k) == v for k, v in wanted.items())]

    def get(self, snapshot_id: str) -> SnapshotRef:
        """The snapshot with this id; :class:`NotFound` when it is gone."""
        return _ref(self._call("GET", f"snapshots/{quote(snapshot_id, safe='')}/"))

    def delete(self, snapshot_id: str, *, wait: bool = True, timeout: float | None = None) -> None:
        """Remove the snapshot."""
        self._call("DELETE", f"snapshots/{quote(snapshot_id, safe='')}/", timeout)

    def revert(self, snapshot_id: str, *, wait: bool = True, timeout: float | None = None) -> None:
        """Bring the VM back to the snapshot (the management VM: its configuration too)."""
        self._call("POST", f"snapshots/{quote(snapshot_id, safe='')}/revert/", timeout)

    def close(self) -> None:
        """Release the HTTP session. Safe to call twice."""
        self.session.close()


def _message(response: requests.Response) -> str:
    try:
        return str(response.json().get("error", response.reason))
    except (ValueError, AttributeError):
        return str(response.reason)


def _ref(data: Any) -> SnapshotRef:
    try:
        return SnapshotRef(
            id=str(data["id"]), vm=str(data["vm"]), name=str(data.get("name", "")),
            created=datetime.fromisoformat(str(data["created"])),
            state=SnapshotState(data.get("state", "available")), tags=dict(data.get("tags") or {}),
            description=str(data.get("description", "")),
            extra={"version": data.get("version"), "role": data.get("role"),
                   "message": data.get("message") or ""})
    except (KeyError, TypeError, ValueError) as exc:
        raise ProviderError("sim: the simulator answered a malformed snapshot record") from exc
