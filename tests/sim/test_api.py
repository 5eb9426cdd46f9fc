"""The Management Node API subset: envelope, paging, filters, auth, objects, status."""

from __future__ import annotations

import pytest
import requests

from backup_agent.sim import Simulator
from tests.sim.conftest import API, CONF, Client, make_sim


def test_envelope_and_default_page_size(client: Client) -> None:
    body = client.get(CONF + "conference/").json()
    assert set(body) == {"meta", "objects"}
    meta = body["meta"]
    assert meta["limit"] == 20 and meta["offset"] == 0 and meta["total_count"] == 60
    assert meta["previous"] is None
    assert meta["next"] == CONF + "conference/?limit=20&offset=20"  # a path, not a URL
    assert len(body["objects"]) == 20


def test_following_next_paths_visits_every_room_once(client: Client) -> None:
    rooms = client.all(CONF + "conference/?limit=7")
    assert [r["id"] for r in rooms] == list(range(1, 61))
    last = client.get(CONF + "conference/?limit=7&offset=56").json()["meta"]
    assert last["next"] is None
    assert last["previous"] == CONF + "conference/?limit=7&offset=49"


def test_next_keeps_filters(client: Client) -> None:
    meta = client.get(CONF + "conference_alias/?alias__icontains=example&limit=5").json()["meta"]
    assert meta["next"].startswith(CONF + "conference_alias/?")
    assert "alias__icontains=example" in meta["next"] and "offset=5" in meta["next"]


def test_limit_is_capped_and_zero_means_the_maximum() -> None:
    sim = make_sim(rooms=30, max_page_size=25)
    try:
        c = Client(sim)
        assert c.get(CONF + "conference/?limit=1000").json()["meta"]["limit"] == 25
        body = c.get(CONF + "conference/?limit=0").json()
        assert body["meta"]["limit"] == 25 and len(body["objects"]) == 25
    finally:
        sim.stop()


def test_offset_past_the_end_is_an_empty_page(client: Client) -> None:
    body = client.get(CONF + "conference/?offset=500").json()
    assert body["objects"] == [] and body["meta"]["next"] is None and body["meta"]["total_count"] == 60


@pytest.mark.parametrize("query", ["limit=abc", "offset=-1", "name__regex=x", "nosuchfield=1",
                                   "participant_limit__gt=many"])
def test_bad_query_is_400(client: Client, query: str) -> None:
    answer = client.get(CONF + f"conference/?{query}")
    assert answer.status_code == 400 and "error" in answer.json()


def test_filters(client: Client) -> None:
    lectures = client.all(CONF + "conference/?service_type=lecture")
    assert lectures and all(r["service_type"] == "lecture" for r in lectures)
    both = client.all(CONF + "conference/?service_type__in=lecture,test_call")
    assert {r["service_type"] for r in both} == {"lecture", "test_call"}
    assert len(both) == len(lectures) + 1
    one = client.get(CONF + "conference/?id__in=3,5").json()
    assert [r["id"] for r in one["objects"]] == [3, 5] and one["meta"]["total_count"] == 2
    by_name = client.all(CONF + "conference/?name=" + requests.utils.quote(lectures[0]["name"]))
    assert [r["id"] for r in by_name] == [lectures[0]["id"]]
    aliases = client.all(CONF + "conference_alias/?conference=4")
    assert len(aliases) == 2 and all(a["conference"] == CONF + "conference/4/" for a in aliases)
    assert client.all(CONF + "conference/?id__gte=59") == client.all(CONF + "conference/?id__in=59,60")
    guests = client.all(CONF + "conference/?allow_guests=true")
    assert all(r["allow_guests"] is True for r in guests)


