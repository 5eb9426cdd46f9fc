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
import re
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

NAME_RE = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
LABEL_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE_RE = re.compile(r"^[a-z0-9_-]{0,63}$")
FILTER_TERM_RE = re.compile(r'\(?\s*(labels\.[a-z0-9_-]+|name)\s*(=|!=)\s*"?([^")\s]*)"?\s*\)?')
WAIT_CAP = 0.5  # the real wait returns after up to 2 minutes, done or not


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _last(link: str, kind: str) -> str:
    m = re.search(rf"(?:^|/){kind}/([^/]+)$", link or "")
    if not m:
        raise ApiError(400, "invalid", f"Invalid value for field 'resource': '{link}'")
    return m.group(1)


class GCEEmulator:
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
    def link(self, *parts: str) -> str:
        base = f"https://www.googleapis.com/compute/v1/projects/{self.project}"
        return "/".join((base, *parts))

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
                "creationTimestamp": _now(), "selfLink": self.link("zones", self.zone, "disks", name),
                **extra}
        self.disks[name] = disk
        return disk

    def _attach(self, vm: str, att: dict[str, Any]) -> None:
        inst = self.instances[vm]
        disk = self.disks[_last(att["source"], "disks")]
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
            "insertTime": _now(), "user": "backup-agent@example.iam.gserviceaccount.com",
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
            op.update(status="DONE", progress=100, endTime=_now())
            self.lock.notify_all()

    def get_operation(self, name: str, wait: bool) -> dict[str, Any]:
        with self.lock:
            op = self.operations.get(name)
            if op is None:
                raise ApiError(404, "notFound", f"The resource 'operations/{name}' was not found")
            if op["status"] == "PENDING":
                op["status"], op["startTime"] = "RUNNING", _now()
            if wait:
                self.lock.wait_for(lambda: op["status"] == "DONE", timeout=WAIT_CAP)
            return dict(op)

    # -- API -------------------------------------------------------------------------------
    def _instance(self, name: str) -> dict[str, Any]:
        if name not in self.instances:
            raise ApiError(404, "notFound",
                           f"The resource 'projects/{self.project}/zones/{self.zone}/instances/{name}' was not found")
        return self.instances[name]

    def _disk(self, name: str) -> dict[str, Any]:
        if name not in self.disks:
            raise ApiError(404, "notFound",
                           f"The resource 'projects/{self.project}/zones/{self.zone}/disks/{name}' was not found")
        return self.disks[name]

    def _snapshot(self, name: str) -> dict[str, Any]:
        if name not in self.snapshots:
            raise ApiError(404, "notFound",
                           f"The resource 'projects/{self.project}/global/snapshots/{name}' was not found")
        return self.snapshots[name]

    @staticmethod
    def _check_name(name: Any, field: str = "resource.name") -> str:
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise ApiError(400, "invalid", f"Invalid value for field '{field}': '{name}'. "
                           "Must be a match of regex '[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?'")
        return name

    @staticmethod
    def _check_labels(labels: dict[str, str]) -> None:
        for k, v in labels.items():
            if not LABEL_KEY_RE.match(k) or not isinstance(v, str) or not LABEL_VALUE_RE.match(v):
                raise ApiError(400, "invalid", f"Invalid value for field 'resource.labels': '{k}'. "
                               "Label keys and values can only contain lowercase letters, numeric "
                               "characters, underscores and dashes.")

    def instance_action(self, vm: str, action: str, body: Any, query: dict[str, list[str]]) -> dict:
        inst = self._instance(vm)
        if action == "stop":
            inst["status"] = "STOPPING"
            return self.operation("stop", inst["selfLink"], lambda: inst.update(status="TERMINATED"))
        if action == "start":
            if inst["status"] != "TERMINATED":
                raise ApiError(400, "resourceNotReady", f"The resource '{vm}' is not ready")
            inst["status"] = "STAGING"
            return self.operation("start", inst["selfLink"], lambda: inst.update(status="RUNNING"))
        if action == "detachDisk":
            dev = (query.get("deviceName") or [""])[0]
            att = next((a for a in inst["disks"] if a["deviceName"] == dev), None)
            if att is None:
                raise ApiError(400, "invalid", f"No attached disk found with device name '{dev}'")
            if att["boot"] and inst["status"] != "TERMINATED":
                raise ApiError(400, "resourceNotReady", "The boot disk of a running instance cannot be detached")

            def detach() -> None:
                inst["disks"].remove(att)
                self.disks[_last(att["source"], "disks")]["users"].remove(inst["selfLink"])
            return self.operation("detachDisk", inst["selfLink"], detach)
        if action == "attachDisk":
            disk = self._disk(_last(body.get("source", ""), "disks"))
            if disk["users"]:
                raise ApiError(400, "resourceInUseByAnotherResource",
                               f"The disk resource '{disk['selfLink']}' is already being used")
            dev = body.get("deviceName") or disk["name"]
            if any(a["deviceName"] == dev for a in inst["disks"]):
                raise ApiError(400, "invalid", f"Device name '{dev}' is already in use")
            if body.get("boot") and inst["status"] != "TERMINATED":
                raise ApiError(400, "resourceNotReady", "A boot disk can only be attached to a stopped instance")
            return self.operation("attachDisk", inst["selfLink"], lambda: self._attach(vm, body))
        raise ApiError(404, "notFound", f"Unknown method {action}")

    def insert_disk(self, body: dict[str, Any]) -> dict:
        name = self._check_name(body.get("name"))
        if name in self.disks:
            raise ApiError(409, "alreadyExists", f"The resource '{self.disks[name]['selfLink']}' already exists")
        self._check_labels(body.get("labels", {}))
        extra: dict[str, Any] = {"labels": body.get("labels", {})}
        size = int(body.get("sizeGb") or 0)
        if body.get("sourceSnapshot"):
            snap = self._snapshot(_last(body["sourceSnapshot"], "snapshots"))
            if snap["status"] != "READY":
                raise ApiError(400, "resourceNotReady", f"The resource '{snap['selfLink']}' is not ready")
            extra.update(sourceSnapshot=snap["selfLink"], sourceSnapshotId=snap["id"])
            size = max(size, int(snap["diskSizeGb"]))
        disk = self._new_disk(name, size or 10, status="CREATING", **extra)
        if body.get("type"):
            disk["type"] = body["type"]
        return self.operation("insert", disk["selfLink"], lambda: disk.update(status="READY"),
                              lambda: disk.update(status="FAILED"))

    def delete_disk(self, name: str) -> dict:
        disk = self._disk(name)
        if disk["users"]:
            raise ApiError(400, "resourceInUseByAnotherResource",
                           f"The disk resource '{disk['selfLink']}' is already being used by '{disk['users'][0]}'")
        return self.operation("delete", disk["selfLink"], lambda: self.disks.pop(name, None))

    def create_snapshot(self, disk_name: str, body: dict[str, Any], query: dict[str, list[str]]) -> dict:
        disk = self._disk(disk_name)
        name = self._check_name(body.get("name"))
        if name in self.snapshots:
            raise ApiError(409, "alreadyExists", f"The resource '{self.snapshots[name]['selfLink']}' already exists")
        labels = body.get("labels", {})
        self._check_labels(labels)
        snap = {"kind": "compute#snapshot", "id": str(next(self.ids)), "name": name,
                "description": body.get("description", ""), "creationTimestamp": _now(),
                "status": "CREATING", "sourceDisk": disk["selfLink"], "sourceDiskId": disk["id"],
                "diskSizeGb": disk["sizeGb"], "storageBytes": "0", "labels": labels,
                "labelFingerprint": "42WmSpB8rSM=", "snapshotType": "STANDARD",
                "storageLocations": body.get("storageLocations") or ["eu"],
                "selfLink": self.link("global", "snapshots", name)}
        if body.get("snapshotEncryptionKey"):
            snap["snapshotEncryptionKey"] = body["snapshotEncryptionKey"]
        if query.get("guestFlush"):
            snap["guestFlush"] = query["guestFlush"][0] == "true"
        self.snapshots[name] = snap
        return self.operation("createSnapshot", disk["selfLink"],
                              lambda: snap.update(status="READY", storageBytes=str(int(disk["sizeGb"]) << 27)),
                              lambda: snap.update(status="FAILED"))

    def delete_snapshot(self, name: str) -> dict:
        snap = self._snapshot(name)
        snap["status"] = "DELETING"
        return self.operation("delete", snap["selfLink"], lambda: self.snapshots.pop(name, None), zonal=False)

    def list_snapshots(self, query: dict[str, list[str]]) -> dict:
        max_results = int((query.get("maxResults") or ["500"])[0])
        if not 0 < max_results <= 500:
            raise ApiError(400, "invalid", "Invalid value for field 'maxResults'")
        start = int((query.get("pageToken") or ["0"])[0] or 0)
        terms = self._parse_filter((query.get("filter") or [""])[0])
        items = [s for _, s in sorted(self.snapshots.items()) if self._matches(s, terms)]
        page: dict[str, Any] = {"kind": "compute#snapshotList", "id": f"projects/{self.project}/global/snapshots",
                                "items": items[start:start + max_results],
                                "selfLink": self.link("global", "snapshots")}
        if start + max_results < len(items):
            page["nextPageToken"] = str(start + max_results)
        return page

    @staticmethod
    def _parse_filter(text: str) -> list[tuple[str, str, str]]:
        terms, pos = [], 0
        text = text.strip()
        while pos < len(text):
            m = FILTER_TERM_RE.match(text, pos)
            if not m:
                raise ApiError(400, "invalid", f"Invalid value for field 'filter': '{text}'. Invalid list filter expression.")
            terms.append((m.group(1), m.group(2), m.group(3)))
            pos = m.end()
            while pos < len(text) and text[pos] == " ":
                pos += 1
            if text.startswith("AND ", pos):
                pos += 4
        return terms

    @staticmethod
    def _matches(snap: dict[str, Any], terms: list[tuple[str, str, str]]) -> bool:
        for field, op, value in terms:
            have = snap["name"] if field == "name" else snap.get("labels", {}).get(field[7:])
            if (have == value) != (op == "="):
                return False
        return True

    def route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> dict:
        """Dispatch one REST call; the caller holds the lock."""
        prefix = f"/compute/v1/projects/{self.project}/"
        if not path.startswith(prefix):
            raise ApiError(404, "notFound", f"The resource '{path.removeprefix('/compute/v1/')}' was not found")
        parts = path[len(prefix):].split("/")
        if parts[0] == "zones" and len(parts) >= 3:
            if parts[1] != self.zone:
                raise ApiError(404, "notFound", f"The resource 'projects/{self.project}/zones/{parts[1]}' was not found")
            return self._zonal(method, parts[2:], query, body)
        if parts[:2] == ["global", "snapshots"]:
            name = parts[2] if len(parts) > 2 else None
            if method == "GET":
                return self.list_snapshots(query) if name is None else dict(self._snapshot(name))
            if method == "DELETE" and name:
                return self.delete_snapshot(name)
            if method == "POST" and name is None:
                return self.create_snapshot(_last(body.get("sourceDisk", ""), "disks"), body, query)
        if parts[:2] == ["global", "operations"] and len(parts) >= 3:
            return self.get_operation(parts[2], wait=parts[3:] == ["wait"])
        raise ApiError(404, "notFound", f"Unknown path {path}")

    def _zonal(self, method: str, parts: list[str], query: dict[str, list[str]], body: Any) -> dict:
        kind, name, action = parts[0], (parts[1:2] or [None])[0], (parts[2:3] or [None])[0]
        if kind == "operations" and name:
            return self.get_operation(name, wait=action == "wait")
        if kind == "instances":
            if method == "GET" and name is None:
                return {"kind": "compute#instanceList", "items": [dict(i) for _, i in sorted(self.instances.items())]}
            if method == "GET" and action is None and name:
                return dict(self._instance(name))
            if method == "POST" and name and action:
                return self.instance_action(name, action, body, query)
        if kind == "disks":
            if method == "GET" and name is None:
                return {"kind": "compute#diskList", "items": [dict(d) for _, d in sorted(self.disks.items())]}
            if method == "POST" and name is None:
                return self.insert_disk(body)
            if method == "GET" and name and action is None:
                return dict(self._disk(name))
            if method == "DELETE" and name and action is None:
                return self.delete_disk(name)
            if method == "POST" and name and action == "createSnapshot":
                return self.create_snapshot(name, body, query)
        raise ApiError(404, "notFound", f"Unknown path zones/{self.zone}/{'/'.join(parts)}")


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
