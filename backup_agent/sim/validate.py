"""What a create or update must look like, table by table, with the defaults the node fills in.

Errors come back in Tastypie's shape: ``{"<table>": {"<field>": ["message"]}}``.
"""

from __future__ import annotations

import re
from typing import Any

from backup_agent.sim.model import Config, ValidationError, id_of, uri
from backup_agent.sim.schema import Field, defaults, readonly, spec

PIN = re.compile(r"^[0-9]{4,20}#?$")

# Resources without a field spec (backup_agent.sim.schema): their defaults, required and
# unique fields. A resource with a spec takes all of that from its spec instead.
DEFAULTS: dict[str, dict[str, Any]] = {
    "worker_vm": {"description": "", "domain": "", "system_location": None,
                  "ipv6_address": None, "ipv6_gateway": None,
                  "node_type": "CONFERENCING", "deployment_type": "MANUAL-ESXI",
                  "vm_cpu_count": 4, "vm_system_memory": 4096, "maintenance_mode": False,
                  "maintenance_mode_reason": "", "transcoding": True, "tls_certificate": None,
                  "static_nat_address": None},
}
UNIQUE = {"worker_vm": "name"}
REQUIRED = {"worker_vm": ("name", "hostname", "address", "netmask", "gateway")}
# Nested or computed on output; accepted on input only where handled.
COMPUTED = {"id", "resource_uri", "aliases", "automatic_participants", "creation_time"}
# Written by the conference route itself (nested aliases, participant links).
NESTED = {"conference": ("aliases", "automatic_participants")}


def _fail(table: str, field: str, message: str) -> ValidationError:
    return ValidationError({table: {field: [message]}})


def known_fields(table: str) -> set[str]:
    """Every field of ``table`` (what a list may filter on)."""
    fields = spec(table)
    if fields is not None:
        return set(fields)
    return {"id", "resource_uri", "creation_time", *DEFAULTS.get(table, {}), *REQUIRED.get(table, ())}


def must_exist(config: Config, table: str, field: str, ref: Any, target: str) -> str:
    """The canonical URI of a related object given by URI, id or nested object (read by its
    ``resource_uri``, as Tastypie does); 400 when it does not exist."""
    if isinstance(ref, dict):
        ref = ref.get("resource_uri") or ref.get("id")
    if isinstance(ref, str):
        ident = int(ref) if ref.isdigit() else id_of(ref)
        if ident is not None and ref.startswith("/api/") and f"/{target}/" not in ref:
            ident = None  # a URI of another resource
    else:
        ident = ref if isinstance(ref, int) and not isinstance(ref, bool) else None
    if ident is None or ident not in config.tables.get(target, {}):
        raise _fail(table, field, f"Could not find the related {target} {ref!r}.")
    return uri(target, ident)


def clean(config: Config, table: str, data: dict[str, Any], existing: dict[str, Any] | None = None,
          refuse_readonly: bool = False) -> dict[str, Any]:
    """Check ``data`` for a create (``existing`` None) or an update; return the row fields.

    Read-only fields are ignored, as Tastypie does, or refused (400) with ``refuse_readonly``.
    """
    if not isinstance(data, dict):
        raise ValidationError({"error": "the request body must be a JSON object"})
    fields = spec(table)
    if fields is None:
        return _clean_plain(config, table, data, existing)
    ro = readonly(table)
    if refuse_readonly:
        for name in sorted(set(data) & ro):
            raise _fail(table, name, "This field is read-only.")
    nested = NESTED.get(table, ())
    # like Tastypie, fields the resource does not have are ignored, not stored
    row = {k: v for k, v in data.items() if k in fields and k not in ro and k not in nested}
    merged = {**defaults(table, readonly=existing is None), **(existing or {}), **row}
    for name, f in fields.items():
        if f.required and merged.get(name) in (None, "", []):
            raise _fail(table, name, "This field is required.")
    for name in row:
        _check_field(config, table, name, fields[name], merged)
        if fields[name].unique:
            other = config.find(table, name, merged[name])
            if other is not None and (existing is None or other["id"] != existing["id"]):
                raise _fail(table, name, f"{table} with this {name} already exists.")
    check = _CHECKS.get(table)
    if check:
        check(config, merged)
    return merged if existing is None else {k: merged[k] for k in row}


def _check_field(config: Config, table: str, name: str, f: Field, row: dict[str, Any]) -> None:
    """One written field against its spec: choices, type of lists, related objects that exist."""
    value = row[name]
    if value is None:
        if not f.nullable and not f.many:
            raise _fail(table, name, "This field may not be null.")
        return
    if f.choices is not None and value not in f.choices:
        raise _fail(table, name, f"Select a valid choice. {value!r} is not one of the available choices.")
    if not f.related:
        return
    if f.many:
        refs = [value] if isinstance(value, str | int) else value
        if not isinstance(refs, list):
            raise _fail(table, name, "A list of resource URIs is expected.")
        row[name] = [must_exist(config, table, name, r, f.related) for r in refs]
    else:
        row[name] = must_exist(config, table, name, value, f.related)


def _clean_plain(config: Config, table: str, data: dict[str, Any],
                 existing: dict[str, Any] | None) -> dict[str, Any]:
    """A resource without a field spec: its defaults, required and unique field only."""
    known = set(DEFAULTS.get(table, {})) | set(REQUIRED.get(table, ()))
    row = {k: v for k, v in data.items() if k in known and k not in COMPUTED}
    merged = {**DEFAULTS.get(table, {}), **(existing or {}), **row}
    for field in REQUIRED.get(table, ()):
        if merged.get(field) in (None, "", []):
            raise _fail(table, field, "This field is required.")
    unique = UNIQUE.get(table)
    if unique and unique in row:
        other = config.find(table, unique, row[unique])
        if other is not None and (existing is None or other["id"] != existing["id"]):
            raise _fail(table, unique, f"{table} with this {unique} already exists.")
    check = _CHECKS.get(table)
    if check:
        check(config, merged)
    return merged if existing is None else {k: merged[k] for k in row}


def _conference(config: Config, row: dict[str, Any]) -> None:
    if len(str(row["name"])) > 250:
        raise _fail("conference", "name", "Ensure this value has at most 250 characters.")
    for field in ("pin", "guest_pin"):
        if row.get(field) and not PIN.match(str(row[field])):
            raise _fail("conference", field, "PINs are 4 to 20 digits, optionally ending in #.")
    if row.get("guest_pin") and not row.get("pin"):
        raise _fail("conference", "guest_pin", "A Guest PIN needs a Host PIN.")
    if row.get("pin") and row.get("pin") == row.get("guest_pin"):
        raise _fail("conference", "guest_pin", "The Guest PIN must differ from the Host PIN.")


def _worker(config: Config, row: dict[str, Any]) -> None:
    if row.get("node_type") not in ("CONFERENCING", "PROXYING", "TRANSCODING"):
        raise _fail("worker_vm", "node_type", "Select a valid choice: CONFERENCING, PROXYING.")
    if row.get("system_location"):
        row["system_location"] = must_exist(config, "worker_vm", "system_location",
                                             row["system_location"], "system_location")


_CHECKS = {"conference": _conference, "worker_vm": _worker}
