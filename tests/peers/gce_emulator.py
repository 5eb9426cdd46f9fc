"""A loopback Google Compute Engine (compute/v1 REST) emulator for the GCP provider tests.

It answers the paths google-cloud-compute sends with ``transport="rest"`` for instances
(get/list/stop/start/attachDisk/detachDisk), zonal disks (get/list/insert/delete/createSnapshot),
global snapshots (insert/get/list with ``maxResults``/``pageToken``/``filter``/delete) and zone and
global operations (GET and POST ``.../wait``). Mutations return an Operation in ``PENDING``
that turns ``RUNNING`` and then ``DONE`` after ``op_delay`` seconds, when its effect lands, as
the real API does; errors use Google's JSON error body. Label keys/values and resource names
are validated with GCE's rules, so a provider that sends a bad one gets the real 400.

Fault switches (attributes of :class:`GCEEmulator`):
``fail_ops``    ``{operationType: target-name substring}``: matching operations end DONE with
                an error (a snapshot is left ``FAILED``, a disk ``FAILED``: half-made).
``hang_ops``    operationTypes that stay ``RUNNING`` forever.
``http_status`` answer every request with this status (401, 403, 503...).
``token``       when set, requests need ``Authorization: Bearer <token>`` (else 401).
                A self-signed JWT (what google-auth sends for a service-account key) is
                accepted too when its RS256 signature verifies with a public key registered
                in ``service_accounts`` (``{client_email: PEM}``) under its ``iss``.
Every request is recorded in ``requests`` as ``(method, path, query, body)``.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.peers.gce_resources import ApiError, ComputeResources, last_segment, rfc3339_now

WAIT_CAP = 0.5  # the real wait returns after up to 2 minutes, done or not


class GCEEmulator(ComputeResources):
    """One project and zone with two seeded instances, served on 127.0.0.1."""

    def __init__(self, project: str = "ba-test", zone: str = "europe-north1-a",
                 op_delay: float = 0.05) -> None:
        self.project, self.zone, self.op_delay = project, zone, op_delay
        self.lock = threading.Condition()
        self.ids = itertools.count(1000001)
        self.instances: dict[str, dict[str, Any]] = {}
        self.disks: dict[str, dict[str, Any]] = {}
        self.snapshots: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, dict[str, list[str]], Any]] = []
        self.fail_ops: dict[str, str] = {}
        self.hang_ops: set[str] = set()
        self.http_status: int | None = None
        self.token: str | None = None
        self.service_accounts: dict[str, bytes] = {}
        self._server: ThreadingHTTPServer | None = None
        self.seed()

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "emulator not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> GCEEmulator:
        emu = self

        class Handler(_Handler):
            emulator = emu

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def reset(self) -> None:
        """Back to the seeded state with no faults (tests share one server)."""
        with self.lock:
            for store in (self.instances, self.disks, self.snapshots, self.operations):
                store.clear()
            self.requests.clear()
            self.fail_ops, self.hang_ops = {}, set()
            self.http_status = self.token = None
            self.service_accounts.clear()
            self.seed()

    # -- state -----------------------------------------------------------------------------
    def seed(self) -> None:
        for vm, data in (("pexip-mgr01", 1), ("pexip-conf01", 2)):
            disks = [self._new_disk(f"{vm}-boot", 20)]
            disks += [self._new_disk(f"{vm}-data{i}", 50) for i in range(1, data + 1)]
            self.instances[vm] = {
                "kind": "compute#instance", "id": str(next(self.ids)), "name": vm,
                "zone": self.link("zones", self.zone), "status": "RUNNING",
                "machineType": self.link("zones", self.zone, "machineTypes", "n2-standard-4"),
                "selfLink": self.link("zones", self.zone, "instances", vm), "disks": [],
            }
            for i, d in enumerate(disks):
                self._attach(vm, {"source": d["selfLink"], "deviceName": d["name"].replace(f"{vm}-", ""),
                                  "boot": i == 0, "autoDelete": i == 0, "mode": "READ_WRITE"})

    def _new_disk(self, name: str, size: int, status: str = "READY", **extra: Any) -> dict[str, Any]:
        disk = {"kind": "compute#disk", "id": str(next(self.ids)), "name": name, "sizeGb": str(size),
                "zone": self.link("zones", self.zone), "status": status, "users": [],
                "type": self.link("zones", self.zone, "diskTypes", "pd-balanced"),
                "creationTimestamp": rfc3339_now(), "selfLink": self.link("zones", self.zone, "disks", name),
                **extra}
        self.disks[name] = disk
        return disk

    def _attach(self, vm: str, att: dict[str, Any]) -> None:
        inst = self.instances[vm]
        disk = self.disks[last_segment(att["source"], "disks")]
        inst["disks"].append({"kind": "compute#attachedDisk", "type": "PERSISTENT", "interface": "SCSI",
                              "mode": att.get("mode", "READ_WRITE"), "source": disk["selfLink"],
                              "deviceName": att.get("deviceName") or disk["name"],
                              "boot": bool(att.get("boot")), "autoDelete": bool(att.get("autoDelete")),
                              "index": len(inst["disks"])})
        disk["users"].append(inst["selfLink"])

    def authorized(self, header: str, token: str) -> bool:
        """A static bearer token, or a service-account JWT whose signature verifies."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding

        bearer = header.removeprefix("Bearer ")
        if bearer == token:
            return True
        try:
            head, payload, sig = (base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)) for p in bearer.split("."))
            pem = self.service_accounts[json.loads(payload)["iss"]]
            key = serialization.load_pem_public_key(pem)
            signed = bearer.rsplit(".", 1)[0].encode()
            key.verify(sig, signed, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr,call-arg]
        except (ValueError, KeyError, InvalidSignature):
            return False
        return json.loads(head).get("alg") == "RS256"

    # -- operations ------------------------------------------------------------------------
    def operation(self, op_type: str, target: str, effect: Any, failure: Any = None,
                  zonal: bool = True) -> dict[str, Any]:
        """A new PENDING operation whose ``effect`` runs when it completes."""
        name = f"operation-{next(self.ids)}-{op_type.lower()}"
        where = ("zones", self.zone) if zonal else ("global",)
        op: dict[str, Any] = {
            "kind": "compute#operation", "id": str(next(self.ids)), "name": name,
            "operationType": op_type, "targetLink": target, "status": "PENDING", "progress": 0,
            "insertTime": rfc3339_now(), "user": "backup-agent@example.iam.gserviceaccount.com",
            "selfLink": self.link(*where, "operations", name),
        }
        if zonal:
            op["zone"] = self.link("zones", self.zone)
        self.operations[name] = op
        if op_type not in self.hang_ops:
            threading.Timer(self.op_delay, self._finish, (op, effect, failure)).start()
        return dict(op)

    def _finish(self, op: dict[str, Any], effect: Any, failure: Any) -> None:
        with self.lock:
            pattern = self.fail_ops.get(op["operationType"])
            if pattern is not None and pattern in op["targetLink"]:
                if failure:
                    failure()
                op["error"] = {"errors": [{"code": "RESOURCE_OPERATION_FAILED",
                                           "message": f"{op['operationType']} failed (injected fault)"}]}
                op["httpErrorStatusCode"], op["httpErrorMessage"] = 500, "INTERNAL SERVER ERROR"
            else:
                effect()
            op.update(status="DONE", progress=100, endTime=rfc3339_now())
            self.lock.notify_all()

    def get_operation(self, name: str, wait: bool) -> dict[str, Any]:
        with self.lock:
            op = self.operations.get(name)
            if op is None:
                raise ApiError(404, "notFound", f"The resource 'operations/{name}' was not found")
            if op["status"] == "PENDING":
                op["status"], op["startTime"] = "RUNNING", rfc3339_now()
            if wait:
                self.lock.wait_for(lambda: op["status"] == "DONE", timeout=WAIT_CAP)
            return dict(op)

class _Handler(BaseHTTPRequestHandler):
    emulator: GCEEmulator
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _serve(self) -> None:
        emu = self.emulator
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        with emu.lock:
            emu.requests.append((self.command, url.path, query, body))
            status, token = emu.http_status, emu.token
        try:
            if status is not None:
                raise ApiError(status, {401: "unauthorized", 403: "forbidden"}.get(status, "backendError"),
                               {401: "Request is missing required authentication credential.",
                                403: "Required 'compute.instances.get' permission"}.get(status, "Backend Error"))
            if token is not None and not emu.authorized(self.headers.get("Authorization", ""), token):
                raise ApiError(401, "unauthorized", "Request had invalid authentication credentials.")
            if body is None:
                raise ApiError(400, "parseError", "Parse Error")
            if self.command == "POST" and url.path.endswith("/wait"):
                payload = emu.route(self.command, url.path, query, body)  # waits without the lock
            else:
                with emu.lock:
                    payload = emu.route(self.command, url.path, query, body)
            self._send(200, payload)
        except ApiError as exc:
            self._send(exc.code, {"error": {"code": exc.code, "message": exc.message, "errors": [
                {"message": exc.message, "domain": "global", "reason": exc.reason}]}})

    def _send(self, code: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _serve