def test_every_service_type_and_realistic_fields(client: Client) -> None:
    rooms = client.all(CONF + "conference/?limit=100")
    assert {r["service_type"] for r in rooms} == {
        "conference", "lecture", "two_stage_dialing", "test_call", "media_playback"}
    room = rooms[0]
    for field in ("id", "name", "description", "pin", "guest_pin", "allow_guests", "tag", "call_type",
                  "host_view", "max_callrate_in", "participant_limit", "ivr_theme", "system_location",
                  "crypto_mode", "enable_chat", "primary_owner_email_address", "creation_time",
                  "aliases", "automatic_participants", "resource_uri"):
        assert field in room
    assert room["resource_uri"] == CONF + "conference/1/"
    assert room["aliases"][0]["conference"] == room["resource_uri"]
    with_parts = [r for r in rooms if r["automatic_participants"]]
    assert with_parts, "some rooms have automatic participants"
    embedded = with_parts[0]["automatic_participants"][0]
    # embedded as a real node does: no resource_uri, conference or system_location
    assert isinstance(embedded, dict) and len(embedded) == 13
    assert not {"resource_uri", "conference", "system_location"} & set(embedded)
    part = client.get(CONF + f"automatic_participant/{embedded['id']}/").json()
    assert len(part) == 16 and with_parts[0]["resource_uri"] in part["conference"]
    assert set(embedded) < set(part) and "system_location" in part


def test_auth(sim: Simulator) -> None:
    url = sim.url + CONF + "conference/"
    for auth in (None, ("admin", "wrong"), ("root", "sim-admin")):
        answer = requests.get(url, auth=auth, timeout=10)
        assert answer.status_code == 401
        assert answer.json()["error"] and "sim-admin" not in answer.text
        assert answer.headers["WWW-Authenticate"].startswith("Basic")
    garbage = requests.get(url, headers={"Authorization": "Basic !!!"}, timeout=10)
    assert garbage.status_code == 401


def test_every_path_ends_in_a_slash(client: Client) -> None:
    assert client.get(CONF + "conference").status_code == 404
    assert client.get(API + "configuration/v1/nosuch/").status_code == 404
    assert client.get(CONF + "conference/99999/").status_code == 404


def test_create_conference_with_nested_aliases(client: Client) -> None:
    answer = client.post(CONF + "conference/", json={
        "name": "Board room", "service_type": "conference", "pin": "1234", "guest_pin": "5678",
        "allow_guests": True, "aliases": [{"alias": "board@example.com"}, {"alias": "8999"}]})
    assert answer.status_code == 201, answer.text
    location = answer.headers["Location"]
    assert location.startswith(CONF + "conference/") and location.endswith("/")
    room = client.get(location).json()
    assert room["name"] == "Board room" and room["pin"] == "1234"
    assert [a["alias"] for a in room["aliases"]] == ["board@example.com", "8999"]
    assert client.sim.state.room_count == 61 and client.sim.state.alias_count == 122


