"""The Management Node API routes: configuration objects, status, and the backup commands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backup_agent.sim import api_backup, nodes
from backup_agent.sim.backups import api_time
from backup_agent.sim.http import (
    Request,
    Response,
    error,
    json_response,
    method_not_allowed,
    not_found,
)
from backup_agent.sim.model import API, CONFIG, TABLES, ValidationError, id_of, uri
from backup_agent.sim.query import QueryError, page, page_json, select
from backup_agent.sim.schema import ORDERING, schema_page, spec
from backup_agent.sim.validate import clean, known_fields, must_exist

if TYPE_CHECKING:
    from backup_agent.sim.simulator import Simulator

AUTOBACKUP_SECRETS = ("autobackup_passphrase", "autobackup_upload_password")
STATUS_TABLES = ("management_vm", "worker_vm", "alarm", "licensing")
HISTORY_TABLES = ("alarm", "workervm_status_event")
#: configuration/v1/ lists these besides the tables (root discovery, as pexshell reads it).
SINGLETONS = ("autobackup", "licence", "system_backup")


class ManagementApi:
    """Routes ``/api/admin/...`` requests of one simulator."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def handle(self, request: Request) -> Response:
        path = request.path
        if not path.endswith("/"):
            return not_found(path)  # every path of the API ends in "/"
        parts = path[len(API):].strip("/").split("/") if path.startswith(API) else []
        if parts == ["configuration", "v1"] and request.method == "GET":
            return json_response(_root())
        if len(parts) < 3 or parts[1] != "v1":
            return not_found(path)
        family, name, rest = parts[0], parts[2], parts[3:]
        try:
            if family == "configuration" and name == "system_backup":
                return api_backup.system_backup(self.sim, request, rest)
            if family == "configuration" and name == "autobackup":
                return self._autobackup(request, rest)
            if family == "configuration" and name == "worker_vm":
                return nodes.route(self.sim, request, rest)
            if family == "configuration" and name == "licence":
                return self._licence(request, rest)
            if family == "history" and name in HISTORY_TABLES:
                return self._history(request, name, rest)
            if family == "configuration" and name in TABLES:
                return self._configuration(request, name, rest)
            if family == "status" and name == "backup_request":
                return api_backup.backup_request(self.sim, request, rest)
            if family == "status" and name in STATUS_TABLES:
                return self._status(request, name, rest)
            if family == "command" and name == "platform" and rest == ["backup_create"]:
                return api_backup.backup_create(self.sim, request)
            if family == "command" and name == "platform" and rest == ["backup_restore"]:
                return api_backup.backup_restore(self.sim, request)
            if family == "command" and name == "platform" and rest == ["snapshot"]:
                return api_backup.diagnostic_bundle(self.sim, request)
        except QueryError as exc:
            return error(400, str(exc))
        except ValidationError as exc:
            return json_response(exc.errors, status=400)
        return not_found(path)

    # -- configuration -------------------------------------------------------------------
    def _list(self, request: Request, table: str, rows: list[dict[str, Any]], render: Any) -> Response:
        selected = select(rows, request.query, set(rows[0]) if rows else None)
        opts = self.sim.opts
        return json_response(page(selected, request.query, request.raw_path,
                                  opts.default_page_size, opts.max_page_size, render))

    def _configuration(self, request: Request, table: str, rest: list[str]) -> Response:
        config = self.sim.state.config
        if rest == ["schema"]:
            return json_response(_schema(table))
        if not rest:
            if request.method == "GET":
                opts = self.sim.opts
                change = self.sim.faults.take_list_change(request.path)
                if change is not None and table == "conference":
                    self._change_rooms(change)
                _check_order(table, request.query)
                with config.lock:
                    selected = select(config.rows(table), request.query, known_fields(table))
                    body = page_json(selected, request.query, request.raw_path, opts.default_page_size,
                                     opts.max_page_size, lambda row: config.render_json(table, row))
                return Response(body=body)
            if request.method == "POST":
                return self._create(request, table)
            return method_not_allowed("GET, POST")
        if len(rest) != 1 or not rest[0].isdigit():
            return not_found(request.path)
        ident = int(rest[0])
        with config.lock:
            row = config.tables[table].get(ident)
            if row is None:
                return not_found(request.path)
            if request.method == "GET":
                return json_response(config.render(table, row))
            if request.method in ("PATCH", "PUT"):
                data = _body(request)
                changes = clean(config, table, data, existing=row,
                                refuse_readonly=self.sim.opts.refuse_readonly)
                config.update(table, ident, changes)
                return Response(status=202 if request.method == "PATCH" else 204)
            if request.method == "DELETE":
                config.delete(table, ident)
                return Response(status=204)
        return method_not_allowed("GET, PATCH, PUT, DELETE")

    def _create(self, request: Request, table: str) -> Response:
        data = _body(request)
        config = self.sim.state.config
        with config.lock:
            nested = data.pop("aliases", None) if table == "conference" else None
            links = data.pop("automatic_participants", None) if table == "conference" else None
            row = clean(config, table, data, refuse_readonly=self.sim.opts.refuse_readonly)
            links = [must_exist(config, "conference", "automatic_participants", link,
                                 "automatic_participant") for link in links or []]
            for alias in nested or []:  # check nested aliases before anything is stored
                name = alias.get("alias") if isinstance(alias, dict) else alias
                if not name or config.find("conference_alias", "alias", name):
                    raise ValidationError({"conference_alias": {"alias": [
                        "This field is required." if not name else "Alias already exists."]}})
            row["creation_time"] = api_time(self.sim.opts.now())
            if table == "ivr_theme":
                row["last_updated"] = row["creation_time"]
                row["uuid"] = f"6f1c2d3e-0000-4000-8000-{config.next_id[table]:012d}"
            row.pop("id", None)
            row = config.insert(table, row)
            self._create_nested(row, nested or [], links or [])
        location = uri(table, row["id"])
        return Response(status=201, headers={"Location": location})

    def _create_nested(self, conf: dict[str, Any], aliases: list[Any], links: list[Any]) -> None:
        config = self.sim.state.config
        conf_uri = uri("conference", conf["id"])
        for alias in aliases:
            item = alias if isinstance(alias, dict) else {"alias": alias}
            config.insert("conference_alias", {"alias": item["alias"], "conference": conf_uri,
                                               "description": item.get("description", ""),
                                               "creation_time": conf["creation_time"]})
        for link in links:
            part = config.tables["automatic_participant"].get(_ident(link))
            if part is not None and conf_uri not in part["conference"]:
                config.update("automatic_participant", part["id"],
                              {"conference": [*part["conference"], conf_uri]})

    def _change_rooms(self, action: str) -> None:
        """A room deleted (the first) or added while a list is being read (an armed fault)."""
        config = self.sim.state.config
        with config.lock:
            rows = config.rows("conference")
            if action == "delete" and rows:
                config.delete("conference", rows[0]["id"])
            elif action == "add":
                data = {"name": f"Added while listing {config.next_id['conference']}"}
                row = clean(config, "conference", data)
                row["creation_time"] = api_time(self.sim.opts.now())
                config.insert("conference", row)

    def _autobackup(self, request: Request, rest: list[str]) -> Response:
        config = self.sim.state.config

        def render() -> dict[str, Any]:
            out = dict(config.autobackup, id=1, resource_uri=CONFIG + "autobackup/1/")
            for secret in AUTOBACKUP_SECRETS:  # never read back in clear
                out[secret] = nodes.encrypted(out.get(secret))
            return out

        if not rest and request.method == "GET":
            return json_response(page([render()], request.query, request.raw_path,
                                      self.sim.opts.default_page_size, self.sim.opts.max_page_size,
                                      lambda row: row))
        if rest != ["1"]:
            return not_found(request.path)
        if request.method == "GET":
            return json_response(render())
        if request.method in ("PATCH", "PUT"):
            data = _body(request)
            unknown = set(data) - set(config.autobackup) - {"id", "resource_uri"}
            if unknown:
                return json_response({"autobackup": {k: ["Unknown field."] for k in sorted(unknown)}}, 400)
            hours = data.get("autobackup_interval", config.autobackup["autobackup_interval"])
            start = data.get("autobackup_start_hour", config.autobackup["autobackup_start_hour"])
            if not (isinstance(hours, int) and 1 <= hours <= 24):
                return json_response({"autobackup": {"autobackup_interval": ["1 to 24 hours."]}}, 400)
            if not (isinstance(start, int) and 0 <= start <= 23):
                return json_response({"autobackup": {"autobackup_start_hour": ["0 to 23."]}}, 400)
            with config.lock:
                config.autobackup.update({k: v for k, v in data.items() if k in config.autobackup})
            return Response(status=202)
        return method_not_allowed("GET, PATCH")

    # -- status --------------------------------------------------------------------------
    def _status(self, request: Request, name: str, rest: list[str]) -> Response:
        if request.method != "GET":
            return method_not_allowed("GET")
        state = self.sim.state
        rows = {"management_vm": state.management_status, "worker_vm": state.worker_status,
                "alarm": state.alarms, "licensing": state.licences.status}[name]()
        if not rest:
            return self._list(request, name, rows, lambda row: row)
        match = [r for r in rows if rest == [str(r["id"])]]
        return json_response(match[0]) if match else not_found(request.path)

    def _history(self, request: Request, name: str, rest: list[str]) -> Response:
        events = self.sim.state.events
        if request.method != "GET":
            return method_not_allowed("GET")
        if name == "workervm_status_event" and not self.sim.state.release.status_events:
            return not_found(request.path)  # not in this release
        rows = events.history() if name == "alarm" else events.history_events()
        if not rest:
            return self._list(request, name, rows, lambda row: row)
        match = [r for r in rows if rest == [str(r["id"])]]
        return json_response(match[0]) if match else not_found(request.path)

    def _licence(self, request: Request, rest: list[str]) -> Response:
        rows = self.sim.state.licences.listing()
        if request.method != "GET":
            return method_not_allowed("GET")
        if not rest:
            return self._list(request, "licence", rows, lambda row: row)
        match = [r for r in rows if rest == [str(r["fulfillment_id"])]]
        return json_response(match[0]) if match else not_found(request.path)


