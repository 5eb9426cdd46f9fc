"""The PowerShell side of the Hyper-V provider: quoting, the scripts it sends, reading answers.

Everything that reaches PowerShell is a script of plain lines, encoded for
``powershell -EncodedCommand`` (base64 of UTF-16LE), so no shell on the host (cmd.exe on
Windows OpenSSH) ever re-parses it. Values enter scripts only as single-quoted literals built by
:func:`literal`; variables are never interpolated. Scripts are kept to straight lines of
``[$var =] Cmdlet -Param value | Cmdlet ...`` so that they are easy to read in a host's
transcript (and for the test peer to parse).
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from providers.base import (
    AuthFailed,
    InUse,
    NotFound,
    ProviderConfigError,
    ProviderTimeout,
    TaskFailed,
)

#: PowerShell ends a single-quoted string at any of these, so each is doubled inside one.
_SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"
ERROR_MARK = "backup-agent-error|"

# Progress records would otherwise arrive on stderr as CLIXML when stdout is not a console;
# redirected output is in the OEM code page unless switched to UTF-8 (without a BOM); the trap
# turns every terminating error into one parseable line: category|error id|message.
PRELUDE = (
    "$ErrorActionPreference = 'Stop'\n"
    "$ProgressPreference = 'SilentlyContinue'\n"
    "[Console]::OutputEncoding = [System.Text.UTF8Encoding]::new($false)\n"
    f"trap {{ [Console]::Error.WriteLine('{ERROR_MARK}' + $_.CategoryInfo.Category + '|' + "
    "$_.FullyQualifiedErrorId + '|' + ($_.Exception.Message -replace '\\s+', ' ')); exit 1 }\n"
)

SNAPSHOT_FIELDS = "Id, Name, VMName, VMId, CreationTime, SnapshotType, ParentSnapshotId"
VM_FIELDS = "Name, Id, CheckpointType, State"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


def literal(value: str) -> str:
    """``value`` as a PowerShell single-quoted string literal: nothing inside is expanded."""
    out = "".join(ch + ch if ch in _SINGLE_QUOTES else ch for ch in value)
    return f"'{out}'"


def is_guid(value: str) -> bool:
    """Whether ``value`` is written like a Hyper-V Id (a GUID)."""
    return bool(_GUID.match(value))


def encode_command(executable: str, script: str) -> str:
    """The command line for the host's shell: only the executable name and base64 in it."""
    if not re.fullmatch(r"[A-Za-z0-9_.:\\/-]+", executable):
        raise ProviderConfigError(f"hyperv: powershell {executable!r} must be a plain program name or path")
    encoded = base64.b64encode((PRELUDE + script).encode("utf-16-le")).decode("ascii")
    return f"{executable} -NoProfile -NonInteractive -EncodedCommand {encoded}"


SECTION = "--"  # a line between two answers of one script; compressed JSON is never this


def _vm_filter(vm: str) -> str:
    # Where-Object -EQ rather than Get-VM -Name: the latter treats * ? [ in a name as wildcards.
    prop = "Id" if is_guid(vm) else "Name"
    return f"Get-VM | Where-Object -Property {prop} -EQ -Value {literal(vm)}"


def find_vms(vm: str) -> str:
    """Script printing the VMs whose name (or Id, for a GUID) equals ``vm`` exactly."""
    return f"{_vm_filter(vm)} | Select-Object -Property {VM_FIELDS} | ConvertTo-Json -Compress\n"


def set_checkpoint_type(vm_id: str, checkpoint_type: str) -> str:
    """Script setting the VM's checkpoint type (Production, ProductionOnly, Standard)."""
    return (f"$vm = Get-VM -Id {literal(vm_id)}\n"
            f"Set-VM -VM $vm -CheckpointType {literal(checkpoint_type)}\n")


def checkpoint(vm_id: str, full_name: str, checkpoint_type: str | None = None,
               previous_type: str | None = None) -> str:
    """Script making a checkpoint (of ``checkpoint_type``, then back to ``previous_type``) and printing it.

    One script, as each run pays for PowerShell and the Hyper-V module starting; when it fails
    half-way the caller puts the type back itself.
    """
    lines = [f"$vm = Get-VM -Id {literal(vm_id)}"]
    if checkpoint_type is not None:
        lines.append(f"Set-VM -VM $vm -CheckpointType {literal(checkpoint_type)}")
    lines.append(f"$snapshot = Checkpoint-VM -VM $vm -SnapshotName {literal(full_name)} -Passthru")
    if previous_type is not None:
        lines.append(f"Set-VM -VM $vm -CheckpointType {literal(previous_type)}")
    lines.append(f"$snapshot | Select-Object -Property {SNAPSHOT_FIELDS} | ConvertTo-Json -Compress")
    return "\n".join(lines) + "\n"


def list_snapshots(vm: str | None) -> str:
    """Script printing the checkpoints of all VMs, or the matching VMs, a section line, their checkpoints.

    ``@(...)`` so that no VM pipes nothing (a bare ``$null`` would be piped as one item).
    """
    if vm is None:
        return (f"Get-VM | Get-VMSnapshot | Select-Object -Property {SNAPSHOT_FIELDS} | "
                "ConvertTo-Json -Compress\n")
    return (f"$vms = @({_vm_filter(vm)})\n"
            f"$vms | Select-Object -Property {VM_FIELDS} | ConvertTo-Json -Compress\n"
            f"{literal(SECTION)}\n"
            f"$vms | Get-VMSnapshot | Select-Object -Property {SNAPSHOT_FIELDS} | ConvertTo-Json -Compress\n")


