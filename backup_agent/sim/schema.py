"""Field specs per resource, and what is derived from them: ``<resource>/schema/``, defaults,
required, unique and read-only fields, valid choices and related tables.

One mechanism for every resource: a resource with a spec in :data:`SPECS` gets its schema
page, its write rules and its filters from it; adding a resource is one entry there (a dict
of field name -> :class:`Field`). Resources without a spec keep the small generic schema.

The attributes are those a real node's Tastypie schema lists per field (``blank``,
``default``, ``help_text``, ``nullable``, ``readonly``, ``type``, ``unique``, and
``related_type``, ``valid_choices`` where they apply), which Pexip's own CLI requires.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NO_DEFAULT = object()
LAYOUTS = ("one_main_seven_pips", "one_main_twentyone_pips", "two_mains_twentyone_pips",
           "four_mains_zero_pips", "ac_presentation_in_mix", "one_main_zero_pips",
           "one_main_thirtythree_pips", "five_mains_seven_pips")
CALL_TYPES = ("video", "video-only", "audio")


@dataclass(frozen=True)
class Field:
    """One field of a resource, as its schema describes it."""

    type: str = "string"  # string, boolean, integer, datetime, related, list
    default: Any = NO_DEFAULT
    nullable: bool = False
    blank: bool = True
    readonly: bool = False
    unique: bool = False
    required: bool = False
    choices: tuple[Any, ...] | None = None
    related: str | None = None  # the table a related field points into
    many: bool = False  # a to_many related field: a list of URIs
    help_text: str = ""

    def describe(self) -> dict[str, Any]:
        """The field's entry in ``<resource>/schema/``."""
        out: dict[str, Any] = {"blank": self.blank, "help_text": self.help_text,
                               "nullable": self.nullable, "readonly": self.readonly,
                               "type": self.type, "unique": self.unique}
        if self.default is not NO_DEFAULT:
            out["default"] = self.default
        if self.choices is not None:
            out["valid_choices"] = list(self.choices)
        if self.related:
            out["related_type"] = "to_many" if self.many else "to_one"
        return out


def _s(default: Any = "", **kw: Any) -> Field:
    return Field("string", default, **kw)


def _b(default: bool = False) -> Field:
    return Field("boolean", default)


def _i(default: Any = None, nullable: bool = True) -> Field:
    return Field("integer", default, nullable=nullable)


def _one(table: str, **kw: Any) -> Field:
    return Field("related", kw.pop("default", None), nullable=kw.pop("nullable", True),
                 related=table, **kw)


def _many(table: str, **kw: Any) -> Field:
    return Field("related", kw.pop("default", []), related=table, many=True, **kw)


def _choice(default: Any, choices: tuple[Any, ...], nullable: bool = False) -> Field:
    return Field("string", default, nullable=nullable, choices=choices)


ID = Field("integer", readonly=True, unique=True, help_text="The primary key.")
URI = Field("string", readonly=True, help_text="The object's resource URI.")
CREATED = Field("datetime", readonly=True, nullable=True, help_text="When it was created.")

CONFERENCE: dict[str, Field] = {
    "id": ID, "resource_uri": URI, "creation_time": CREATED,
    "name": _s(NO_DEFAULT, blank=False, unique=True, required=True,
               help_text="The name of the service, unique, at most 250 characters."),
    "aliases": _many("conference_alias", help_text="The aliases of this service (nested)."),
    "allow_guests": _b(),
    "automatic_participants": _many("automatic_participant"),
    "breakout_rooms": _b(),
    "call_type": _choice("video", CALL_TYPES),
    "crypto_mode": _choice("", ("", "besteffort", "on", "off"), nullable=True),
    "denoise_enabled": _b(),
    "description": _s(),
    "direct_media": _choice("never", ("never", "best_effort", "always")),
    "direct_media_notification_duration": _i(0, nullable=False),
    "enable_active_speaker_indication": _b(),
    "enable_chat": _choice("default", ("default", "yes", "no")),
    "enable_overlay_text": _b(),
    "force_presenter_into_main": _b(),
    "gms_access_token": _one("gms_access_token"),
    "guest_identity_provider_group": _one("identity_provider_group"),
    "guest_pin": _s(help_text="4 to 20 digits, optionally ending in #."),
    "guest_view": _choice(None, LAYOUTS, nullable=True),
    "guests_can_present": _b(True),
    "guests_can_see_guests": _choice("no_hosts", ("no_hosts", "always", "never")),
    "host_identity_provider_group": _one("identity_provider_group"),
    "host_view": _choice("one_main_seven_pips", LAYOUTS),
    "ivr_theme": _one("ivr_theme", help_text="A theme: a nested object when read, a URI when written."),
    "live_captions_enabled": _choice("default", ("default", "yes", "no")),
    "match_string": _s(),
    "max_callrate_in": _i(),
    "max_callrate_out": _i(),
    "max_pixels_per_second": _choice(None, ("sd", "hd", "fullhd"), nullable=True),
    "media_playlist": _one("media_playlist"),
    "mssip_proxy": _one("mssip_proxy"),
    "mute_all_guests": _b(),
    "non_idp_participants": _choice("disallow_all", ("disallow_all", "allow_if_trusted")),
    "on_completion": _s(None, nullable=True),
    "participant_limit": _i(),
    "pin": _s(help_text="4 to 20 digits, optionally ending in #."),
    "pinning_config": _s(None, nullable=True),
    "post_match_string": _s(),
    "post_replace_string": _s(),
    "primary_owner_email_address": _s(),
    "replace_string": _s(),
    "scheduled_conferences": _many("scheduled_conference"),
    "scheduled_conferences_count": Field("integer", readonly=True, help_text="Computed."),
    "service_type": _choice("conference", ("conference", "lecture", "two_stage_dialing",
                                           "test_call", "media_playback")),
    "softmute_enabled": _b(),
    "sync_tag": Field("string", "", readonly=True, help_text="Set by LDAP sync."),
    "system_location": _one("system_location"),
    "tag": _s(),
    "teams_proxy": _one("teams_proxy"),
    "two_stage_dial_type": _choice("regular", ("regular", "msteams", "gms")),
}