def _body(request: Request) -> dict[str, Any]:
    try:
        data = request.json()
    except ValueError as exc:
        raise ValidationError({"error": "the request body is not valid JSON"}) from exc
    if not isinstance(data, dict):
        raise ValidationError({"error": "the request body must be a JSON object"})
    return data


def _ident(ref: Any) -> int:
    if isinstance(ref, int):
        return ref
    return id_of(str(ref)) or (int(ref) if str(ref).isdigit() else -1)


def _schema(table: str) -> dict[str, Any]:
    fields = spec(table)
    if fields is not None:
        return schema_page(table, fields)
    names = sorted(known_fields(table))
    return {"allowed_detail_http_methods": ["get", "put", "patch", "delete"],
            "allowed_list_http_methods": ["get", "post"], "default_format": "application/json",
            "default_limit": 20, "fields": {f: {"nullable": True} for f in names},
            "filtering": dict.fromkeys(names, 1), "ordering": [f for f in ORDERING if f in names]}


def _root() -> dict[str, Any]:
    return {name: {"list_endpoint": f"{CONFIG}{name}/", "schema": f"{CONFIG}{name}/schema/"}
            for name in sorted((*TABLES, *SINGLETONS))}


def _check_order(table: str, query: dict[str, str]) -> None:
    """Tastypie refuses ``order_by`` on a field the resource does not allow ordering by."""
    order = query.get("order_by")
    if order and order.lstrip("-") not in _schema(table)["ordering"]:
        raise QueryError(f"No matching '{order.lstrip('-')}' field for ordering on.")