def split_sections(stdout: str) -> list[str]:
    """The answers of a script that printed :data:`SECTION` lines between them."""
    parts: list[list[str]] = [[]]
    for line in stdout.lstrip("\ufeff").splitlines():
        if line.strip() == SECTION:
            parts.append([])
        else:
            parts[-1].append(line)
    return ["\n".join(p) for p in parts]


def get_snapshot(snapshot_id: str) -> str:
    """Script printing one checkpoint by Id."""
    return (f"Get-VMSnapshot -Id {literal(snapshot_id)} | "
            f"Select-Object -Property {SNAPSHOT_FIELDS} | ConvertTo-Json -Compress\n")


def restore_snapshot(snapshot_id: str) -> str:
    """Script applying a checkpoint to its VM without a confirmation prompt."""
    return (f"$snapshot = Get-VMSnapshot -Id {literal(snapshot_id)}\n"
            "Restore-VMSnapshot -VMSnapshot $snapshot -Confirm:$false\n")


def remove_snapshot(snapshot_id: str) -> str:
    """Script removing one checkpoint (its children stay, merged by Hyper-V)."""
    return (f"$snapshot = Get-VMSnapshot -Id {literal(snapshot_id)}\n"
            "Remove-VMSnapshot -VMSnapshot $snapshot -Confirm:$false\n")


def parse_json_list(stdout: str) -> list[dict[str, Any]]:
    """ConvertTo-Json output as a list: nothing for no object, one object is not wrapped."""
    text = stdout.lstrip("\ufeff").strip()
    if not text:
        return []
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise TaskFailed(f"hyperv: PowerShell answered something that is not JSON: {text[:120]!r}") from exc
    items = data if isinstance(data, list) else [data]
    if not all(isinstance(i, dict) for i in items):
        raise TaskFailed(f"hyperv: PowerShell answered unexpected JSON: {text[:120]!r}")
    return items


#: Microsoft.HyperV.PowerShell.CheckpointType as numbers (5.1's ConvertTo-Json writes enums so).
CHECKPOINT_TYPE_NUMBERS = {2: "Disabled", 3: "Production", 4: "ProductionOnly", 5: "Standard"}


def checkpoint_type_name(value: Any) -> str:
    """A VM's CheckpointType as its name, whether PowerShell wrote it as a number or a name."""
    text = as_text(value)
    return CHECKPOINT_TYPE_NUMBERS.get(int(text), text) if text.isdigit() else text


def as_text(value: Any) -> str:
    """A Guid or enum as text: Windows PowerShell 5.1 may serialise a Guid as ``{"Guid": ...}``."""
    if isinstance(value, Mapping):
        value = value.get("Guid", value.get("value", ""))
    return "" if value is None else str(value)


def parse_time(value: Any) -> datetime:
    """CreationTime as 5.1 writes it (``/Date(ms)/``) or as PowerShell 7 does (ISO 8601)."""
    if isinstance(value, Mapping):  # 5.1 sometimes adds {"value": ..., "DateTime": ...}
        value = value.get("value", value.get("DateTime"))
    text = str(value or "")
    m = re.fullmatch(r"\\?/Date\((-?\d+)([+-]\d{4})?\)\\?/", text)
    if m:
        return datetime.fromtimestamp(int(m.group(1)) / 1000, tz=UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise TaskFailed(f"hyperv: cannot read checkpoint time {text[:40]!r}") from exc
    # A time without offset is the host's local time; UTC is the best guess without it.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _clixml_text(stderr: str) -> str:
    """The error text inside a ``#< CLIXML`` stream, or ``stderr`` unchanged."""
    if "#< CLIXML" not in stderr:
        return stderr
    parts = re.findall(r'<S S="Error">(.*?)</S>', stderr, flags=re.S)
    return html.unescape("".join(parts).replace("_x000D_", "").replace("_x000A_", "\n"))


def map_error(exit_code: int, stderr: str, what: str) -> Exception:
    """A typed error for a failed PowerShell run; ``what`` says what was being done."""
    text = _clixml_text(stderr)
    m = re.search(re.escape(ERROR_MARK) + r"([^|\n]*)\|([^|\n]*)\|([^\n]*)", text)
    if m is None:
        first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "no error text")
        if exit_code == 127 or "not found" in first or "is not recognized" in first:
            return ProviderConfigError(f"hyperv: {what}: PowerShell could not be started on the host "
                                       f"({first[:200]}); check the 'powershell' setting")
        return TaskFailed(f"hyperv: {what} failed (exit {exit_code}): {first[:300]}")
    category, error_id, message = (g.strip() for g in m.groups())
    detail = f"hyperv: {what}: {message[:300]}"
    if "CommandNotFoundException" in error_id:
        return TaskFailed(f"{detail} (is the Hyper-V PowerShell module installed on the host?)")
    if category == "ObjectNotFound":
        return NotFound(detail)
    if category in ("PermissionDenied", "SecurityError", "AuthenticationError"):
        return AuthFailed(f"{detail} (the user needs to be in 'Hyper-V Administrators')")
    if category == "OperationTimeout":
        return ProviderTimeout(detail)
    if category == "ResourceBusy":  # e.g. a backup or another checkpoint operation holds the VM
        return InUse(detail)
    return TaskFailed(f"{detail} [{category}]")
