"""A loopback Azure Resource Manager emulator for the Azure provider's tests.

It serves the Microsoft.Compute paths azure-mgmt-compute sends (virtual machines, managed
disks, snapshots, and the async operations that track them) over plain HTTP on 127.0.0.1,
the way ARM answers them:

- long-running PUT/DELETE/POST answer 202 (VM PUT/PATCH: 200, the SDK refuses 202 there) with
  ``Azure-AsyncOperation`` (polled until ``status`` is Succeeded/Failed), ``Location`` and
  ``Retry-After: 0``;
- errors carry ``{"error": {"code": ..., "message": ...}}`` (the SDK needs ``ResourceNotFound``
  to raise ``ResourceNotFoundError``);
- every request needs ``Authorization: Bearer <token>``: 401 without a valid one, 403 for a
  token granted read-only, and ``api-version`` in the query;
- the snapshot list is paged through ``nextLink``.

Fault switches for tests: :meth:`ArmEmulator.fail_next` (a coming request of one method
answers an ARM error), :attr:`ArmEmulator.lro_plan` (outcomes of the next long-running operations: ``"Succeeded"``,
``"Failed"`` or ``"Never"``).
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import sys
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.peers.arm_handlers import ArmError, handle, public
from tests.peers.entra_tls import identity_answer

SUB = "00000000-0000-0000-0000-0000000000a1"
RG = "rg-pexip"
LOCATION = "westeurope"
TOKEN = "emulator-token"
READONLY_TOKEN = "emulator-reader-token"

_RES = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Compute/"
    r"(?P<kind>virtualMachines|disks|snapshots)(?:/(?P<name>[^/]+)(?:/(?P<action>[A-Za-z]+))?)?$",
    re.IGNORECASE,
)
_OP = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.Compute/locations/[^/]+/operations/(?P<op>[^/]+)$",
    re.IGNORECASE,
)
_KINDS = {"virtualmachines": "virtualMachines", "disks": "disks", "snapshots": "snapshots"}


class ArmEmulator:
    """The emulated subscription: state, fault switches, and the HTTP server around them."""

    def __init__(self, page_size: int = 2, now: Callable[[], datetime] | None = None) -> None:
        self.subscription, self.location = SUB, LOCATION
        self.now = now or (lambda: datetime.now(UTC))
        self.lock = threading.RLock()
        self.server: ThreadingHTTPServer | None = None
        self.scheme = "http"
        self.reset(page_size)

    def reset(self, page_size: int = 2) -> None:
        """Back to the seeded resource group, with no faults and no request log."""
        with self.lock:
            self.page_size = page_size
            self.resources: dict[str, dict[str, Any]] = {}  # lower-case resource id -> resource
            self.operations: dict[str, dict[str, Any]] = {}
            self.failures: dict[str, list[tuple[int, str, str] | None]] = {}
            self.lro_plan: list[str] = []
            self.requests: list[tuple[str, str]] = []
            self.seed()

    def fail_next(self, method: str, status: int, code: str, message: str = "emulated failure",
                  skip: int = 0) -> None:
        """Answer the ``skip+1``-th coming ``method`` request with this ARM error."""
        with self.lock:
            self.failures.setdefault(method, []).extend([None] * skip + [(status, code, message)])

    # -- state ------------------------------------------------------------------------------
    def rid(self, kind: str, name: str, rg: str = RG) -> str:
        """The ARM resource id of ``name`` of ``kind`` in ``rg``."""
        return f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Compute/{kind}/{name}"

    def seed(self) -> None:
        """Two VMs with an OS disk and data disks, running, in one resource group."""
        for vm, n_data in (("pexip-mgr01", 2), ("pexip-conf01", 1)):
            os_disk = self._disk(f"{vm}-osdisk", 64, os_type="Linux", managed_by=self.rid("virtualMachines", vm))
            data = [self._disk(f"{vm}-data{lun}", 32, managed_by=self.rid("virtualMachines", vm))
                    for lun in range(n_data)]
            self.put(self.rid("virtualMachines", vm), {
                "name": vm, "type": "Microsoft.Compute/virtualMachines", "location": LOCATION, "tags": {},
                "properties": {
                    "vmId": str(uuid.uuid4()), "provisioningState": "Succeeded",
                    "hardwareProfile": {"vmSize": "Standard_D4s_v5"},
                    "storageProfile": {
                        "osDisk": {"osType": "Linux", "name": os_disk["name"], "createOption": "FromImage",
                                   "caching": "ReadWrite", "managedDisk": {"id": os_disk["id"]}},
                        "dataDisks": [{"lun": lun, "name": d["name"], "createOption": "Attach",
                                       "caching": "None", "managedDisk": {"id": d["id"]}}
                                      for lun, d in enumerate(data)],
                    },
                },
                "_power": "running",
            })

    def _disk(self, name: str, size: int, os_type: str | None = None, managed_by: str | None = None,
              creation: dict[str, Any] | None = None, rg: str = RG) -> dict[str, Any]:
        props: dict[str, Any] = {
            "creationData": creation or {"createOption": "Empty"}, "diskSizeGB": size,
            "timeCreated": self.now().isoformat(), "provisioningState": "Succeeded",
            "diskState": "Attached" if managed_by else "Unattached", "uniqueId": str(uuid.uuid4()),
        }
        if os_type:
            props["osType"] = os_type
        disk = {"name": name, "type": "Microsoft.Compute/disks", "location": LOCATION, "tags": {},
                "sku": {"name": "Premium_LRS", "tier": "Premium"}, "properties": props}
        if managed_by:
            disk["managedBy"] = managed_by
        return self.put(self.rid("disks", name, rg), disk)

    def put(self, rid: str, resource: dict[str, Any]) -> dict[str, Any]:
        """Store ``resource`` under ``rid`` (its ``id`` is set from it)."""
        resource["id"] = rid
        self.resources[rid.lower()] = resource
        return resource

    def find(self, rid: str) -> dict[str, Any] | None:
        """The resource with this id (case-insensitive), or None."""
        return self.resources.get(rid.lower())

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        """Every resource of ``kind`` (``snapshots``, ``disks``, ``virtualMachines``)."""
        marker = f"/providers/microsoft.compute/{kind.lower()}/"
        return [r for k, r in sorted(self.resources.items()) if marker in k]

    # -- long-running operations --------------------------------------------------------------
    def start_operation(self, on_success: Callable[[], None], on_failure: Callable[[], None]) -> str:
        """A new operation whose outcome is the next :attr:`lro_plan` entry (Succeeded by default)."""
        outcome = self.lro_plan.pop(0) if self.lro_plan else "Succeeded"
        op_id = str(uuid.uuid4())
        op: dict[str, Any] = {"name": op_id, "status": "InProgress", "startTime": self.now().isoformat()}
        if outcome == "Succeeded":
            on_success()
            op["status"] = "Succeeded"
        elif outcome == "Failed":
            on_failure()
            op["status"] = "Failed"
            op["error"] = {"code": "InternalOperationError", "message": "emulated operation failure"}
        self.operations[op_id] = op
        return op_id

    # -- server -----------------------------------------------------------------------------
    def start(self, tls: tuple[Path, Path] | None = None) -> str:
        """Serve on a free loopback port (https with ``tls`` = (cert, key)); returns the base URL."""
        emulator = self

        class Handler(_Handler):
            emu = emulator

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            # handshake in the handler thread (lazily), so one stuck client cannot block accept()
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True,
                                                     do_handshake_on_connect=False)
            self.scheme = "https"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self.url

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        """Stop serving."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client refusing our certificate (a test of exactly that) is not an emulator error
        if not isinstance(sys.exc_info()[1], (ssl.SSLError, ConnectionError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    emu: ArmEmulator
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes; without this, Nagle + delayed ACK add ~40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output quiet

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        emu = self.emu
        try:
            with emu.lock:
                emu.requests.append((method, self.path))
                identity = identity_answer(method, parts.path, raw, self._base(), TOKEN)
                if identity is not None:
                    self._send(identity[0], identity[1], {})
                    return
                self._authorize(method)
                if "api-version" not in query:
                    raise ArmError(400, "MissingApiVersionParameter", "The api-version query parameter is required.")
                body = json.loads(raw) if raw else {}
                status, payload, headers = _route(emu, method, parts.path, query, body, self._base())
        except ArmError as err:
            status, payload, headers = err.status, {"error": {"code": err.code, "message": err.message}}, {}
        except json.JSONDecodeError:
            status, payload, headers = 400, {"error": {"code": "InvalidRequestContent", "message": "bad JSON"}}, {}
        self._send(status, payload, headers)

    def _authorize(self, method: str) -> None:
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        if token not in (TOKEN, READONLY_TOKEN):
            raise ArmError(401, "InvalidAuthenticationToken", "The access token is invalid.")
        if token == READONLY_TOKEN and method != "GET":
            raise ArmError(403, "AuthorizationFailed", "The client does not have authorization to perform "
                           f"action {method} over this scope.")

    def _base(self) -> str:
        return f"{self.emu.scheme}://{self.headers.get('Host', '127.0.0.1')}"

    def _send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if data:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


Answer = tuple[int, Any, dict[str, str]]


def _route(emu: ArmEmulator, method: str, path: str, query: dict[str, str], body: Any, base: str) -> Answer:
    op = _OP.match(path)
    if op and method == "GET":
        return _operation(emu, op["op"], monitor="monitor" in query)
    m = _RES.match(path)
    if not m or m["sub"] != SUB:
        raise ArmError(404, "InvalidResourceType", f"No route for {method} {path}")
    kind = _KINDS[m["kind"].lower()]
    if m["rg"].lower() != RG.lower():
        raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{m['rg']}' could not be found.")
    if m["name"] is None:
        if method != "GET" or kind != "snapshots":
            raise ArmError(405, "MethodNotAllowed", f"{method} on the {kind} collection")
        return _list_snapshots(emu, path, query, base)
    rid = emu.rid(kind, m["name"], m["rg"])
    pending = emu.failures.get(method)
    if pending:
        failure = pending.pop(0)
        if failure is not None:
            raise ArmError(*failure)
    return handle(emu, method, kind, rid, m["name"], m["action"], body, base, query)


def _operation(emu: ArmEmulator, op_id: str, monitor: bool) -> Answer:
    op = emu.operations.get(op_id)
    if op is None:
        raise ArmError(404, "ResourceNotFound", f"Operation {op_id} not found.")
    if monitor:  # the Location URL: 202 while running, then 200 with no body
        return (202 if op["status"] == "InProgress" else 200), None, {"Retry-After": "0"}
    return 200, op, {}


def _list_snapshots(emu: ArmEmulator, path: str, query: dict[str, str], base: str) -> Answer:
    items = [public(r) for r in emu.of_kind("snapshots")]
    start = int(query.get("$skiptoken", "0"))
    page = items[start:start + emu.page_size]
    result: dict[str, Any] = {"value": page}
    if start + emu.page_size < len(items):
        result["nextLink"] = (f"{base}{path}?api-version={query['api-version']}"
                              f"&$skiptoken={start + emu.page_size}")
    return 200, result, {}
