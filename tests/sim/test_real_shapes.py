"""The simulator answers rooms as a real node does (shared/infinity-api.md, "Real answers"):
embedded participants, nested themes, the full field set, schemas, root discovery, write
answers, read-only fields, references checked on POST, stable order, rooms changing mid-list."""

from __future__ import annotations

import pytest

from backup_agent.sim import SimOptions
from backup_agent.sim.schema import SPECS
from tests.sim.conftest import API, CONF, Client, make_sim

EMBEDDED = {"id", "alias", "call_type", "creation_time", "description", "dtmf_sequence",
            "keep_conference_alive", "presentation_url", "protocol", "remote_display_name",
            "role", "routing", "streaming"}
ATTRIBUTES = {"blank", "help_text", "nullable", "readonly", "type", "unique"}


def test_a_conference_has_the_full_field_set(client: Client) -> None:
    room = client.get(CONF + "conference/1/").json()
    assert len(room) == 53
    for field in ("breakout_rooms", "direct_media", "guests_can_see_guests", "live_captions_enabled",
                  "non_idp_participants", "two_stage_dial_type", "pinning_config",
                  "softmute_enabled", "denoise_enabled", "scheduled_conferences",
                  "scheduled_conferences_count", "creation_time", "sync_tag"):
        assert field in room
    assert room["scheduled_conferences"] == [] and room["scheduled_conferences_count"] == 0


def test_participants_are_embedded_without_their_location(client: Client) -> None:
    rooms = client.all(CONF + "conference/?limit=100")
    embedded = [p for r in rooms for p in r["automatic_participants"]]
    assert embedded and all(set(p) == EMBEDDED for p in embedded)
    standalone = client.all(CONF + "automatic_participant/")
    assert all(len(p) == 16 and isinstance(p["conference"], list) for p in standalone)
    locations = {p["system_location"] for p in standalone if p["system_location"]}
    assert len(locations) >= 2, "participants dial out from several locations"


def test_ivr_theme_is_a_nested_object_read_and_a_uri_written(client: Client) -> None:
    rooms = client.all(CONF + "conference/?limit=100")
    themed = [r for r in rooms if r["ivr_theme"]]
    assert themed and any(r["ivr_theme"] is None for r in rooms)
    assert set(themed[0]["ivr_theme"]) == {"id", "name", "resource_uri"}
    assert len({r["ivr_theme"]["name"] for r in themed}) >= 2
    theme = client.get(CONF + "ivr_theme/3/").json()
    created = client.post(CONF + "conference/", json={"name": "Themed", "ivr_theme": theme["resource_uri"]})
    assert created.status_code == 201 and created.content == b""
    assert client.get(created.headers["Location"]).json()["ivr_theme"] == {
        "id": 3, "name": theme["name"], "resource_uri": theme["resource_uri"]}
    assert created.headers["Location"] in client.get(CONF + "ivr_theme/3/").json()["conference"]
    client.patch(CONF + "ivr_theme/3/", json={"name": "Renamed"})
    assert client.get(created.headers["Location"]).json()["ivr_theme"]["name"] == "Renamed"


@pytest.mark.parametrize("body, field", [
    ({"name": "x", "ivr_theme": CONF + "ivr_theme/99/"}, "ivr_theme"),
    ({"name": "x", "ivr_theme": CONF + "system_location/1/"}, "ivr_theme"),
    ({"name": "x", "scheduled_conferences": [CONF + "scheduled_conference/4/"]}, "scheduled_conferences"),
    ({"name": "x", "host_view": "everyone_huge"}, "host_view"),
    ({"name": "x", "pin": "12#34"}, "pin"),
])
def test_dangling_references_and_bad_choices_are_400(client: Client, body: dict, field: str) -> None:
    answer = client.post(CONF + "conference/", json=body)
    assert answer.status_code == 400 and field in answer.json()["conference"]
    assert client.sim.state.room_count == 60


def test_pins_may_end_in_a_hash(client: Client) -> None:
    answer = client.post(CONF + "conference/", json={"name": "Hash", "pin": "1234#", "guest_pin": "56789#"})
    assert answer.status_code == 201
    assert client.get(answer.headers["Location"]).json()["pin"] == "1234#"


def test_write_answers(client: Client) -> None:
    room = CONF + "conference/2/"
    assert client.patch(room, json={"description": "p"}).status_code == 202
    assert client.session.put(client.url(room), json={"description": "q"}, timeout=10).status_code == 204
    assert client.get(room).json()["description"] == "q"
    assert client.delete(room).status_code == 204


