"""Hyper-V checkpoints, made by PowerShell on the Hyper-V host over SSH (paramiko).

Settings (``[providers.NAME]`` with ``type = "hyperv"``):

- ``host`` (required), ``port`` (22), ``username`` (required).
- ``password`` (from ``password_env``/``password_file``), or ``key`` — the private key's text,
  from ``key_file = "/path/id_ed25519"`` (or ``key_env``) — with ``key_passphrase`` (from
  ``key_passphrase_env``/``_file``) when the key is encrypted.
- Host key: checked against ``known_hosts`` (a path, default ``~/.ssh/known_hosts``;
  ``known_hosts_file = PATH`` works too: the config loader passes the file's text, which is
  recognised as known_hosts lines rather than a path),
  or pinned with ``host_key_fingerprint = "SHA256:..."`` (as ``ssh-keygen -lf`` prints it).
  With a pinned fingerprint, known_hosts is not read. An unknown or mismatching host key is
  refused. ``trust_unknown_host_key = true`` accepts
  an unknown key (never a mismatching one) and logs a warning with its fingerprint.
- ``powershell``: the program run on the host (default ``powershell``, Windows PowerShell;
  ``pwsh`` for PowerShell 7).
- ``checkpoint_type``: ``Production`` (default), ``ProductionOnly`` or ``Standard``; the
  create option of the same name overrides it per snapshot. The VM's own setting is changed
  with ``Set-VM -CheckpointType`` for the checkpoint and put back afterwards.
- ``timeout`` (seconds a call may take, all its PowerShell runs together), ``connect_timeout``
  (15).

The host needs OpenSSH Server (any default shell: the command line holds only the program
name, fixed switches and base64) and the Hyper-V PowerShell module; the user must be allowed to
manage Hyper-V (member of "Hyper-V Administrators" or Administrators).

The VM is a VM name (exact match, not a wildcard) or a VM Id (GUID); two VMs of one name are
refused (:class:`AmbiguousVM`). A snapshot's id is the checkpoint's Id (GUID).

Tags: Hyper-V checkpoints have no tags and the Hyper-V cmdlets cannot set a checkpoint's
notes, so tags travel in the checkpoint's name: ``<name> [ba:<key>=<value>&...]``, keys and
values percent-encoded (URL query form, sorted by key). A checkpoint whose name has no such
suffix has no tags. The description is not stored (there is nowhere to put it) and comes
back empty. ``wait=False`` is not supported by this provider: every call waits.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import re
import select
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import paramiko

from providers import hyperv_ps as ps
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

log = logging.getLogger(__name__)

CHECKPOINT_TYPES = ("Production", "ProductionOnly", "Standard")
PUT_BACK_TIMEOUT = 60.0
SETTINGS = frozenset({
    "host", "port", "username", "password", "key", "key_passphrase", "known_hosts",
    "host_key_fingerprint", "trust_unknown_host_key", "powershell", "checkpoint_type",
    "timeout", "connect_timeout",
})
_TAGS = re.compile(r"^(.*) \[ba:([^\[\]]*)\]$", re.S)


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's SHA256 fingerprint of a public key, e.g. ``SHA256:abc...``."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def name_with_tags(name: str, tags: Mapping[str, str]) -> str:
    """The checkpoint name carrying ``tags`` (see the module docstring)."""
    if not tags:
        return name
    return f"{name} [ba:{urlencode(sorted(tags.items()), quote_via=quote, safe='')}]"


def split_name(full_name: str) -> tuple[str, dict[str, str]]:
    """A checkpoint name split into the name given at creation and its tags."""
    m = _TAGS.match(full_name)
    if not m:
        return full_name, {}
    try:
        return m.group(1), dict(parse_qsl(m.group(2), keep_blank_values=True, strict_parsing=True))
    except ValueError:
        return full_name, {}


def _add_host_keys(keys: paramiko.HostKeys, text: str) -> None:
    """Add the entries of known_hosts ``text`` (comments and unreadable lines skipped)."""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            entry = paramiko.hostkeys.HostKeyEntry.from_line(line)
        except (paramiko.SSHException, ValueError):
            entry = None
        if entry is not None and entry.key is not None:
            for name in entry.hostnames:
                keys.add(name, entry.key.get_name(), entry.key)


class _HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """Decides on a host key that is not in the loaded known_hosts (or any key, when pinned)."""

    def __init__(self, pinned: str | None, trust_unknown: bool) -> None:
        self.pinned = pinned
        self.trust_unknown = trust_unknown

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        seen = fingerprint(key)
        if self.pinned is not None:
            if seen != self.pinned:
                raise Unreachable(f"hyperv: host key of {hostname} is {seen}, not the pinned "
                                  f"{self.pinned}; refusing to connect")
            return
        if not self.trust_unknown:
            raise Unreachable(f"hyperv: host key of {hostname} ({key.get_name()} {seen}) is not in "
                              "known_hosts; refusing to connect (add it, or pin host_key_fingerprint)")
        log.warning("hyperv: trusting unknown host key %s %s of %s (trust_unknown_host_key = true)",
                    key.get_name(), seen, hostname)


class HyperVProvider(SnapshotProvider):
    """Checkpoints of Hyper-V VMs through ``Checkpoint-VM`` and friends, over SSH."""

    type_name = "hyperv"
    settings_keys = SETTINGS
    options = frozenset({"checkpoint_type"})

    def __init__(self, settings: Mapping[str, Any]) -> None:
        super().__init__(settings)
        s = self.settings
        unknown = sorted(set(s) - SETTINGS)
        if unknown:
            raise ProviderConfigError(f"hyperv: unknown setting(s) {', '.join(unknown)} "
                                      f"(known: {', '.join(sorted(SETTINGS))})")
        for required in ("host", "username"):
            if not s.get(required):
                raise ProviderConfigError(f"hyperv: missing setting {required!r}")
        if not (s.get("password") or s.get("key")):
            raise ProviderConfigError("hyperv: set password_env/password_file or key_file/key_env")
        self.host = str(s["host"])
        self.port = int(s.get("port", 22))
        self.powershell = str(s.get("powershell", "powershell"))
        self.connect_timeout = float(s.get("connect_timeout", 15.0))
        self.default_type = self._checkpoint_type(s.get("checkpoint_type", "Production"))
        pinned = s.get("host_key_fingerprint")
        if pinned is not None and not str(pinned).startswith("SHA256:"):
            raise ProviderConfigError("hyperv: host_key_fingerprint must look like 'SHA256:...'")
        self._pinned = str(pinned).rstrip("=") if pinned else None
        if not isinstance(s.get("trust_unknown_host_key", False), bool):
            raise ProviderConfigError("hyperv: trust_unknown_host_key must be true or false")
        # snapshots.take calls one provider from several threads: each call borrows an idle
        # connection or opens one (one SSH session per connection: sshd's MaxSessions stays
        # out of the way); close() ends every connection ever opened, idle or lent out.
        self._lock = threading.Lock()
        self._idle: list[paramiko.SSHClient] = []
        self._open: set[paramiko.SSHClient] = set()

    # -- connection ------------------------------------------------------------------

    @staticmethod
    def _checkpoint_type(value: Any) -> str:
        for known in CHECKPOINT_TYPES:
            if str(value).lower() == known.lower():
                return known
        raise UnsupportedOption(f"hyperv: checkpoint_type {value!r} is not one of "
                                f"{', '.join(CHECKPOINT_TYPES)}")

    def _private_key(self) -> paramiko.PKey | None:
        text = self.settings.get("key")
        if not text:
            return None
        passphrase = self.settings.get("key_passphrase") or None
        for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
            try:
                return cls.from_private_key(io.StringIO(str(text)), password=passphrase)
            except paramiko.PasswordRequiredException as exc:
                raise ProviderConfigError("hyperv: the private key is encrypted; set key_passphrase") from exc
            except (paramiko.SSHException, ValueError):
                continue
        raise ProviderConfigError("hyperv: cannot read the private key (OpenSSH or PEM; wrong passphrase?)")

    def _connect(self) -> paramiko.SSHClient:
        """An idle live connection, else a new one; give it back with :meth:`_release`."""
        with self._lock:
            while self._idle:
                client = self._idle.pop()
                if (t := client.get_transport()) is not None and t.is_active():
                    return client
                self._open.discard(client)
                client.close()
        client = paramiko.SSHClient()
        if self._pinned is None:
            known = str(self.settings.get("known_hosts", "~/.ssh/known_hosts"))
            if "\n" in known or " " in known.strip():  # known_hosts_file: the file's text, not a path
                _add_host_keys(client.get_host_keys(), known)
            elif (path := Path(known).expanduser()).is_file():
                client.load_host_keys(str(path))  # not load_system_host_keys: only what was configured
        trust = self.settings.get("trust_unknown_host_key") is True
        client.set_missing_host_key_policy(_HostKeyPolicy(self._pinned, trust))
        where = f"{self.host}:{self.port}"
        try:
            client.connect(self.host, self.port, username=str(self.settings["username"]),
                           password=self.settings.get("password") or None, pkey=self._private_key(),
                           timeout=self.connect_timeout, banner_timeout=self.connect_timeout,
                           auth_timeout=self.connect_timeout, allow_agent=False, look_for_keys=False)
        except Unreachable:
            client.close()
            raise
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise Unreachable(f"hyperv: host key of {where} is {fingerprint(exc.key)}, but known_hosts has "
                              f"{fingerprint(exc.expected_key)}; refusing to connect") from exc
        except paramiko.AuthenticationException as exc:
            client.close()
            raise AuthFailed(f"hyperv: {where} refused the credentials of user "
                             f"{self.settings['username']!r}") from exc
        except (OSError, paramiko.SSHException, EOFError) as exc:
            client.close()
            raise Unreachable(f"hyperv: cannot reach SSH on {where}: "
                              f"{exc.__class__.__name__}: {exc}") from exc
        with self._lock:
            self._open.add(client)
        return client

    def _release(self, client: paramiko.SSHClient, healthy: bool = True) -> None:
        with self._lock:
            if healthy and client in self._open:
                self._idle.append(client)
                return
            self._open.discard(client)
        client.close()

    def close(self) -> None:
        """Close every SSH connection; safe to call twice."""
        with self._lock:
            clients, self._open, self._idle = list(self._open), set(), []
        for client in clients:
            client.close()

    def _exec(self, client: paramiko.SSHClient, command: str, what: str,
              limit: float) -> tuple[int, bytearray, bytearray]:
        """Run ``command`` in a new session of ``client``: (exit status, stdout, stderr)."""
        transport = client.get_transport()
        if transport is None:
            raise Unreachable(f"hyperv: SSH connection to {self.host}:{self.port} closed")
        try:
            chan = transport.open_session(timeout=self.connect_timeout)
            # bandit B601: ``command`` is run_script's: powershell, fixed switches and the
            # script base64-encoded (-EncodedCommand); no value reaches the shell as text
            chan.exec_command(command)  # nosec B601
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise Unreachable(f"hyperv: {what}: SSH session to {self.host} failed: {exc}") from exc
        out, err = bytearray(), bytearray()
        deadline = time.monotonic() + limit
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ProviderTimeout(f"hyperv: {what} did not finish within {limit:.3g} s")
                select.select([chan], [], [], min(remaining, 0.5))
                while chan.recv_ready():
                    out += chan.recv(65536)
                while chan.recv_stderr_ready():
                    err += chan.recv_stderr(65536)
                if chan.exit_status_ready() and (chan.eof_received or chan.closed) \
                        and not chan.recv_ready() and not chan.recv_stderr_ready():
                    break
            status = chan.recv_exit_status()
        except (OSError, paramiko.SSHException) as exc:
            raise Unreachable(f"hyperv: {what}: SSH connection to {self.host} lost: {exc}") from exc
        finally:
            chan.close()
        return status, out, err

    def run_script(self, script: str, what: str, timeout: float | None = None) -> str:
        """Run one PowerShell script on the host and return its stdout; typed errors otherwise."""
        limit = self.timeout if timeout is None else timeout
        if limit <= 0:
            raise ProviderTimeout(f"hyperv: no time left for {what}")
        command = ps.encode_command(self.powershell, script)
        client = self._connect()
        healthy = False
        try:
            status, out, err = self._exec(client, command, what, limit)
            healthy = True
        except ProviderTimeout:
            healthy = True  # the channel is closed; the connection itself still answers
            raise
        finally:
            self._release(client, healthy)
        if status != 0:
            raise ps.map_error(status, err.decode("utf-8", "replace"), what)
        return out.decode("utf-8", "replace")

    # -- helpers ----------------------------------------------------------------------

    def _resolve_vm(self, vm: str, timeout: float | None = None) -> dict[str, Any]:
        found = ps.parse_json_list(self.run_script(ps.find_vms(vm), f"finding VM {vm!r}", timeout))
        return self._one_vm(vm, found)

    def _one_vm(self, vm: str, found: list[dict[str, Any]]) -> dict[str, Any]:
        if not found:
            raise NotFound(f"hyperv: no VM named {vm!r} on {self.host}")
        if len(found) > 1:
            ids = ", ".join(ps.as_text(v.get("Id")) for v in found)
            raise AmbiguousVM(f"hyperv: {len(found)} VMs are named {vm!r} on {self.host} ({ids}); "
                              "use the VM Id")
        return found[0]

    def _ref(self, raw: Mapping[str, Any]) -> SnapshotRef:
        full_name = str(raw.get("Name") or "")
        name, tags = split_name(full_name)
        return SnapshotRef(
            id=ps.as_text(raw.get("Id")).lower(),
            vm=str(raw.get("VMName") or ""),
            name=name,
            created=ps.parse_time(raw.get("CreationTime")),
            state=SnapshotState.AVAILABLE,  # a checkpoint Get-VMSnapshot shows is complete
            tags=tags,
            extra={
                "vm_id": ps.as_text(raw.get("VMId")).lower(),
                "checkpoint_name": full_name,
                "snapshot_type": ps.as_text(raw.get("SnapshotType")),
                "parent_id": ps.as_text(raw.get("ParentSnapshotId")).lower(),
            },
        )

    @staticmethod
    def _check_id(snapshot_id: str) -> str:
        if not ps.is_guid(snapshot_id):
            raise NotFound(f"hyperv: {snapshot_id!r} is not a Hyper-V checkpoint id (a GUID)")
        return snapshot_id.lower()

    # -- the contract -----------------------------------------------------------------

    def create(self, vm: str, name: str, description: str = "", tags: Mapping[str, str] | None = None,
               options: Mapping[str, Any] | None = None, *, wait: bool = True,
               timeout: float | None = None) -> SnapshotRef:
        """Checkpoint ``vm`` with the requested checkpoint type; the VM's own type is put back."""
        opts = self.check_options(options)
        wanted = self._checkpoint_type(opts.get("checkpoint_type", self.default_type))
        end = time.monotonic() + (self.timeout if timeout is None else timeout)

        def left() -> float:
            return end - time.monotonic()

        info = self._resolve_vm(vm, left())
        vm_id = ps.as_text(info.get("Id"))
        previous = ps.checkpoint_type_name(info.get("CheckpointType"))
        if previous.lower() == "disabled":
            raise UnsupportedOption(f"hyperv: checkpoints are disabled on VM {vm!r} "
                                    "(CheckpointType Disabled)")
        full_name = name_with_tags(name, dict(tags or {}))
        change = previous.lower() != wanted.lower()
        script = ps.checkpoint(vm_id, full_name, wanted if change else None, previous if change else None)
        try:
            made = ps.parse_json_list(self.run_script(script, f"checkpoint of VM {vm!r}", left()))
        except ProviderTimeout as exc:
            if change:
                self._put_back_type(vm, vm_id, previous)
            raise ProviderTimeout(f"{exc}; the checkpoint {full_name!r} may still appear on VM {vm!r}: "
                                  "check the list and remove it") from exc
        except ProviderError:
            if change:  # the script stopped before its own put-back line
                self._put_back_type(vm, vm_id, previous)
            raise
        if len(made) != 1:
            raise TaskFailed(f"hyperv: Checkpoint-VM returned {len(made)} checkpoints for {full_name!r} "
                             f"on VM {vm!r}; check the list")
        return self._ref(made[0])

    def _put_back_type(self, vm: str, vm_id: str, previous: str) -> None:
        try:  # a budget of its own: it must run even when the checkpoint used up the call's time
            self.run_script(ps.set_checkpoint_type(vm_id, previous),
                            f"restoring checkpoint type of {vm!r}", min(self.timeout, PUT_BACK_TIMEOUT))
        except Exception as exc:  # the checkpoint's own outcome matters more; say what is left
            log.warning("hyperv: could not put checkpoint type of VM %r back to %s: %s", vm, previous, exc)

    def list(self, vm: str | None = None, tags: Mapping[str, str] | None = None) -> list[SnapshotRef]:
        """Checkpoints of ``vm`` (all VMs when None) carrying every tag in ``tags``."""
        out = self.run_script(ps.list_snapshots(vm), "listing checkpoints")
        if vm is None:
            raw = ps.parse_json_list(out)
        else:
            sections = ps.split_sections(out)
            if len(sections) != 2:
                raise TaskFailed(f"hyperv: listing checkpoints of {vm!r}: unexpected answer {out[:120]!r}")
            vms_part, snaps_part = sections
            self._one_vm(vm, ps.parse_json_list(vms_part))
            raw = ps.parse_json_list(snaps_part)
        refs = [self._ref(r) for r in raw]
        want = dict(tags or {})
        return [r for r in refs if all(r.tags.get(k) == v for k, v in want.items())]

    def get(self, snapshot_id: str) -> SnapshotRef:
        """The checkpoint with this Id; :class:`NotFound` when it is gone."""
        sid = self._check_id(snapshot_id)
        found = ps.parse_json_list(self.run_script(ps.get_snapshot(sid), f"reading checkpoint {sid}"))
        if not found:
            raise NotFound(f"hyperv: no checkpoint with id {sid} on {self.host}")
        return self._ref(found[0])

    def delete(self, snapshot_id: str, *, wait: bool = True, timeout: float | None = None) -> None:
        """Remove the checkpoint (Hyper-V merges its disks into its child or the VM)."""
        sid = self._check_id(snapshot_id)
        self.run_script(ps.remove_snapshot(sid), f"removing checkpoint {sid}", timeout)

    def revert(self, snapshot_id: str, *, wait: bool = True, timeout: float | None = None) -> None:
        """Apply the checkpoint to its VM (``Restore-VMSnapshot``)."""
        sid = self._check_id(snapshot_id)
        self.run_script(ps.restore_snapshot(sid), f"restoring checkpoint {sid}", timeout)
