"""Real answer shapes replayed through the client, the export and the import.

The fixtures are written from the facts in shared/infinity-api.md ("Real answers"), not
copied from any capture: a conference embeds its automatic participants without location,
``ivr_theme`` is a nested object, ``scheduled_conferences`` a list of URIs, ``sync_tag`` and
``scheduled_conferences_count`` are read-only, create answers 201 with an empty body and a
Location path. The source and the target are two small HTTP servers; the target records
what it is sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from backup_agent.config import Deployment, Secret
from backup_agent.infinity import InfinityClient, schema
from backup_agent.jobs.export import read_rooms
from backup_agent.jobs.import_rooms import import_rooms
from tests.infinity.peers import Handler, LocalServer

C = "/api/admin/configuration/v1/"
EMBEDDED = {"id": 7, "alias": "sip:recorder@rec.example.com", "call_type": "video",
            "creation_time": "2026-03-02T10:00:00.000000", "description": "Recorder",
            "dtmf_sequence": "", "keep_conference_alive": "keep_conference_alive_never",
            "presentation_url": "", "protocol": "sip", "remote_display_name": "Recorder",
            "role": "guest", "routing": "manual", "streaming": False}
STANDALONE = {**EMBEDDED, "conference": [C + "conference/11/"],
              "system_location": C + "system_location/2/",
              "resource_uri": C + "automatic_participant/7/"}
ROOM = {"id": 11, "name": "Board room", "service_type": "conference", "pin": "2468#",
        "guest_pin": "", "allow_guests": False, "description": "", "tag": "board",
        "ivr_theme": {"id": 3, "name": "Corporate", "resource_uri": C + "ivr_theme/3/"},
        "system_location": None, "scheduled_conferences": [C + "scheduled_conference/5/"],
        "scheduled_conferences_count": 1, "sync_tag": "ldap-1",
        "creation_time": "2026-03-02T09:59:00.000000", "denoise_enabled": True,
        "automatic_participants": [EMBEDDED], "resource_uri": C + "conference/11/",
        "aliases": [{"alias": "board@example.com", "conference": C + "conference/11/",
                     "creation_time": "2026-03-02T09:59:00.000000", "description": "", "id": 21}]}
ALIAS = {**ROOM["aliases"][0], "resource_uri": C + "conference_alias/21/"}  # type: ignore[index]
WRITABLE = {"name", "service_type", "pin", "guest_pin", "allow_guests", "description", "tag",
            "ivr_theme", "system_location", "scheduled_conferences", "denoise_enabled",
            "aliases", "automatic_participants"}
READ_ONLY = {"id", "resource_uri", "creation_time", "sync_tag", "scheduled_conferences_count"}
PART_WRITABLE = {"alias", "call_type", "conference", "description", "dtmf_sequence",
                 "keep_conference_alive", "presentation_url", "protocol", "remote_display_name",
                 "role", "routing", "streaming", "system_location"}


RELATED = {"ivr_theme", "system_location", "scheduled_conferences", "aliases",
           "automatic_participants", "conference"}


def _schema(writable: set[str], readonly: set[str]) -> dict[str, Any]:
    def field(name: str, ro: bool) -> dict[str, Any]:
        return {"blank": True, "default": "", "help_text": "", "nullable": True, "readonly": ro,
                "type": "related" if name in RELATED else "string",
                "unique": name == "name"}
    return {"default_limit": 20, "ordering": ["id", "name"],
            "fields": {**{n: field(n, False) for n in writable}, **{n: field(n, True) for n in readonly}}}


def _list(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return {"meta": {"limit": 500, "offset": 0, "total_count": len(objects), "next": None,
                     "previous": None}, "objects": objects}


class Node:
    """A node answering from ``lists`` (resource -> objects) and ``schemas``; POSTs recorded."""

    def __init__(self, lists: dict[str, list[dict[str, Any]]], schemas: dict[str, Any]) -> None:
        self.lists, self.schemas = lists, schemas
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def __call__(self, h: Handler) -> tuple[int, dict[str, str], bytes]:
        path = urlsplit(h.path).path
        if path.endswith("status/v1/management_vm/"):
            return 200, {}, json.dumps(_list([{"name": "mgr", "version": "24 (55691.0.0)"}])).encode()
        resource, _, rest = path[len(C):].partition("/")
        if h.command == "POST":
            with self.lock:
                self.posts.append((resource, json.loads(h.body())))
                return 201, {"Location": f"{C}{resource}/{100 + len(self.posts)}/"}, b""
        if rest == "schema/" and resource in self.schemas:
            return 200, {}, json.dumps(self.schemas[resource]).encode()
        if rest == "" and resource in self.lists:
            return 200, {}, json.dumps(_list(self.lists[resource])).encode()
        return 404, {}, b'{"error": "not found"}'


SOURCE = Node({
    "conference": [ROOM], "conference_alias": [ALIAS], "automatic_participant": [STANDALONE],
    "system_location": [{"id": 2, "name": "Oslo", "resource_uri": C + "system_location/2/"}],
    "ivr_theme": [{"id": 3, "name": "Corporate", "resource_uri": C + "ivr_theme/3/"}],
    "scheduled_conference": [{"id": 5, "name": "Weekly", "resource_uri": C + "scheduled_conference/5/"}],
}, {})


def _target() -> Node:
    return Node({
        "conference": [], "conference_alias": [], "automatic_participant": [],
        "system_location": [{"id": 9, "name": "Oslo", "resource_uri": C + "system_location/9/"}],
        "ivr_theme": [{"id": 4, "name": "Corporate", "resource_uri": C + "ivr_theme/4/"}],
    }, {"conference": _schema(WRITABLE, READ_ONLY),
        "automatic_participant": _schema(PART_WRITABLE, {"id", "resource_uri", "creation_time"})})


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Callable[[str], InfinityClient]]:
    (tmp_path / "pw").write_text("replay-pw")
    made: list[InfinityClient] = []
    schema.clear_cache()

    def make(url: str) -> InfinityClient:
        made.append(InfinityClient(Deployment(name="prod", url=url, retries=0, password=Secret(
            "pw", file=str(tmp_path / "pw")))))
        return made[-1]

    yield make
    for client in made:
        client.close()
    schema.clear_cache()


def test_real_shapes_export_then_import(make_client: Callable[[str], InfinityClient]) -> None:
    with LocalServer(SOURCE) as src:
        rooms = read_rooms(make_client(src.url))
    [room] = rooms
    [part] = room["automatic_participants"]
    assert part["system_location"] == {"id": 2, "name": "Oslo",
                                       "resource_uri": C + "system_location/2/"}, "whole, named"
    assert room["scheduled_conferences"][0]["name"] == "Weekly"
    target = _target()
    with LocalServer(target) as dst:
        result = import_rooms(make_client(dst.url), rooms)
    (kind, body), (part_kind, part_body) = target.posts
    assert kind == "conference" and part_kind == "automatic_participant"
    assert set(body) <= WRITABLE and not READ_ONLY & set(body)
    assert body["ivr_theme"] == C + "ivr_theme/4/", "the target's theme, as a URI"
    assert body["scheduled_conferences"] == [], "the source's scheduled conference is not there"
    assert body["pin"] == "2468#" and body["aliases"] == [{"alias": "board@example.com", "description": ""}]
    assert part_body["system_location"] == C + "system_location/9/"
    assert part_body["conference"] == [C + "conference/101/"]
    assert set(part_body) <= PART_WRITABLE
    assert result.dropped == [{"room": "Board room", "field": "scheduled_conferences",
                               "reference": "Weekly"}]


def test_only_related_fields_are_relinked_where_the_schema_says(
        make_client: Callable[[str], InfinityClient]) -> None:
    """A description that happens to start with a URI is text, not a reference to drop."""
    text = C + "system_location/2/ is where the board meets"
    room = {**ROOM, "description": text, "automatic_participants": []}
    target = _target()
    with LocalServer(target) as dst:
        result = import_rooms(make_client(dst.url), [room])
    [(_, body)] = target.posts
    assert body["description"] == text and result.dropped_references["description"] == 0


def test_a_participant_missing_from_the_list_is_read_by_id(
        make_client: Callable[[str], InfinityClient]) -> None:
    """Created between the participant list and the conference list: looked up on its own."""
    late = {**STANDALONE, "id": 8, "alias": "sip:late@rec.example.com",
            "resource_uri": C + "automatic_participant/8/"}
    room = {**ROOM, "automatic_participants": [EMBEDDED, {**EMBEDDED, "id": 8, "alias": late["alias"]}]}
    node = Node({**SOURCE.lists, "conference": [room]}, {})
    original = node.__call__

    def route(h: Handler) -> tuple[int, dict[str, str], bytes]:
        if urlsplit(h.path).path == C + "automatic_participant/8/":
            return 200, {}, json.dumps(late).encode()
        return original(h)

    with LocalServer(route) as src:
        [got] = read_rooms(make_client(src.url))
    assert [p.get("resource_uri") for p in got["automatic_participants"]] == [
        STANDALONE["resource_uri"], late["resource_uri"]]
    assert got["automatic_participants"][1]["system_location"]["name"] == "Oslo"