def test_read_only_fields_are_ignored_or_refused(client: Client) -> None:
    body = {"name": "RO", "sync_tag": "ldap", "scheduled_conferences_count": 9,
            "creation_time": "2001-01-01T00:00:00", "id": 777}
    answer = client.post(CONF + "conference/", json=body)
    assert answer.status_code == 201
    room = client.get(answer.headers["Location"]).json()
    assert room["id"] != 777 and room["sync_tag"] == "" and room["scheduled_conferences_count"] == 0
    strict = make_sim(rooms=3, refuse_readonly=True)
    try:
        refused = Client(strict).post(CONF + "conference/", json={"name": "RO", "sync_tag": "x"})
        assert refused.status_code == 400 and refused.json() == {
            "conference": {"sync_tag": ["This field is read-only."]}}
    finally:
        strict.stop()


@pytest.mark.parametrize("resource", sorted(SPECS))
def test_schema_lists_every_field_with_its_attributes(client: Client, resource: str) -> None:
    schema = client.get(CONF + f"{resource}/schema/").json()
    fields = schema["fields"]
    assert set(fields) == set(SPECS[resource])
    assert all(set(f) >= ATTRIBUTES for f in fields.values())
    assert fields["id"]["readonly"] and fields["resource_uri"]["readonly"]
    assert "id" in schema["ordering"] and schema["default_limit"] == 20
    obj = client.get(CONF + f"{resource}/1/").json()
    assert set(obj) == set(fields), "the schema describes exactly what an object holds"


def test_conference_schema_attributes(client: Client) -> None:
    fields = client.get(CONF + "conference/schema/").json()["fields"]
    assert len(fields) == 53
    readonly = {n for n, f in fields.items() if f["readonly"]}
    assert readonly == {"id", "resource_uri", "creation_time", "scheduled_conferences_count", "sync_tag"}
    assert fields["ivr_theme"]["type"] == "related" and fields["ivr_theme"]["nullable"]
    assert fields["scheduled_conferences"]["related_type"] == "to_many"
    assert "lecture" in fields["service_type"]["valid_choices"]
    assert fields["service_type"]["default"] == "conference"


def test_root_discovery(client: Client) -> None:
    root = client.get(CONF).json()
    for name in ("conference", "conference_alias", "automatic_participant", "ivr_theme",
                 "system_location", "worker_vm"):
        assert root[name] == {"list_endpoint": CONF + f"{name}/", "schema": CONF + f"{name}/schema/"}


def test_order_by_id_and_fields_that_do_not_order(client: Client) -> None:
    ids = [r["id"] for r in client.all(CONF + "conference/?order_by=-id&limit=25")]
    assert ids == list(range(60, 0, -1))
    answer = client.get(CONF + "conference/?order_by=pin")
    assert answer.status_code == 400, "no ordering on a field the schema does not list"


def test_a_room_deleted_while_the_list_is_read(client: Client) -> None:
    client.sim.faults.change_during_list("delete", after=1)
    first = client.get(CONF + "conference/?limit=20&offset=0&order_by=id").json()
    second = client.get(CONF + "conference/?limit=20&offset=20&order_by=id").json()
    assert first["meta"]["total_count"] == 60 and second["meta"]["total_count"] == 59
    assert second["objects"][0]["id"] == 22, "room 21 moved onto the page already read"


def test_rooms_0_keeps_locations_and_themes() -> None:
    sim = make_sim(rooms=0)
    try:
        c = Client(sim)
        assert c.get(CONF + "conference/").json()["meta"]["total_count"] == 0
        assert c.get(CONF + "ivr_theme/").json()["meta"]["total_count"] == 3
        assert c.get(CONF + "system_location/").json()["meta"]["total_count"] == 3
        assert c.get(API + "status/v1/worker_vm/").json()["meta"]["total_count"] == 4
    finally:
        sim.stop()
    assert SimOptions(rooms=0).rooms == 0


def test_rooms_change_mid_list_through_the_control_api(client: Client) -> None:
    armed = client.post("/_sim/faults", json={"kind": "change_rooms", "action": "add", "after": 0})
    assert armed.status_code == 201
    assert armed.json()["list_changes"] == [{"path": "configuration/v1/conference/", "after": 0,
                                             "action": "add", "times": 1}]
    assert client.get(CONF + "conference/").json()["meta"]["total_count"] == 61
    assert client.get(CONF + "conference/").json()["meta"]["total_count"] == 61, "used up"
    bad = client.post("/_sim/faults", json={"kind": "change_rooms", "action": "explode"})
    assert bad.status_code == 400
