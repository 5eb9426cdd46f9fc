"""``configuration/v1/worker_vm/``: Conferencing Node definitions with a real node's field set.

A real node answers about 44 fields per definition (infinity-api.md, "Real answers"), secrets
among them, read back encrypted (``$~!1...``) or blank, never in clear. ``WORKER_VM_FIELDS`` is
the field spec as data (type, default, nullable, readonly, secret, choices): it renders the
definitions, checks writes (read-only fields are ignored, as Tastypie does) and serves
``worker_vm/schema/``. The generic ``<resource>/schema/`` mechanism takes this spec as it is.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple
from xml.sax.saxutils import escape

from backup_agent.sim.http import Request, Response, json_response, method_not_allowed, not_found
from backup_agent.sim.model import ValidationError, uri
from backup_agent.sim.query import page_json, select
from backup_agent.sim.validate import clean

if TYPE_CHECKING:
    from backup_agent.sim.simulator import Simulator

TABLE = "worker_vm"
ENCRYPTED = "$~!1"  # the prefix real nodes put on a secret read back


class Field(NamedTuple):
    """One field of a resource as ``<resource>/schema/`` describes it."""

    type: str
    default: Any = None
    nullable: bool = False
    readonly: bool = False
    secret: bool = False
    choices: tuple[str, ...] = ()
    unique: bool = False
    help_text: str = ""


NODE_TYPES = ("CONFERENCING", "PROXYING", "TRANSCODING")
DEPLOYMENT_TYPES = ("MANUAL-ESXI", "MANUAL-HYPERV2012", "MANUAL-KVM", "MANUAL-XENSERVER",
                    "MANUAL-PROVISION-ONLY", "VMWARE", "AWS", "AZURE", "GCP")
STR, INT, BOOL, LIST, REL = "string", "integer", "boolean", "list", "related"
WORKER_VM_FIELDS: dict[str, Field] = {
    "id": Field(INT, readonly=True, unique=True),
    "name": Field(STR, unique=True, help_text="The name of this Conferencing Node."),
    "description": Field(STR, ""),
    "hostname": Field(STR), "domain": Field(STR, ""),
    "address": Field(STR, unique=True, help_text="The IPv4 address of this Conferencing Node."),
    "netmask": Field(STR), "gateway": Field(STR),
    "ipv6_address": Field(STR, None, nullable=True), "ipv6_gateway": Field(STR, None, nullable=True),
    "secondary_address": Field(STR, None, nullable=True),
    "secondary_netmask": Field(STR, None, nullable=True),
    "static_nat_address": Field(STR, None, nullable=True),
    "static_routes": Field(LIST, []), "alternative_fqdn": Field(STR, ""),
    "node_type": Field(STR, "CONFERENCING", choices=NODE_TYPES),
    "system_location": Field(REL, help_text="The system location of this Conferencing Node."),
    "deployment_type": Field(STR, "MANUAL-ESXI", choices=DEPLOYMENT_TYPES),
    "vm_cpu_count": Field(INT, 4), "vm_system_memory": Field(INT, 4096),
    "transcoding": Field(BOOL, True), "cloud_bursting": Field(BOOL, False),
    "maintenance_mode": Field(BOOL, False), "maintenance_mode_reason": Field(STR, ""),
    "media_priority_weight": Field(INT, None, nullable=True),
    "enable_distributed_database": Field(BOOL, True), "enable_ssh": Field(STR, "GLOBAL",
                                                                       choices=("GLOBAL", "OFF", "ON")),
    "ssh_authorized_keys": Field(LIST, []), "ssh_authorized_keys_use_cloud": Field(BOOL, True),
    "tls_certificate": Field(REL, None, nullable=True),
    "tls_client_certificate": Field(REL, None, nullable=True),
    "password": Field(STR, "", secret=True, help_text="The password of the node's admin account."),
    "snmp_mode": Field(STR, "DISABLED", choices=("DISABLED", "STANDARD", "AUTHPRIV")),
    "snmp_community": Field(STR, "public"),
    "snmp_username": Field(STR, ""),
    "snmp_authentication_password": Field(STR, "", secret=True),
    "snmp_privacy_password": Field(STR, "", secret=True),
    "snmp_system_contact": Field(STR, "admin@domain.com"),
    "snmp_system_location": Field(STR, "Virtual machine"),
    "service_manager": Field(BOOL, True), "service_policy": Field(BOOL, True),
    "signalling": Field(BOOL, True),
    "managed": Field(BOOL, False, readonly=True, help_text="Managed by dynamic bursting."),
    "resource_uri": Field(STR, readonly=True),
}
REQUIRED = ("name", "hostname", "address", "netmask", "gateway", "system_location")


def encrypted(value: Any) -> str:
    """A secret as a real node reads it back: blank stays blank, anything else ``$~!1...``."""
    if not value:
        return ""
    digest = hashlib.sha256(b"sim-secret:" + str(value).encode()).digest()
    return ENCRYPTED + base64.b64encode(digest[:18]).decode()


def render(row: dict[str, Any]) -> dict[str, Any]:
    """One stored definition as GET answers it: every field, secrets encrypted."""
    out: dict[str, Any] = {}
    for name, spec in WORKER_VM_FIELDS.items():
        value = row.get(name, spec.default)
        out[name] = encrypted(value) if spec.secret else value
    out["resource_uri"] = uri(TABLE, row["id"])
    return out


def schema() -> dict[str, Any]:
    """``worker_vm/schema/`` as Tastypie answers it (the per-field attributes pexshell reads)."""
    fields = {}
    for name, f in WORKER_VM_FIELDS.items():
        item: dict[str, Any] = {"blank": not f.readonly and name not in REQUIRED,
                                "help_text": f.help_text, "nullable": f.nullable,
                                "readonly": f.readonly, "type": f.type, "unique": f.unique,
                                "default": f.default if f.default is not None else "No default provided."}
        if f.choices:
            item["valid_choices"] = list(f.choices)
        fields[name] = item
    return {"allowed_detail_http_methods": ["get", "put", "patch", "delete"],
            "allowed_list_http_methods": ["get", "post"], "default_format": "application/json",
            "default_limit": 20, "fields": fields,
            "filtering": {k: 1 for k, f in WORKER_VM_FIELDS.items() if not f.secret},
            "ordering": ["id", "name", "address"]}


def _writable(data: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
    """The fields a write may set: read-only and unknown ones are ignored, choices checked."""
    out = {}
    for name, value in data.items():
        spec = WORKER_VM_FIELDS.get(name)
        if spec is None or spec.readonly:
            continue
        if spec.choices and value not in spec.choices:
            raise ValidationError({TABLE: {name: [f"Select a valid choice. {value!r} is not one "
                                                  "of the available choices."]}})
        out[name] = value
    if existing is None:
        for name in REQUIRED:
            if out.get(name) in (None, ""):
                raise ValidationError({TABLE: {name: ["This field is required."]}})
    return out


def route(sim: Simulator, request: Request, rest: list[str]) -> Response:
    """``configuration/v1/worker_vm/``: list, create, item, ``schema/``."""
    if rest == ["schema"]:
        return json_response(schema())
    if not rest:
        if request.method == "GET":
            return _list(sim, request)
        if request.method == "POST":
            return _create(sim, request)
        return method_not_allowed("GET, POST")
    if len(rest) != 1 or not rest[0].isdigit():
        return not_found(request.path)
    return _item(sim, request, int(rest[0]))


def _list(sim: Simulator, request: Request) -> Response:
    config = sim.state.config
    with config.lock:
        rows = [render(r) for r in config.rows(TABLE)]
        selected = select(rows, request.query, set(WORKER_VM_FIELDS))
        body = page_json(selected, request.query, request.raw_path, sim.opts.default_page_size,
                         sim.opts.max_page_size, lambda row: _dumps(row))
    return Response(body=body)


def _dumps(row: dict[str, Any]) -> bytes:
    return json.dumps(row).encode()


def _body(request: Request) -> dict[str, Any]:
    try:
        data = request.json()
    except ValueError as exc:
        raise ValidationError({"error": "the request body is not valid JSON"}) from exc
    if not isinstance(data, dict):
        raise ValidationError({"error": "the request body must be a JSON object"})
    return data


def _create(sim: Simulator, request: Request) -> Response:
    config = sim.state.config
    data = _writable(_body(request), None)
    with config.lock:
        row = clean(config, TABLE, data)  # uniqueness, node type, the location must exist
        row.update({k: v for k, v in data.items() if k not in row})
        row.pop("id", None)
        row = config.insert(TABLE, row)
    sim.state.node_added(row)
    location = uri(TABLE, row["id"])
    if row.get("deployment_type") == "MANUAL-PROVISION-ONLY":
        return Response(status=201, body=provisioning_xml(row, sim.opts.now()),
                        content_type="application/xml", headers={"Location": location})
    return Response(status=201, headers={"Location": location})


def _item(sim: Simulator, request: Request, ident: int) -> Response:
    config = sim.state.config
    with config.lock:
        row = config.tables[TABLE].get(ident)
        if row is None:
            return not_found(request.path)
        if request.method == "GET":
            return json_response(render(row))
        if request.method in ("PATCH", "PUT"):
            data = _writable(_body(request), row)
            changes = clean(config, TABLE, data, existing=row)
            changes.update({k: v for k, v in data.items() if k not in changes})
            config.update(TABLE, ident, changes)
            return Response(status=202 if request.method == "PATCH" else 204)
        if request.method == "DELETE":
            config.delete(TABLE, ident)
            sim.state.node_removed(row)
            return Response(status=204)
    return method_not_allowed("GET, PATCH, PUT, DELETE")


def provisioning_xml(row: dict[str, Any], now: datetime) -> bytes:
    """The configuration-only deployment file a ``MANUAL-PROVISION-ONLY`` create answers."""
    values = {k: row.get(k) for k in ("name", "hostname", "domain", "address", "netmask", "gateway",
                                      "node_type", "system_location", "vm_cpu_count",
                                      "vm_system_memory")}
    items = "".join(f"  <{k}>{escape(str(v if v is not None else ''))}</{k}>\n" for k, v in values.items())
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<pexip-node-configuration generated="'
            f'{now.isoformat()}">\n{items}</pexip-node-configuration>\n').encode()
