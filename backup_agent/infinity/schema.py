"""What a Management Node says about a resource: ``<resource>/schema/``.

The schema lists every field with its attributes (``readonly``, ``type``, ``nullable``,
``related_type``...) and the fields a list may be ordered by: the only safe way to know which
fields a given release accepts on a write. Bodies built from :func:`writable_fields` never
carry read-only or computed fields (``creation_time``, ``sync_tag``, counts, ids), and never
fields this release does not have.

A schema is read once per deployment, resource and software version (an upgrade may add
fields) and cached for the process. A node that answers no usable schema (an old release, a
proxy) gets the built-in lists below, read from current releases.
"""

from __future__ import annotations

import logging
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any, Protocol

from backup_agent.config import Deployment
from backup_agent.errors import ApiError, AuthError, ConnectError

log = logging.getLogger(__name__)
CONFIG = "configuration/v1/"
MANAGEMENT_VM_STATUS = "status/v1/management_vm/"
#: Never written, whatever a schema says: they name the object on the node it came from.
ALWAYS_READONLY = frozenset({"id", "resource_uri", "creation_time"})

#: Writable fields on current releases, for nodes that answer no schema.
BUILT_IN: dict[str, frozenset[str]] = {
    # worker_vm: from a current node's own schema; secrets are writable, never read back.
    "worker_vm": frozenset({
    "name", "description", "hostname", "domain", "address", "netmask", "gateway",
    "ipv6_address", "ipv6_gateway", "secondary_address", "secondary_netmask",
    "static_nat_address", "static_routes", "alternative_fqdn", "node_type", "system_location",
    "deployment_type", "vm_cpu_count", "vm_system_memory", "transcoding", "cloud_bursting",
    "maintenance_mode", "maintenance_mode_reason", "media_priority_weight",
    "enable_distributed_database", "enable_ssh", "ssh_authorized_keys",
    "ssh_authorized_keys_use_cloud", "tls_certificate", "tls_client_certificate", "password",
    "snmp_mode", "snmp_community", "snmp_username", "snmp_authentication_password",
    "snmp_privacy_password", "snmp_system_contact", "snmp_system_location", "service_manager",
    "service_policy", "signalling"
    }),
    "conference": frozenset({
        "name", "aliases", "allow_guests", "automatic_participants", "breakout_rooms", "call_type",
        "crypto_mode", "denoise_enabled", "description", "direct_media",
        "direct_media_notification_duration", "enable_active_speaker_indication", "enable_chat",
        "enable_overlay_text", "force_presenter_into_main", "gms_access_token",
        "guest_identity_provider_group", "guest_pin", "guest_view", "guests_can_present",
        "guests_can_see_guests", "host_identity_provider_group", "host_view", "ivr_theme",
        "live_captions_enabled", "match_string", "max_callrate_in", "max_callrate_out",
        "max_pixels_per_second", "media_playlist", "mssip_proxy", "mute_all_guests",
        "non_idp_participants", "on_completion", "participant_limit", "pin", "pinning_config",
        "post_match_string", "post_replace_string", "primary_owner_email_address",
        "replace_string", "scheduled_conferences", "service_type", "softmute_enabled",
        "system_location", "tag", "teams_proxy", "two_stage_dial_type"}),
    "conference_alias": frozenset({"alias", "conference", "description"}),
    "automatic_participant": frozenset({
        "alias", "call_type", "conference", "description", "dtmf_sequence",
        "keep_conference_alive", "presentation_url", "protocol", "remote_display_name", "role",
        "routing", "streaming", "system_location"}),
    "ivr_theme": frozenset({"name", "custom_layouts", "pinning_configs"}),
    "system_location": frozenset({
        "name", "description", "mtu", "transcoding_location", "overflow_location1",
        "overflow_location2", "local_mssip_domain", "dns_servers", "ntp_servers"}),
}


class _Client(Protocol):
    deployment: Deployment

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any: ...


@dataclass(frozen=True)
class ResourceSchema:
    """A resource as one node describes it (or the built-in reading, ``from_node`` False)."""

    resource: str
    writable: frozenset[str]
    ordering: frozenset[str] = frozenset()
    related: dict[str, str] = field(default_factory=dict)  # field -> to_one | to_many
    from_node: bool = True