CONFERENCE_ALIAS: dict[str, Field] = {
    "id": ID, "resource_uri": URI, "creation_time": CREATED,
    "alias": _s(NO_DEFAULT, blank=False, unique=True, required=True),
    "conference": _one("conference", default=NO_DEFAULT, nullable=False, required=True),
    "description": _s(),
}

AUTOMATIC_PARTICIPANT: dict[str, Field] = {
    "id": ID, "resource_uri": URI, "creation_time": CREATED,
    "alias": _s(NO_DEFAULT, blank=False, required=True, help_text="The address dialled."),
    "call_type": _choice("video", CALL_TYPES),
    "conference": _many("conference", default=NO_DEFAULT, required=True),
    "description": _s(),
    "dtmf_sequence": _s(),
    "keep_conference_alive": _choice("keep_conference_alive_never", (
        "keep_conference_alive", "keep_conference_alive_if_multiple", "keep_conference_alive_never")),
    "presentation_url": _s(),
    "protocol": _choice("sip", ("sip", "h323", "rtmp", "mssip", "auto")),
    "remote_display_name": _s(),
    "role": _choice("guest", ("chair", "guest")),
    "routing": _choice("routing_rule", ("manual", "routing_rule")),
    "streaming": _b(),
    "system_location": _one("system_location", help_text="Where the call is placed from."),
}

IVR_THEME: dict[str, Field] = {
    "id": ID, "resource_uri": URI,
    "name": _s(NO_DEFAULT, blank=False, unique=True, required=True),
    "uuid": Field("string", readonly=True),
    "conference": Field("related", readonly=True, related="conference", many=True,
                        help_text="The services using this theme (computed)."),
    "custom_layouts": _s(),
    "pinning_configs": _s(),
    "last_updated": Field("datetime", readonly=True, nullable=True),
}

SYSTEM_LOCATION: dict[str, Field] = {
    "id": ID, "resource_uri": URI,
    "name": _s(NO_DEFAULT, blank=False, unique=True, required=True),
    "description": _s(),
    "mtu": _i(1500, nullable=False),
    "transcoding_location": _one("system_location"),
    "overflow_location1": _one("system_location"),
    "overflow_location2": _one("system_location"),
    "local_mssip_domain": _s(),
    "dns_servers": _many("dns_server"),
    "ntp_servers": _many("ntp_server"),
}

#: resource -> its fields. Adding a resource (say ``worker_vm``) is one entry here.
SPECS: dict[str, dict[str, Field]] = {
    "conference": CONFERENCE, "conference_alias": CONFERENCE_ALIAS,
    "automatic_participant": AUTOMATIC_PARTICIPANT, "ivr_theme": IVR_THEME,
    "system_location": SYSTEM_LOCATION,
}
#: Fields a list may be ordered by (``order_by``), per resource; others answer 400.
ORDERING = ("id", "name", "alias", "creation_time", "service_type", "tag")


def spec(table: str) -> dict[str, Field] | None:
    """The field spec of ``table``, or None when it has none."""
    return SPECS.get(table)


def defaults(table: str, readonly: bool = False) -> dict[str, Any]:
    """Writable fields with a default (copies of mutable ones); ``readonly``: read-only ones
    with a default too (what a new object starts with)."""
    out = {}
    for name, f in (SPECS.get(table) or {}).items():
        if (readonly or not f.readonly) and not f.required and f.default is not NO_DEFAULT:
            out[name] = list(f.default) if isinstance(f.default, list) else f.default
    return out


def readonly(table: str) -> set[str]:
    """Fields a write may not set."""
    return {n for n, f in (SPECS.get(table) or {}).items() if f.readonly}


def related(table: str) -> dict[str, Field]:
    """Writable related fields (URIs, or lists of URIs)."""
    return {n: f for n, f in (SPECS.get(table) or {}).items() if f.related and not f.readonly}


def schema_page(table: str, fields: dict[str, Field]) -> dict[str, Any]:
    """The ``<resource>/schema/`` answer of a resource with a spec."""
    names = sorted(fields)
    return {"allowed_detail_http_methods": ["get", "put", "patch", "delete"],
            "allowed_list_http_methods": ["get", "post", "patch"],
            "default_format": "application/json", "default_limit": 20,
            "fields": {n: fields[n].describe() for n in names},
            "filtering": dict.fromkeys((n for n in names if fields[n].type != "list"), 1),
            "ordering": [n for n in ORDERING if n in fields]}
