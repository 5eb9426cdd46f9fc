"""The ``/_sim/`` control API: what a separate process (CLI tests, drills) uses to steer a sim.

Same basic auth as the Management Node API. JSON in and out; trailing slashes optional.

==========================================  ==================================================
``GET  /_sim/state``                        counts, management up/down, nodes down, faults
``POST /_sim/faults``                       arm one: ``{"kind": "fail", "count": 3, "status": 503,
                                            "path": "conference"}``; kinds ``fail``,
                                            ``rate_limit`` (``retry_after``), ``html``,
                                            ``malformed_json``, ``cut_download``
                                            (``after_bytes``, ``count``), ``wrong_sha256``,
                                            ``evil_filename`` (``filename``),
                                            ``change_rooms`` (``action`` delete|add,
                                            ``after`` pages, ``count``: rooms change
                                            while a conference list is read)
``DELETE /_sim/faults``                     disarm every fault
``POST /_sim/reset``                        ``{"empty": true}`` (default): an empty Management
                                            Node; ``false``: the seeded deployment again.
                                            Backups and VM snapshots are kept unless
                                            ``"backups": true`` / ``"snapshots": true``
``POST /_sim/management/down``              ``{"mode": "503"}`` or ``{"mode": "close"}``
``POST /_sim/management/up``
``POST /_sim/nodes``                        add a Conferencing Node: ``{"name", "location",
                                            "node_type"}`` (a drill's inventory)
``POST /_sim/nodes/<name>/down`` ``/up``    a Conferencing Node loses (regains) contact
``POST /_sim/version``                      ``{"version", "build"}``: the software version
``POST /_sim/upgrade``                      ``{"status": "IN_PROGRESS"}``: the Management Node's
                                            ``upgrade_status`` (``IDLE`` again to end it)
``POST /_sim/nodes/<name>/version``         ``{"version", "build"}``: one node's (mid-upgrade)
``POST /_sim/rooms/delete``                 ``{"count": N}`` (the last N) or ``{"names": [...]}``
``POST /_sim/options``                      change ``latency_ms``, ``snapshot_seconds``,
                                            ``backup_request_seconds`` at run time
``POST /_sim/autobackup/run``              make the built-in automatic backup now (409 when
                                            it is not enabled or has no passphrase)
``POST /_sim/alarms``                       raise an alarm: ``{"name": "autobackup_upload_failed",
                                            "node": "<IPv4>", "level"}`` (node default the
                                            Management Node's; level the alarm's own)
``POST /_sim/alarms/lower``                 ``{"name"}``: lower it (it moves to history/v1/alarm/)
``POST /_sim/licence``                      ``{"expires_in_days": N}``: every licence expires then
                                            (within 30 days raises ``licenses_expiring``)
``POST /_sim/oauth/clients``                register an OAuth2 client: ``{"client_id",
                                            "public_key": "<EC P-256 PEM>"}``
``GET  /_sim/hypervisor/vms``               the VMs (``mgr01``, ``cn-osl-1``...)
``POST /_sim/hypervisor/vms/<vm>/snapshots``  ``{"name", "description", "tags", "wait"}`` -> 201;
                                            ``"wait": false`` answers ``creating`` at once
``POST /_sim/hypervisor/fail_next``         ``{"count", "message"}``: next snapshots end ``error``
``GET  /_sim/hypervisor/snapshots?vm=``     snapshots (of one VM)
``GET|DELETE /_sim/hypervisor/snapshots/<id>``
``POST /_sim/hypervisor/snapshots/<id>/revert``
==========================================  ==================================================
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from backup_agent.sim.backups import BackupFailed
from backup_agent.sim.http import Request, Response, error, json_response, not_found
from backup_agent.sim.hypervisor import HypervisorError

if TYPE_CHECKING:
    from backup_agent.sim.simulator import Simulator

def _seconds(value: Any) -> float:
    number = float(value)
    if not 0 <= number < 1e9:  # false for nan: a nan latency made every request answer 500
        raise ValueError(f"{value!r} must be a finite number, zero or more")
    return number


RUNTIME_OPTIONS = {"latency_ms": _seconds, "snapshot_seconds": _seconds,
                   "backup_request_seconds": _seconds}


class ControlApi:
    """Routes ``/_sim/...`` requests of one simulator."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def handle(self, request: Request) -> Response:
        parts = [p for p in request.path[len("/_sim/"):].split("/") if p]
        try:
            # JSON whatever the Content-Type: `curl -d '{"count": 5}'` sends it as a form, and
            # read as a form it was an empty body, silently (deleted 0 rooms, changed nothing).
            raw = request.read_body() if request.method in ("POST", "PUT", "PATCH") else b""
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return error(400, "the request body is not valid JSON")
        if not isinstance(body, dict):
            return error(400, "the request body must be a JSON object")
        try:
            if parts and parts[0] == "hypervisor":
                return self._hypervisor(request, parts[1:], body)
            return self._route(request.method, parts, body)
        except HypervisorError as exc:
            return error(exc.status, str(exc))
        except (ValueError, KeyError, TypeError) as exc:
            return error(400, f"bad control request: {exc}")

    def _route(self, method: str, parts: list[str], body: dict[str, Any]) -> Response:
        sim, state = self.sim, self.sim.state
        if parts == ["state"] and method == "GET":
            return json_response(self.describe())
        if parts == ["faults"]:
            if method == "POST":
                sim.faults.arm(body)
                return json_response(sim.faults.describe(), status=201)
            if method == "DELETE":
                sim.faults.clear()
                return Response(status=204)
            return json_response(sim.faults.describe())
        if method != "POST":
            return not_found("/_sim/" + "/".join(parts))
        if parts == ["reset"]:
            state.reset(empty=bool(body.get("empty", True)))
            if body.get("backups"):
                sim.backups.clear()
            if body.get("snapshots"):
                sim.hypervisor.clear()
            sim.faults.clear()
            return json_response(self.describe())
        if parts == ["management", "down"]:
            state.set_management_down(str(body.get("mode", "503")))
            return json_response(self.describe())
        if parts == ["management", "up"]:
            state.set_management_up()
            return json_response(self.describe())
        if len(parts) == 3 and parts[0] == "nodes" and parts[2] in ("down", "up"):
            try:
                state.set_node_down(parts[1]) if parts[2] == "down" else state.set_node_up(parts[1])
            except KeyError:
                return error(404, f"no Conferencing Node {parts[1]!r}")
            return json_response(self.describe())
        if len(parts) == 3 and parts[0] == "nodes" and parts[2] == "version":
            try:
                state.set_node_version(parts[1], str(body["version"]), body.get("build"))
            except KeyError:
                return error(404, f"no Conferencing Node {parts[1]!r}")
            return json_response(self.describe())
        if parts == ["nodes"]:
            node = state.add_node(str(body["name"]), str(body.get("location", "Oslo")),
                                  str(body.get("node_type", "CONFERENCING")))
            return json_response({"name": node["name"], "id": node["id"]}, status=201)
        if parts == ["upgrade"]:
            state.upgrade_status = str(body.get("status", "IDLE"))
            return json_response({"upgrade_status": state.upgrade_status})
        if parts == ["version"]:
            state.set_version(str(body["version"]), body.get("build"))
            return json_response(self.describe())
        if parts == ["rooms", "delete"]:
            names = body.get("names")
            if names is not None and not isinstance(names, list):
                raise ValueError("names must be a list of room names")
            deleted = state.delete_rooms(count=int(body.get("count", 0)), names=names)
            return json_response({"deleted": deleted, **self.describe()})
        if parts == ["autobackup", "run"]:
            try:
                entry = sim.run_autobackup()
            except BackupFailed as exc:
                return error(409, str(exc))
            return json_response({"filename": entry["filename"]}, status=201)
        if parts == ["alarms"]:
            alarm = state.events.raise_alarm(str(body["name"]), str(body.get("node")
                                             or sim.opts.management_address),
                                             details=str(body.get("details", "")),
                                             level=body.get("level"))
            return json_response(alarm, status=201)
        if parts == ["alarms", "lower"]:
            return json_response({"lowered": state.events.lower_alarm(str(body["name"]))})
        if parts == ["licence"]:
            days = int(body["expires_in_days"])
            state.licences.set_expiry(sim.opts.now().date() + timedelta(days=days))
            return json_response({"licences": state.licences.listing()})
        if parts == ["oauth", "clients"]:
            sim.oauth.add_client(str(body["client_id"]), str(body["public_key"]))
            return json_response({"client_id": body["client_id"]}, status=201)
        if parts == ["options"]:
            for key, value in body.items():
                if key not in RUNTIME_OPTIONS:
                    raise ValueError(f"{key} cannot be changed at run time "
                                     f"(can: {', '.join(sorted(RUNTIME_OPTIONS))})")
                setattr(sim.opts, key, RUNTIME_OPTIONS[key](value))
            return json_response(self.describe())
        return not_found("/_sim/" + "/".join(parts))

    def describe(self) -> dict[str, Any]:
        """The state summary ``GET /_sim/state`` answers."""
        state = self.sim.state
        return {"counts": state.counts(), "management_up": state.management_up,
                "down_mode": state.down_mode, "nodes_down": sorted(state.nodes_down),
                "version": state.version, "build": state.build,
                "requests_served": state.requests_served, "faults": self.sim.faults.describe(),
                "options": {k: getattr(self.sim.opts, k) for k in RUNTIME_OPTIONS}}

    def _hypervisor(self, request: Request, parts: list[str], body: dict[str, Any]) -> Response:
        hyp, method = self.sim.hypervisor, request.method
        if parts == ["vms"] and method == "GET":
            return json_response({"vms": hyp.vms()})
        if len(parts) == 3 and parts[0] == "vms" and parts[2] == "snapshots":
            if method == "POST":
                tags = body.get("tags") or {}
                if not isinstance(tags, dict):
                    return error(400, "tags must be an object")
                snap = hyp.create(parts[1], str(body.get("name", "")), str(body.get("description", "")),
                                  tags, wait=body.get("wait", True) is not False)
                return json_response(snap, status=201)
            if method == "GET":
                return json_response({"snapshots": hyp.list(parts[1])})
        if parts == ["fail_next"] and method == "POST":
            hyp.fail_next(int(body.get("count", 1)), str(body.get("message", "the datastore is full")))
            return Response(status=204)
        if parts == ["snapshots"] and method == "GET":
            return json_response({"snapshots": hyp.list(request.query.get("vm") or None)})
        if len(parts) == 2 and parts[0] == "snapshots":
            if method == "GET":
                return json_response(hyp.get(parts[1]))
            if method == "DELETE":
                hyp.delete(parts[1])
                return Response(status=204)
        if len(parts) == 3 and parts[0] == "snapshots" and parts[2] == "revert" and method == "POST":
            return json_response(hyp.revert(parts[1]))
        return not_found(request.path)