_cache: dict[tuple[str, str, str], ResourceSchema] = {}
_lock = threading.Lock()
# The software version per client (a client lives for one run): one status request per run,
# not one per schema lookup.
_versions: weakref.WeakKeyDictionary[Any, str | None] = weakref.WeakKeyDictionary()


def writable_fields(client: _Client, resource: str) -> frozenset[str]:
    """The fields of ``resource`` (``"conference"``) that a POST or PATCH to this node may carry.

    From the node's ``<resource>/schema/`` (fields not ``readonly``), cached per software
    version; the built-in list when the node answers no usable schema.
    """
    return resource_schema(client, resource).writable


def stable_order(client: _Client, resource: str) -> dict[str, str]:
    """List parameters that give a stable order (``order_by=id``) when the schema allows it."""
    schema = resource_schema(client, resource)
    return {"order_by": "id"} if "id" in schema.ordering else {}


def resource_schema(client: _Client, resource: str) -> ResourceSchema:
    """The schema of ``resource`` on ``client``'s node, read once per software version."""
    version = _version(client)
    key = (client.deployment.url, version or "", resource)
    with _lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    schema = _read(client, resource)
    if version is not None:  # an unknown version could be anything after an upgrade
        with _lock:
            _cache[key] = schema
    return schema


def clear_cache() -> None:
    """Forget every schema read (tests; a long-lived process after an upgrade is handled by
    the version in the key)."""
    with _lock:
        _cache.clear()
        _versions.clear()


def note_version(client: _Client, managers: list[dict[str, Any]]) -> None:
    """Remember the software version from ``status/v1/management_vm/`` as another read of
    this client had it (the inventory's, just before the export): the schema lookups then ask
    no status of their own (one request less before the export's first page)."""
    first = managers[0] if managers else None
    version = first.get("version") if isinstance(first, dict) else None
    if version is None:
        return
    try:
        with _lock:
            _versions[client] = str(version)
    except TypeError:  # a client that cannot be weakly referenced is asked every time
        pass


def _version(client: _Client) -> str | None:
    try:
        with _lock:
            if client in _versions:
                return _versions[client]
    except TypeError:  # a client that cannot be weakly referenced is asked every time
        return _ask_version(client)
    version = _ask_version(client)
    if version is not None:
        with _lock:
            _versions[client] = version
    return version


def _ask_version(client: _Client) -> str | None:
    try:
        answer = client.get(MANAGEMENT_VM_STATUS)
    except (ConnectError, AuthError):
        raise
    except ApiError:
        return None
    objects = answer.get("objects") if isinstance(answer, dict) else None
    if isinstance(objects, list) and objects and isinstance(objects[0], dict):
        version = objects[0].get("version")
        return str(version) if version is not None else None
    return None


def _read(client: _Client, resource: str) -> ResourceSchema:
    try:
        answer = client.get(f"{CONFIG}{resource}/schema/")
    except (ConnectError, AuthError):
        raise  # a node that is down or refuses us is not a node without a schema
    except ApiError as exc:
        return _built_in(client, resource, str(exc))
    fields = answer.get("fields") if isinstance(answer, dict) else None
    if not isinstance(fields, dict) or not fields or \
            not all(isinstance(f, dict) for f in fields.values()):
        return _built_in(client, resource, "the answer has no fields")
    writable = frozenset(n for n, f in fields.items()
                         if f.get("readonly") is not True and n not in ALWAYS_READONLY)
    related = {n: str(f.get("related_type") or "to_one") for n, f in fields.items()
               if f.get("type") == "related"}
    ordering = answer.get("ordering")
    return ResourceSchema(resource, writable, frozenset(
        str(o) for o in ordering) if isinstance(ordering, list) else frozenset(), related)


def _built_in(client: _Client, resource: str, why: str) -> ResourceSchema:
    log.info("deployment %s: no usable %s/schema/ (%s); using the built-in field list",
             client.deployment.name, resource, why)
    known = BUILT_IN.get(resource)
    if known is None:
        raise ApiError(f"deployment {client.deployment.name}: {resource}/schema/ gave no usable "
                       f"schema ({why}) and there is no built-in field list for {resource}")
    # Without a schema, asking for an order the node may refuse is a risk not worth taking.
    return ResourceSchema(resource, known, frozenset(), {}, from_node=False)
