"""What the GCE emulator's REST resources do: instances, disks, snapshots, and routing.

Mixed into :class:`tests.peers.gce_emulator.GCEEmulator`, which holds the state (``instances``,
``disks``, ``snapshots``), makes operations (``operation``) and serves HTTP. Names and labels
are checked with GCE's rules; filters support ``labels.KEY = "v"``, ``!=`` and ``name``, terms
joined by spaces or ``AND`` (what the provider sends), anything else is the real 400.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

NAME_RE = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
LABEL_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE_RE = re.compile(r"^[a-z0-9_-]{0,63}$")
FILTER_TERM_RE = re.compile(r'\(?\s*(labels\.[a-z0-9_-]+|name)\s*(=|!=)\s*"?([^")\s]*)"?\s*\)?')


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


def rfc3339_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def last_segment(link: str, kind: str) -> str:
    m = re.search(rf"(?:^|/){kind}/([^/]+)$", link or "")
    if not m:
        raise ApiError(400, "invalid", f"Invalid value for field 'resource': '{link}'")
    return m.group(1)


class ComputeResources:
    """The resource methods; ``self`` is a GCEEmulator and the caller holds its lock."""

    project: str
    zone: str
    instances: dict[str, dict[str, Any]]
    disks: dict[str, dict[str, Any]]
    snapshots: dict[str, dict[str, Any]]
    ids: Any

    def link(self, *parts: str) -> str:
        base = f"https://www.googleapis.com/compute/v1/projects/{self.project}"
        return "/".join((base, *parts))

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
                self.disks[last_segment(att["source"], "disks")]["users"].remove(inst["selfLink"])
            return self.operation("detachDisk", inst["selfLink"], detach)
        if action == "attachDisk":
            disk = self._disk(last_segment(body.get("source", ""), "disks"))
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
            snap = self._snapshot(last_segment(body["sourceSnapshot"], "snapshots"))
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
                "description": body.get("description", ""), "creationTimestamp": rfc3339_now(),
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
                return self.create_snapshot(last_segment(body.get("sourceDisk", ""), "disks"), body, query)
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
