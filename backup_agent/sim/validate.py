"""What a create or update must look like, table by table, with the defaults the node fills in.

Errors come back in Tastypie's shape: ``{"<table>": {"<field>": ["message"]}}``.
"""

from __future__ import annotations

import re
from typing import Any

from backup_agent.sim.model import SERVICE_TYPES, Config, ValidationError, id_of, uri

PIN = re.compile(r"^[0-9]{4,20}$")

DEFAULTS: dict[str, dict[str, Any]] = {
    "conference": {
        "description": "", "service_type": "conference", "pin": "", "guest_pin": "",
        "allow_guests": False, "tag": "", "call_type": "video", "host_view": "one_main_seven_pips",
        "guest_view": None, "max_callrate_in": None, "max_callrate_out": None,
        "participant_limit": None, "ivr_theme": None, "system_location": None, "crypto_mode": "",
        "enable_chat": "default", "enable_overlay_text": False, "mute_all_guests": False,
        "guests_can_present": True, "primary_owner_email_address": "", "sync_tag": "",
    },
    "conference_alias": {"description": ""},
    "automatic_participant": {
        "description": "", "protocol": "sip", "role": "guest", "call_type": "video",
        "dtmf_sequence": "", "keep_conference_alive": "keep_conference_alive_never",
        "routing": "routing_rule", "system_location": None, "streaming": False,
        "remote_display_name": "", "presentation_url": "",
    },
    "system_location": {"description": "", "mtu": 1500, "transcoding_location": None,
                        "overflow_location1": None, "overflow_location2": None,
                        "local_mssip_domain": "", "dns_servers": [], "ntp_servers": []},
    "worker_vm": {"description": "", "domain": "", "system_location": None,
                  "ipv6_address": None, "ipv6_gateway": None,
                  "node_type": "CONFERENCING", "deployment_type": "MANUAL-ESXI",
                  "vm_cpu_count": 4, "vm_system_memory": 4096, "maintenance_mode": False,
                  "maintenance_mode_reason": "", "transcoding": True, "tls_certificate": None,
                  "static_nat_address": None},
    "ivr_theme": {"description": ""},
}
UNIQUE = {"conference": "name", "conference_alias": "alias", "system_location": "name",
          "worker_vm": "name", "ivr_theme": "name"}
REQUIRED = {"conference": ("name",), "conference_alias": ("alias", "conference"),
            "automatic_participant": ("alias", "conference"), "system_location": ("name",),
            "worker_vm": ("name", "hostname", "address", "netmask", "gateway"),
            "ivr_theme": ("name",)}
# Nested or computed on output; accepted on input only where handled.
COMPUTED = {"id", "resource_uri", "aliases", "automatic_participants", "creation_time"}


def _fail(table: str, field: str, message: str) -> ValidationError:
    return ValidationError({table: {field: [message]}})


def _must_exist(config: Config, table: str, field: str, ref: Any, target: str) -> str:
    """The canonical URI of a related object given by URI or id; 400 when it does not exist."""
    if isinstance(ref, str):
        ident = int(ref) if ref.isdigit() else id_of(ref)
    else:
        ident = ref if isinstance(ref, int) and not isinstance(ref, bool) else None
    if ident is None or ident not in config.tables[target]:
        raise _fail(table, field, f"Could not find the related {target} {ref!r}.")
    return uri(target, ident)


def clean(config: Config, table: str, data: dict[str, Any], existing: dict[str, Any] | None = None
          ) -> dict[str, Any]:
    """Check ``data`` for a create (``existing`` None) or an update; return the row fields."""
    if not isinstance(data, dict):
        raise ValidationError({"error": "the request body must be a JSON object"})
    # like Tastypie, fields the resource does not have are ignored, not stored
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
    if row["service_type"] not in SERVICE_TYPES:
        raise _fail("conference", "service_type", f"Select a valid choice: {', '.join(SERVICE_TYPES)}.")
    if len(str(row["name"])) > 250:
        raise _fail("conference", "name", "Ensure this value has at most 250 characters.")
    for field in ("pin", "guest_pin"):
        if row.get(field) and not PIN.match(str(row[field])):
            raise _fail("conference", field, "PINs are 4 to 20 digits.")
    if row.get("guest_pin") and not row.get("pin"):
        raise _fail("conference", "guest_pin", "A Guest PIN needs a Host PIN.")
    if row.get("pin") and row.get("pin") == row.get("guest_pin"):
        raise _fail("conference", "guest_pin", "The Guest PIN must differ from the Host PIN.")
    if row.get("system_location"):
        row["system_location"] = _must_exist(config, "conference", "system_location",
                                             row["system_location"], "system_location")


def _alias(config: Config, row: dict[str, Any]) -> None:
    row["conference"] = _must_exist(config, "conference_alias", "conference", row["conference"],
                                    "conference")


def _participant(config: Config, row: dict[str, Any]) -> None:
    confs = row["conference"]
    if isinstance(confs, str | int):
        confs = [confs]
    if not isinstance(confs, list):
        raise _fail("automatic_participant", "conference", "A list of conference URIs is expected.")
    row["conference"] = [_must_exist(config, "automatic_participant", "conference", ref, "conference")
                         for ref in confs]


def _worker(config: Config, row: dict[str, Any]) -> None:
    if row.get("node_type") not in ("CONFERENCING", "PROXYING", "TRANSCODING"):
        raise _fail("worker_vm", "node_type", "Select a valid choice: CONFERENCING, PROXYING.")
    if row.get("system_location"):
        row["system_location"] = _must_exist(config, "worker_vm", "system_location",
                                             row["system_location"], "system_location")


_CHECKS = {"conference": _conference, "conference_alias": _alias,
           "automatic_participant": _participant, "worker_vm": _worker}