def test_create_alias_and_participant_then_delete_cascades(client: Client) -> None:
    room = client.post(CONF + "conference/", json={"name": "Temp"}).headers["Location"]
    alias = client.post(CONF + "conference_alias/", json={"alias": "temp@example.com", "conference": room})
    assert alias.status_code == 201
    part = client.post(CONF + "automatic_participant/", json={
        "alias": "sip:rec@example.com", "conference": [room], "protocol": "sip", "role": "guest"})
    assert part.status_code == 201
    part_id = int(part.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    assert [p["id"] for p in client.get(room).json()["automatic_participants"]] == [part_id]
    assert client.delete(room).status_code == 204
    assert client.get(alias.headers["Location"]).status_code == 404
    assert client.get(part.headers["Location"]).json()["conference"] == []


@pytest.mark.parametrize("body, field", [
    ({"description": "no name"}, "name"),
    ({"name": "x", "service_type": "webinar"}, "service_type"),
    ({"name": "x", "pin": "12"}, "pin"),
    ({"name": "x", "pin": "12ab56"}, "pin"),
    ({"name": "x", "guest_pin": "5678"}, "guest_pin"),
    ({"name": "x", "system_location": "/api/admin/configuration/v1/system_location/999/"}, "system_location"),
])
def test_create_conference_refuses_bad_fields(client: Client, body: dict, field: str) -> None:
    answer = client.post(CONF + "conference/", json=body)
    assert answer.status_code == 400
    assert field in answer.json()["conference"]
    assert client.sim.state.room_count == 60


def test_duplicates_and_dangling_references_are_refused(client: Client) -> None:
    first = client.get(CONF + "conference/1/").json()
    assert client.post(CONF + "conference/", json={"name": first["name"]}).status_code == 400
    dup_alias = client.post(CONF + "conference_alias/", json={
        "alias": first["aliases"][0]["alias"], "conference": first["resource_uri"]})
    assert dup_alias.status_code == 400
    dangling = client.post(CONF + "conference_alias/", json={
        "alias": "new@example.com", "conference": CONF + "conference/9999/"})
    assert dangling.status_code == 400
    nested_dup = client.post(CONF + "conference/", json={
        "name": "Fresh", "aliases": [{"alias": first["aliases"][0]["alias"]}]})
    assert nested_dup.status_code == 400 and client.sim.state.room_count == 60
    assert client.post(CONF + "conference/", data=b"{not json",
                       headers={"Content-Type": "application/json"}).status_code == 400


def test_patch_updates_a_room(client: Client) -> None:
    answer = client.patch(CONF + "conference/2/", json={"description": "changed", "pin": "4321"})
    assert answer.status_code == 202
    room = client.get(CONF + "conference/2/").json()
    assert room["description"] == "changed" and room["pin"] == "4321"
    assert client.patch(CONF + "conference/2/", json={"pin": "1"}).status_code == 400


def test_locations_and_worker_vm_config(client: Client) -> None:
    locations = client.all(CONF + "system_location/")
    assert len(locations) == 3
    nodes = client.all(CONF + "worker_vm/")
    assert len(nodes) == 3 and all(n["system_location"].startswith(CONF + "system_location/") for n in nodes)
    for field in ("name", "hostname", "domain", "address", "netmask", "gateway", "node_type",
                  "deployment_type", "vm_cpu_count", "vm_system_memory", "maintenance_mode"):
        assert field in nodes[0]


def test_worker_vm_manual_provision_only_answers_xml(client: Client) -> None:
    answer = client.post(CONF + "worker_vm/", json={
        "name": "cn-tst-1", "hostname": "cn-tst-1", "domain": "example.com", "address": "10.9.0.5",
        "netmask": "255.255.255.0", "gateway": "10.9.0.1", "node_type": "CONFERENCING",
        "system_location": CONF + "system_location/1/", "deployment_type": "MANUAL-PROVISION-ONLY"})
    assert answer.status_code == 201
    assert answer.headers["Content-Type"].startswith("application/xml")
    assert b"<hostname>cn-tst-1</hostname>" in answer.content
    assert answer.headers["Location"].startswith(CONF + "worker_vm/")
    incomplete = client.post(CONF + "worker_vm/", json={"name": "cn-x"})
    assert incomplete.status_code == 400


def test_autobackup_singleton(client: Client) -> None:
    settings = client.get(CONF + "autobackup/1/").json()
    assert settings["autobackup_interval"] == 24 and settings["autobackup_start_hour"] == 1
    assert client.patch(CONF + "autobackup/1/", json={"autobackup_enabled": True,
                                                      "autobackup_interval": 6}).status_code == 202
    settings = client.get(CONF + "autobackup/1/").json()
    assert settings["autobackup_enabled"] is True and settings["autobackup_interval"] == 6
    assert client.patch(CONF + "autobackup/1/", json={"autobackup_interval": 25}).status_code == 400
    assert client.patch(CONF + "autobackup/1/", json={"autobackup_start_hour": 24}).status_code == 400
    assert client.patch(CONF + "autobackup/1/", json={"retention": 3}).status_code == 400
    assert client.get(CONF + "autobackup/").json()["meta"]["total_count"] == 1


def test_status_resources_and_alarms(client: Client) -> None:
    mgmt = client.get(API + "status/v1/management_vm/").json()["objects"]
    assert mgmt[0]["name"] == "mgr01" and mgmt[0]["version"] == "38.1 (81522.0.0)"
    workers = client.get(API + "status/v1/worker_vm/").json()["objects"]
    assert len(workers) == 3 and all(w["sync_status"] == "SYNCED" for w in workers)
    assert all(w["version"] == "38.1 (81522.0.0)" and w["deploy_status"] == "deploy_succeeded"
               and "address" not in w for w in workers)
    assert client.get(API + "status/v1/alarm/").json()["meta"]["total_count"] == 0
    client.sim.state.set_node_down(workers[0]["name"])
    alarms = client.get(API + "status/v1/alarm/").json()["objects"]
    address = client.get(CONF + f"worker_vm/{workers[0]['configuration_id']}/").json()["address"]
    assert alarms[0]["name"] == "connectivity_lost" and alarms[0]["node"] == address
    assert isinstance(alarms[0]["identifier"], int) and alarms[0]["level"] == "error"
    down = client.get(API + f"status/v1/worker_vm/{workers[0]['id']}/").json()
    assert down["sync_status"] != "SYNCED"
    assert client.post(API + "status/v1/worker_vm/").status_code == 405


def test_listing_reflects_every_change_to_nested_objects(client: Client) -> None:
    def room3() -> dict:
        return client.get(CONF + "conference/?id=3").json()["objects"][0]

    first = room3()  # rendered once (and cached)
    alias_uri = CONF + f"conference_alias/{first['aliases'][0]['id']}/"
    client.patch(alias_uri, json={"description": "renamed"})
    assert room3()["aliases"][0]["description"] == "renamed"
    client.delete(alias_uri)
    assert len(room3()["aliases"]) == 1
    client.post(CONF + "conference_alias/", json={"alias": "new3@example.com", "conference": 3})
    assert [a["alias"] for a in room3()["aliases"]][-1] == "new3@example.com"
    part = client.post(CONF + "automatic_participant/", json={"alias": "sip:x@y", "conference": [3]})
    assert "sip:x@y" in [p["alias"] for p in room3()["automatic_participants"]]
    client.patch(part.headers["Location"], json={"alias": "sip:z@y"})
    assert "sip:z@y" in [p["alias"] for p in room3()["automatic_participants"]]
    client.patch(CONF + "conference/3/", json={"description": "patched"})
    assert room3()["description"] == "patched"


def test_a_stopped_simulator_answers_nothing_even_on_kept_alive_connections() -> None:
    sim = make_sim(rooms=3)
    c = Client(sim)
    url = sim.url + CONF + "conference/"
    assert c.session.get(url, timeout=10).status_code == 200  # the session keeps this connection
    sim.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        c.session.get(url, timeout=10)


def test_reimporting_an_exported_room_as_is(client: Client) -> None:
    """What import-rooms does: POST the exported object back (ids, URIs and extras ignored)."""
    exported = client.get(CONF + "conference/1/").json()
    client.delete(CONF + "conference/1/")
    exported["automatic_participants"] = []
    exported["ivr_theme"] = (exported["ivr_theme"] or {}).get("resource_uri")  # written as a URI
    exported["some_field_of_a_newer_version"] = 1
    answer = client.post(CONF + "conference/", json=exported)
    assert answer.status_code == 201, answer.text
    again = client.get(answer.headers["Location"]).json()
    assert again["id"] != 1 and "some_field_of_a_newer_version" not in again
    assert [a["alias"] for a in again["aliases"]] == [a["alias"] for a in exported["aliases"]]
    same = {k: v for k, v in again.items()
            if k not in ("id", "resource_uri", "aliases", "creation_time", "ivr_theme")}
    assert same == {k: exported[k] for k in same}


def test_dangling_automatic_participant_links_are_refused(client: Client) -> None:
    answer = client.post(CONF + "conference/", json={
        "name": "Linked", "automatic_participants": [CONF + "automatic_participant/999/"]})
    assert answer.status_code == 400 and client.sim.state.room_count == 60


def test_head_and_unknown_api_versions(client: Client) -> None:
    head = client.session.head(client.url(CONF + "conference/"), timeout=10)
    assert head.status_code == 200 and head.content == b"" and int(head.headers["Content-Length"]) > 0
    assert client.get(API + "configuration/v2/conference/").status_code == 404


def test_redeploying_a_lost_node(client: Client) -> None:
    """Delete the node definition and create it again with the same settings: it is back."""
    node = client.get(CONF + "worker_vm/1/").json()
    client.sim.state.set_node_down(node["name"])
    assert client.get(API + "status/v1/alarm/").json()["meta"]["total_count"] == 1
    assert client.delete(CONF + "worker_vm/1/").status_code == 204
    settings = {k: v for k, v in node.items() if k not in ("id", "resource_uri")}
    answer = client.post(CONF + "worker_vm/", json=dict(settings, deployment_type="MANUAL-PROVISION-ONLY"))
    assert answer.status_code == 201 and f"<name>{node['name']}</name>".encode() in answer.content
    assert client.get(API + "status/v1/alarm/").json()["meta"]["total_count"] == 0
    status = [w for w in client.get(API + "status/v1/worker_vm/").json()["objects"] if w["name"] == node["name"]]
    assert status and status[0]["sync_status"] == "SYNCED"
    lowered = client.get(API + "history/v1/alarm/").json()["objects"]
    assert [a["name"] for a in lowered] == ["connectivity_lost"] and lowered[0]["time_lowered"]
