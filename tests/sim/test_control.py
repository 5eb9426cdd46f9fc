"""The /_sim/ control API, as a separate process (CLI tests, drills) uses it."""

from __future__ import annotations

import hashlib

import pytest
import requests

from tests.sim.conftest import CONF, Client

ROOMS = CONF + "conference/"


def test_control_needs_the_same_basic_auth(client: Client) -> None:
    assert requests.get(client.url("/_sim/state"), timeout=10).status_code == 401
    assert requests.get(client.url("/_sim/state"), auth=("admin", "nope"), timeout=10).status_code == 401


def test_state_counts(client: Client) -> None:
    state = client.get("/_sim/state").json()
    counts = state["counts"]
    assert counts["conference"] == 60 and counts["conference_alias"] == 120
    assert counts["worker_vm"] == 3 and counts["system_backup"] == 0
    assert sum(counts["service_types"].values()) == 60
    assert state["management_up"] is True and state["version"] == "38.1"


@pytest.mark.parametrize("spec, status", [
    ({"kind": "fail", "count": 2, "status": 500}, 500),
    ({"kind": "rate_limit", "count": 2, "retry_after": 3}, 429),
])
def test_arm_status_faults(client: Client, spec: dict, status: int) -> None:
    assert client.post("/_sim/faults", json=spec).status_code == 201
    assert [client.get(ROOMS).status_code for _ in range(3)] == [status, status, 200]


def test_arm_content_faults(client: Client) -> None:
    client.post("/_sim/faults", json={"kind": "html"})
    assert client.get(ROOMS).headers["Content-Type"].startswith("text/html")
    client.post("/_sim/faults", json={"kind": "malformed_json", "path": "system_location"})
    assert client.get(ROOMS).json()
    with pytest.raises(ValueError):
        client.get(CONF + "system_location/").json()


def test_arm_backup_faults(client: Client) -> None:
    client.post("/_sim/faults", json={"kind": "evil_filename", "filename": "a/../b"})
    client.post("/_sim/faults", json={"kind": "wrong_sha256", "count": 1})
    client.post("/_sim/faults", json={"kind": "cut_download", "after_bytes": 50, "count": 1})
    armed = client.get("/_sim/faults").json()
    assert armed["download_cuts"] == [50] and armed["wrong_sha256"] == 1 and armed["evil_filenames"] == ["a/../b"]
    entry = client.backup()
    assert entry["filename"] == "a/../b"
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        client.get(entry["resource_uri"])
    body = client.get(entry["resource_uri"]).content
    assert hashlib.sha256(body).hexdigest() != entry["sha256sum"]  # the listing lied once
    assert client.delete("/_sim/faults").status_code == 204


def test_bad_control_requests(client: Client) -> None:
    assert client.post("/_sim/faults", json={"kind": "meteor"}).status_code == 400
    assert client.post("/_sim/faults", data=b"{", headers={"Content-Type": "application/json"}).status_code == 400
    assert client.post("/_sim/management/down", json={"mode": "explode"}).status_code == 400
    assert client.post("/_sim/nodes/nosuch/down").status_code == 404
    assert client.post("/_sim/options", json={"password": "x"}).status_code == 400
    assert client.get("/_sim/nothing").status_code == 404


def test_reset_to_an_empty_management_node_and_back(client: Client) -> None:
    client.backup()
    state = client.post("/_sim/reset", json={"empty": True}).json()
    assert state["counts"]["conference"] == 0 and state["counts"]["worker_vm"] == 0
    assert state["counts"]["system_backup"] == 1  # backups are files, not configuration
    assert client.get(ROOMS).json()["meta"]["total_count"] == 0
    created = client.post(ROOMS, json={"name": "First"})
    assert created.headers["Location"] == ROOMS + "1/"  # ids start again
    state = client.post("/_sim/reset", json={"empty": False, "backups": True}).json()
    assert state["counts"]["conference"] == 60 and state["counts"]["system_backup"] == 0


def test_management_down_and_up(client: Client) -> None:
    client.post("/_sim/management/down", json={"mode": "503"})
    assert client.get(ROOMS).status_code == 503
    assert client.get("/_sim/state").json()["management_up"] is False  # control still answers
    client.post("/_sim/management/down", json={"mode": "close"})
    with pytest.raises(requests.exceptions.ConnectionError):
        client.get(ROOMS)
    client.post("/_sim/management/up")
    assert client.get(ROOMS).status_code == 200


def test_node_down_and_up(client: Client) -> None:
    name = client.get(CONF + "worker_vm/").json()["objects"][0]["name"]
    client.post(f"/_sim/nodes/{name}/down")
    assert client.get("/api/admin/status/v1/alarm/").json()["meta"]["total_count"] == 1
    assert client.get("/_sim/state").json()["nodes_down"] == [name]
    client.post(f"/_sim/nodes/{name}/up")
    assert client.get("/api/admin/status/v1/alarm/").json()["meta"]["total_count"] == 0


def test_delete_rooms_by_mistake(client: Client) -> None:
    answer = client.post("/_sim/rooms/delete", json={"count": 5}).json()
    assert answer["deleted"] == 5 and answer["counts"]["conference"] == 55
    assert answer["counts"]["conference_alias"] == 110
    first = client.get(ROOMS + "1/").json()["name"]
    answer = client.post("/_sim/rooms/delete", json={"names": [first, "no such room"]}).json()
    assert answer["deleted"] == 1 and client.get(ROOMS + "1/").status_code == 404


