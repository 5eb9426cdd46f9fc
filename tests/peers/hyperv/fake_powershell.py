"""A fake ``powershell`` for the Hyper-V provider tests: the Hyper-V cmdlet subset it uses.

Run as ``powershell -NoProfile -NonInteractive -EncodedCommand <base64 of UTF-16LE>`` by sshd
(or the in-process paramiko server). It decodes the script, tokenises it the way PowerShell
does for the forms it knows (single-quoted literals whose quote characters (', U+2018 to U+201B)
are escaped by doubling, ``$variables``, ``-Param`` and ``-Param:$value``, pipes, newlines ending a
statement) and runs straight-line statements ``[$var =] Cmdlet ... | Cmdlet ...``.

State (VMs, checkpoints, injected faults, a log of received scripts) lives in the JSON file
named by ``FAKE_HYPERV_STATE``. Errors follow PowerShell: with ``$ErrorActionPreference =
'Stop'`` an error ends the script; a ``trap`` block writing a ``'...|' + Category + '|' +
FullyQualifiedErrorId + '|' + Message`` line gets that line on stderr; exit code 1.
Output follows Windows PowerShell 5.1's ConvertTo-Json: one object is not wrapped in a list,
enums are numbers, times are ``\\/Date(ms)\\/``.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import re
import select
import sys
import time
import uuid
from typing import Any

QUOTES = "'\u2018\u2019\u201a\u201b"
CHECKPOINT_TYPES = {"Disabled": 2, "Production": 3, "ProductionOnly": 4, "Standard": 5}
SNAPSHOT_TYPES = {"Standard": 0, "Recovery": 1}


class PSError(Exception):
    def __init__(self, category: str, error_id: str, message: str) -> None:
        super().__init__(message)
        self.category, self.error_id, self.message = category, error_id, message


class Lit(str):
    """A single-quoted literal (as opposed to a bare word)."""


class SubExpr(list[Any]):
    """An array subexpression ``@( pipeline )``: its tokens."""


def _closing(script: str, start: int, opening: str, closing: str) -> int:
    """Index of the bracket closing the one at ``start``, skipping quoted text."""
    depth, in_quote = 0, False
    for j in range(start, len(script)):
        c = script[j]
        if c in QUOTES:
            in_quote = not in_quote
        elif not in_quote and c in (opening, closing):
            depth += 1 if c == opening else -1
            if depth == 0:
                return j
    raise PSError("ParserError", "MissingEndParenthesisInExpression", f"missing closing '{closing}'")


def tokenize(script: str) -> list[list[Any]]:
    """Statements as token lists; a ``trap { ... }`` statement becomes ("trap", body)."""
    statements: list[list[Any]] = []
    cur: list[Any] = []
    i, n = 0, len(script)
    while i < n:
        ch = script[i]
        if ch in "\r\n;":
            if cur:
                statements.append(cur)
            cur = []
            i += 1
        elif ch in " \t":
            i += 1
        elif ch in QUOTES:
            buf, i = [], i + 1
            while True:
                if i >= n:
                    raise PSError("ParserError", "TerminatorExpectedAtEndOfString", "unterminated string")
                if script[i] in QUOTES:
                    if i + 1 < n and script[i + 1] in QUOTES:
                        buf.append(script[i])
                        i += 2
                        continue
                    i += 1
                    break
                buf.append(script[i])
                i += 1
            cur.append(Lit("".join(buf)))
        elif script.startswith("@(", i):
            j = _closing(script, i + 1, "(", ")")
            inner = tokenize(script[i + 2:j])
            if len(inner) > 1:
                raise PSError("NotImplemented", "FakeUnsupported", "one pipeline per @( ) in this fake")
            cur.append(SubExpr(inner[0] if inner else []))
            i = j + 1
        elif script.startswith("trap", i) and not cur:
            start = script.index("{", i)
            j = _closing(script, start, "{", "}")
            statements.append([("trap", script[start + 1:j])])
            i = j + 1
        elif ch in "|,=":
            cur.append(ch)
            i += 1
        else:
            m = re.compile(r"[^\s|,;'\u2018\u2019\u201a\u201b]+").match(script, i)
            assert m is not None
            cur.append(m.group(0))
            i = m.end()
    if cur:
        statements.append(cur)
    return statements


def split_pipeline(tokens: list[Any]) -> list[list[Any]]:
    parts: list[list[Any]] = [[]]
    for t in tokens:
        if t == "|" and not isinstance(t, Lit):
            parts.append([])
        else:
            parts[-1].append(t)
    return parts


class Interpreter:
    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state
        self.vars: dict[str, Any] = {}
        self.trap_mark: str | None = None
        self.out: list[str] = []
        self.err: list[str] = []
        self.utf8_output = False

    # -- values -------------------------------------------------------------------
    def value(self, tok: Any) -> Any:
        if isinstance(tok, SubExpr):
            return self.as_list(self.pipeline(list(tok))) if tok else []
        if isinstance(tok, Lit):
            return str(tok)
        if tok in ("$true", "$false"):
            return tok == "$true"
        if tok.startswith("$"):
            if tok[1:] not in self.vars:
                raise PSError("InvalidData", "VariableIsUndefined", f"variable {tok} is not set")
            return self.vars[tok[1:]]
        return tok

    def params(self, args: list[Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        i = 0
        while i < len(args):
            tok = args[i]
            if isinstance(tok, Lit) or not tok.startswith("-"):
                raise PSError("InvalidArgument", "PositionalParameterNotFound",
                              f"A positional parameter cannot be found that accepts argument '{tok}'.")
            name, _, inline = tok[1:].partition(":")
            if inline:
                out[name.lower()] = self.value(inline)
                i += 1
            elif i + 1 < len(args) and (isinstance(args[i + 1], Lit) or not args[i + 1].startswith("-")):
                vals = [self.value(args[i + 1])]
                i += 2
                while i + 1 < len(args) and args[i] == ",":
                    vals.append(self.value(args[i + 1]))
                    i += 2
                out[name.lower()] = vals if len(vals) > 1 else vals[0]
            else:
                out[name.lower()] = True
                i += 1
        return out

    # -- running ------------------------------------------------------------------
    def run(self, script: str) -> int:
        code = 0
        for stmt in tokenize(script):
            try:
                self.statement(stmt)
            except PSError as exc:
                self.report(exc)
                code = 1
                if self.vars.get("ErrorActionPreference") == "Stop":
                    return 1
        return code

    def report(self, exc: PSError) -> None:
        msg = exc.message.replace("\n", " ")
        if self.trap_mark is not None:
            self.err.append(f"{self.trap_mark}{exc.category}|{exc.error_id}|{msg}\n")
        else:
            self.err.append(f"{msg}\n    + CategoryInfo          : {exc.category}\n"
                             f"    + FullyQualifiedErrorId : {exc.error_id}\n")

    def statement(self, tokens: list[Any]) -> None:
        if isinstance(tokens[0], tuple):
            m = re.search(r"WriteLine\('([^']*)'", tokens[0][1])
            self.trap_mark = m.group(1) if m else ""
            return
        if len(tokens) == 3 and tokens[1] == "=" and str(tokens[0]) == "[Console]::OutputEncoding":
            self.utf8_output = bool(re.fullmatch(r"\[System\.Text\.UTF8Encoding\]::new\(\$false\)", tokens[2]))
            return
        target = None
        if len(tokens) > 2 and tokens[1] == "=" and str(tokens[0]).startswith("$"):
            target, tokens = tokens[0][1:], tokens[2:]
        result = self.pipeline(tokens)
        if target is not None:
            self.vars[target] = result
        elif isinstance(result, str):
            self.out.append(result)

    def pipeline(self, tokens: list[Any]) -> Any:
        result: Any = None
        for part in split_pipeline(tokens):
            if len(part) == 1 and (isinstance(part[0], Lit | SubExpr) or str(part[0]).startswith("$")):
                result = self.value(part[0])  # an expression feeding the pipeline
            else:
                result = self.cmdlet(part[0], self.params(part[1:]), result)
        return result

    def cmdlet(self, name: str, p: dict[str, Any], piped: Any) -> Any:
        fault = self.state.get("faults", {}).get(name)
        if fault:
            self.fault(fault)
        method = getattr(self, "c_" + name.replace("-", "_").lower(), None)
        if method is None:
            raise PSError("ObjectNotFound", "CommandNotFoundException",
                          f"The term '{name}' is not recognized as the name of a cmdlet, function, "
                          "script file, or operable program.")
        return method(p, piped)

    def fault(self, fault: dict[str, Any]) -> None:
        if "hang" in fault:
            parent, end = os.getppid(), time.monotonic() + float(fault["hang"])
            while time.monotonic() < end and os.getppid() == parent and not stdout_closed():
                time.sleep(0.1)  # ends early when the SSH session that ran us is gone
        if "error" in fault:
            e = fault["error"]
            raise PSError(e["category"], e.get("id", "FakeFault"), e["message"])

    # -- objects ------------------------------------------------------------------
    def as_list(self, v: Any) -> list[Any]:
        if v is None:
            return []
        return v if isinstance(v, list) else [v]

    def one(self, v: Any, what: str) -> dict[str, Any]:
        items = self.as_list(v)
        if len(items) != 1 or not isinstance(items[0], dict):
            raise PSError("InvalidArgument", "ParameterArgumentValidationError",
                          f"Cannot validate argument on parameter '{what}'.")
        return items[0]

    def vm_by_id(self, vm_id: str) -> dict[str, Any]:
        for vm in self.state["vms"]:
            if vm["Id"].lower() == str(vm_id).lower():
                return vm
        raise PSError("ObjectNotFound", "InvalidParameter,Microsoft.HyperV.PowerShell.Commands.GetVM",
                      f"Hyper-V was unable to find a virtual machine with id \"{vm_id}\".")

    # -- cmdlets ------------------------------------------------------------------
    def c_get_vm(self, p: dict[str, Any], piped: Any) -> Any:
        if "id" in p:
            return [self.vm_by_id(p["id"])]
        if "name" in p:
            raise PSError("NotImplemented", "FakeUnsupported", "this fake does not do Get-VM -Name")
        return [dict(vm, _type="VM") for vm in self.state["vms"]]

    def c_where_object(self, p: dict[str, Any], piped: Any) -> Any:
        if "eq" not in p or "property" not in p:
            raise PSError("NotImplemented", "FakeUnsupported", "only Where-Object -Property P -EQ -Value V")
        prop, val = p["property"], str(p.get("value", ""))
        return [o for o in self.as_list(piped) if str(o.get(prop, "")).lower() == val.lower()]

    def snapshots_of(self, vm_ids: set[str]) -> list[dict[str, Any]]:
        return [s for s in self.state["snapshots"] if s["VMId"].lower() in vm_ids]

    def c_get_vmsnapshot(self, p: dict[str, Any], piped: Any) -> Any:
        if "id" in p:
            for s in self.state["snapshots"]:
                if s["Id"].lower() == str(p["id"]).lower():
                    return [s]
            raise PSError("ObjectNotFound", "InvalidParameter,Microsoft.HyperV.PowerShell.Commands.GetVMSnapshot",
                          f"Hyper-V was unable to find a checkpoint with id \"{p['id']}\".")
        vms = self.as_list(p.get("vm", piped))
        return self.snapshots_of({v["Id"].lower() for v in vms})

    def c_set_vm(self, p: dict[str, Any], piped: Any) -> Any:
        vm = self.vm_by_id(self.one(p.get("vm"), "VM")["Id"])
        wanted = str(p["checkpointtype"])
        names = {str(v): k for k, v in CHECKPOINT_TYPES.items()} | {k.lower(): k for k in CHECKPOINT_TYPES}
        if wanted.lower() not in names:
            raise PSError("InvalidArgument", "CannotConvertArgumentNoMessage,SetVM",
                          f"Cannot bind parameter 'CheckpointType'. Cannot convert value \"{wanted}\".")
        vm["CheckpointType"] = names[wanted.lower()]
        return None

    def c_checkpoint_vm(self, p: dict[str, Any], piped: Any) -> Any:
        vm = self.vm_by_id(self.one(p.get("vm"), "VM")["Id"])
        kind = vm["CheckpointType"]
        production = kind in ("Production", "ProductionOnly") and vm.get("production_capable", True)
        if kind == "ProductionOnly" and not production:
            raise PSError("InvalidOperation", "OperationFailed,Microsoft.HyperV.PowerShell.Commands.CheckpointVM",
                          f"Checkpoint operation for '{vm['Name']}' failed. Production checkpoints cannot "
                          "be created for this virtual machine.")
        snap = {"Id": str(uuid.uuid4()), "Name": str(p["snapshotname"]), "VMName": vm["Name"],
                "VMId": vm["Id"], "CreationTime": int(time.time() * 1000),
                "SnapshotType": "Recovery" if production else "Standard", "CheckpointType": kind,
                "ParentSnapshotId": vm.get("ParentSnapshotId"), "_type": "Snapshot"}
        self.state["snapshots"].append(snap)
        vm["ParentSnapshotId"] = snap["Id"]
        return [snap] if p.get("passthru") else None

    def c_restore_vmsnapshot(self, p: dict[str, Any], piped: Any) -> Any:
        snap = self.one(p.get("vmsnapshot"), "VMSnapshot")
        if p.get("confirm") is not False:
            raise PSError("InvalidOperation", "HostException",
                          "Windows PowerShell is in NonInteractive mode. Read and Prompt functionality is not available.")
        vm = self.vm_by_id(snap["VMId"])
        vm["ParentSnapshotId"] = snap["Id"]
        vm.setdefault("restored", []).append(snap["Id"])
        return None

    def c_remove_vmsnapshot(self, p: dict[str, Any], piped: Any) -> Any:
        snap = self.one(p.get("vmsnapshot"), "VMSnapshot")
        self.state["snapshots"] = [s for s in self.state["snapshots"] if s["Id"] != snap["Id"]]
        for o in self.state["snapshots"] + self.state["vms"]:
            if o.get("ParentSnapshotId") == snap["Id"]:
                o["ParentSnapshotId"] = snap.get("ParentSnapshotId")
        return None

    def c_select_object(self, p: dict[str, Any], piped: Any) -> Any:
        props = p.get("property", [])
        props = props if isinstance(props, list) else [props]
        return [{k: o.get(k) for k in props} for o in self.as_list(piped)]

    def c_convertto_json(self, p: dict[str, Any], piped: Any) -> Any:
        items = [self.json_form(o) for o in self.as_list(piped)]
        if not items:
            return None
        data = items[0] if len(items) == 1 else items
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":") if p.get("compress") else (", ", ": "))
        return text.replace("/Date(", "\\/Date(").replace(")/", ")\\/")

    @staticmethod
    def json_form(o: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in o.items():
            if k == "CreationTime":
                v = f"/Date({v})/"
            elif k == "CheckpointType":
                v = CHECKPOINT_TYPES[v]
            elif k == "SnapshotType":
                v = SNAPSHOT_TYPES[v]
            out[k] = v
        return out


def stdout_closed() -> bool:
    """Whether the reader of our stdout (the SSH channel) has gone away."""
    poller = select.poll()
    poller.register(1, select.POLLOUT)
    return any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poller.poll(0))


def decode_args(argv: list[str]) -> str:
    lowered = [a.lower() for a in argv]
    for flag in ("-encodedcommand", "-enc", "-e"):
        if flag in lowered:
            return base64.b64decode(argv[lowered.index(flag) + 1]).decode("utf-16-le")
    raise SystemExit("fake powershell: only -EncodedCommand is supported")


def execute(argv: list[str], path: str) -> tuple[int, bytes, bytes]:
    """Run one powershell command line against the state file; exit code, stdout, stderr."""
    script = decode_args(argv)
    with open(path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with open(path) as f:
            state = json.load(f)
        state.setdefault("log", []).append({"argv": argv[:-1], "script": script})
        interp = Interpreter(state)
        try:
            code = interp.run(script)
        except PSError as exc:  # a parse error ends the script before it runs
            interp.report(exc)
            code = 1
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(state, f, indent=1)
        os.replace(tmp, path)
    # Windows PowerShell writes redirected output in the console's OEM code page unless the
    # script switches [Console]::OutputEncoding to UTF-8.
    encoding = "utf-8" if interp.utf8_output else "cp437"
    out = "".join(line + "\n" for line in interp.out).encode(encoding, "replace")
    return code, out, "".join(interp.err).encode(encoding, "replace")


def main(argv: list[str]) -> int:
    code, out, err = execute(argv, os.environ["FAKE_HYPERV_STATE"])
    sys.stdout.buffer.write(out)
    sys.stderr.buffer.write(err)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