def test_a_json_body_sent_as_a_form_is_read_as_json(client: Client) -> None:
    """`curl -d '{...}'` labels JSON as a form: it is obeyed, not read as an empty form."""
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    answer = client.post("/_sim/rooms/delete", data='{"count": 2}', headers=form).json()
    assert answer["deleted"] == 2 and answer["counts"]["conference"] == 58
    assert client.post("/_sim/options", data='{"latency_ms": 1}', headers=form).status_code == 200
    assert client.get("/_sim/state").json()["options"]["latency_ms"] == 1.0
    assert client.post("/_sim/rooms/delete", data="count=2", headers=form).status_code == 400


def test_runtime_options(client: Client) -> None:
    state = client.post("/_sim/options", json={"latency_ms": 5, "snapshot_seconds": 0.5}).json()
    assert state["options"]["latency_ms"] == 5.0 and client.sim.opts.snapshot_seconds == 0.5


def test_add_nodes_and_set_the_version_for_a_drill() -> None:
    from tests.sim.conftest import make_sim
    sim = make_sim(empty=True, version="37.2")
    try:
        c = Client(sim)
        assert c.post("/_sim/nodes", json={"name": "cn-osl-1", "location": "Oslo"}).status_code == 201
        assert c.post("/_sim/nodes", json={"name": "cn-lon-1", "location": "London"}).status_code == 201
        assert c.post("/_sim/nodes", json={"name": "cn-osl-1"}).status_code == 400
        nodes = c.get(CONF + "worker_vm/").json()["objects"]
        assert [n["name"] for n in nodes] == ["cn-osl-1", "cn-lon-1"]
        assert len(c.get(CONF + "system_location/").json()["objects"]) == 2
        assert [v["id"] for v in sim.hypervisor.vms()] == ["mgr01", "cn-osl-1", "cn-lon-1"]
        c.post("/_sim/version", json={"version": "38.1", "build": "81522.0.0"})
        status = c.get("/api/admin/status/v1/management_vm/").json()["objects"][0]
        assert status["version"] == "38.1 (81522.0.0)"
        worker = c.get("/api/admin/status/v1/worker_vm/").json()["objects"][0]
        assert worker["version"] == "38.1 (81522.0.0)"
    finally:
        sim.stop()


def test_diagnostic_bundle_is_not_a_snapshot(client: Client) -> None:
    import io
    import tarfile
    answer = client.post("/api/admin/command/v1/platform/snapshot/", json={"limit": 12})
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/x-gzip"
    with tarfile.open(fileobj=io.BytesIO(answer.content)) as tar:
        names = tar.getnames()
        text = tar.extractfile("diagnostics/support.log").read().decode()  # type: ignore[union-attr]
    assert "diagnostics/administrator.log" in names and "hours=12" in text
    assert client.post("/api/admin/command/v1/platform/snapshot/", json={"limit": 0}).status_code == 400
    assert client.get("/api/admin/command/v1/platform/snapshot/").status_code == 405


def test_hypervisor_over_http(client: Client) -> None:
    hyp = "/_sim/hypervisor/"
    vms = client.get(hyp + "vms").json()["vms"]
    assert vms[0] == {"id": "mgr01", "role": "management", "power_state": "on"}
    assert client.post(hyp + "fail_next", json={"count": 1, "message": "boom"}).status_code == 204
    failed = client.post(hyp + "vms/mgr01/snapshots", json={"name": "a"}).json()
    assert failed["state"] == "error" and failed["message"] == "boom"
    assert client.post(hyp + f"snapshots/{failed['id']}/revert").status_code == 409
    ok = client.post(hyp + "vms/mgr01/snapshots", json={"name": "b", "tags": {"k": "v"}})
    assert ok.status_code == 201 and ok.json()["state"] == "available"
    assert client.post(hyp + "vms/mgr01/snapshots", json={"tags": {"k": 1}}).status_code == 400
    assert client.post(hyp + "vms/ghost/snapshots", json={}).status_code == 404
    listed = client.get(hyp + "snapshots?vm=mgr01").json()["snapshots"]
    assert [s["name"] for s in listed] == ["a", "b"] and "captured" not in listed[0]
    client.post("/_sim/rooms/delete", json={"count": 60})
    assert client.post(hyp + f"snapshots/{ok.json()['id']}/revert").status_code == 200
    assert client.get(CONF + "conference/").json()["meta"]["total_count"] == 60
    assert client.delete(hyp + f"snapshots/{ok.json()['id']}").status_code == 204
    assert client.get(hyp + f"snapshots/{ok.json()['id']}").status_code == 404


def test_built_in_automatic_backup(client: Client) -> None:
    assert client.post("/_sim/autobackup/run").status_code == 409  # not enabled
    client.patch(CONF + "autobackup/1/", json={"autobackup_enabled": True})
    assert client.post("/_sim/autobackup/run").status_code == 409  # no passphrase
    client.patch(CONF + "autobackup/1/", json={"autobackup_passphrase": "auto phrase"})
    assert client.post("/_sim/autobackup/run").status_code == 201
    entry = client.get(CONF + "system_backup/").json()["objects"][0]
    assert entry["type"] == "automatic"
    package = client.get(entry["resource_uri"]).content
    answer = client.post("/api/admin/command/v1/platform/backup_restore/", files={"package": ("b", package)},
                         data={"passphrase": "auto phrase"})
    assert answer.status_code == 200
