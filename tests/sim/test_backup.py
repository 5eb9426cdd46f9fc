"""Configuration backups: create, list, download, delete, background requests, restore."""

from __future__ import annotations

import hashlib
import time

import pytest

from backup_agent.sim import Simulator
from tests.sim.conftest import API, CONF, Client, make_sim

CREATE = API + "command/v1/platform/backup_create/"
RESTORE = API + "command/v1/platform/backup_restore/"


def _rooms(client: Client) -> list[dict]:
    """Rooms as comparable data: everything but ids and URIs a restore may renumber."""
    return client.all(CONF + "conference/?limit=500")


def test_backup_is_listed_with_every_field_and_downloads_with_its_sha256(client: Client) -> None:
    entry = client.backup()
    assert set(entry) >= {"filename", "date", "size", "sha256sum", "version", "build", "type", "resource_uri"}
    assert entry["version"] == "38.1" and entry["build"] == "81522.0.0"
    assert entry["resource_uri"] == CONF + f"system_backup/{entry['filename']}/"
    body = client.get(entry["resource_uri"])
    assert body.status_code == 200 and body.headers["Content-Type"] == "application/octet-stream"
    assert len(body.content) == entry["size"]
    assert hashlib.sha256(body.content).hexdigest() == entry["sha256sum"]
    assert b"Erik" not in body.content and b"example.com" not in body.content  # encrypted


@pytest.mark.parametrize("status", [200, 202])
def test_backup_create_answers_the_configured_status(status: int) -> None:
    sim = make_sim(rooms=5, backup_create_status=status)
    try:
        c = Client(sim)
        assert c.post(CREATE, json={"passphrase": "pw"}).status_code == status
    finally:
        sim.stop()


@pytest.mark.parametrize("body", [{}, {"passphrase": ""}, {"passphrase": "x" * 1001}])
def test_backup_create_needs_a_passphrase(client: Client, body: dict) -> None:
    answer = client.post(CREATE, json=body)
    assert answer.status_code == 400 and "passphrase" in answer.json()
    assert client.get(CONF + "system_backup/").json()["meta"]["total_count"] == 0


def test_round_trip_into_an_empty_simulator_brings_the_rooms_back(client: Client) -> None:
    before = _rooms(client)
    aliases = client.all(CONF + "conference_alias/?limit=500")
    parts = client.all(CONF + "automatic_participant/")
    entry = client.backup("s3cret phrase")
    package = client.get(entry["resource_uri"]).content
    empty = make_sim(empty=True)
    try:
        target = Client(empty)
        assert target.get(CONF + "conference/").json()["meta"]["total_count"] == 0
        answer = target.post(RESTORE, files={"package": (entry["filename"], package)},
                             data={"passphrase": "s3cret phrase"})
        assert answer.status_code == 200, answer.text
        assert _rooms(target) == before
        assert target.all(CONF + "conference_alias/?limit=500") == aliases
        assert target.all(CONF + "automatic_participant/") == parts
        assert len(target.all(CONF + "worker_vm/")) == 3
        assert len(target.all(CONF + "system_location/")) == 3
    finally:
        empty.stop()


def test_restore_really_replaces_the_configuration(client: Client) -> None:
    entry = client.backup()
    package = client.get(entry["resource_uri"]).content
    client.sim.state.delete_rooms(count=10)
    client.post(CONF + "conference/", json={"name": "Made after the backup"})
    assert client.sim.state.room_count == 51
    answer = client.post(RESTORE, files={"package": ("b", package)}, data={"passphrase": "correct horse"})
    assert answer.status_code == 200
    names = {r["name"] for r in _rooms(client)}
    assert len(names) == 60 and "Made after the backup" not in names


def test_wrong_passphrase_is_a_clear_400_and_changes_nothing(client: Client) -> None:
    entry = client.backup("right one")
    package = client.get(entry["resource_uri"]).content
    client.sim.state.delete_rooms(count=5)
    answer = client.post(RESTORE, files={"package": ("b", package)}, data={"passphrase": "wrong one"})
    assert answer.status_code == 400
    assert "passphrase" in answer.json()["error"] and "wrong one" not in answer.text
    assert client.sim.state.room_count == 55


@pytest.mark.parametrize("files, data, needle", [
    ({"package": ("b", b"not a backup at all")}, {"passphrase": "x"}, "Invalid backup file"),
    (None, {"passphrase": "x"}, "package"),
    ({"package": ("b", b"PEXSIM-BACKUP/1\n{broken\n")}, {"passphrase": "x"}, "Invalid backup file"),
])
def test_restore_refuses_bad_uploads(client: Client, files: dict | None, data: dict, needle: str) -> None:
    answer = client.post(RESTORE, files=files or {"other": ("x", b"1")}, data=data)
    assert answer.status_code == 400 and needle in answer.text
    assert client.sim.state.room_count == 60


def test_restore_needs_multipart_and_a_passphrase(client: Client) -> None:
    assert client.post(RESTORE, json={"passphrase": "x"}).status_code == 400
    package = client.get(client.backup()["resource_uri"]).content
    answer = client.post(RESTORE, files={"package": ("b", package)})
    assert answer.status_code == 400 and "passphrase" in answer.json()


def test_restore_onto_another_version_is_refused(client: Client) -> None:
    package = client.get(client.backup()["resource_uri"]).content
    other = make_sim(empty=True, version="39.0")
    try:
        answer = Client(other).post(RESTORE, files={"package": ("b", package)},
                                    data={"passphrase": "correct horse"})
        assert answer.status_code == 400 and "38.1" in answer.json()["error"]
        assert other.state.room_count == 0
    finally:
        other.stop()


def test_delete_backup(client: Client) -> None:
    entry = client.backup()
    path = client.sim.backups.get(entry["filename"])["path"]
    assert client.delete(entry["resource_uri"]).status_code == 204
    assert client.get(entry["resource_uri"]).status_code == 404
    assert client.delete(entry["resource_uri"]).status_code == 404
    assert not path.exists()


def _wait_request(client: Client, uri: str, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    seen = set()
    while time.monotonic() < deadline:
        req = client.get(uri).json()
        seen.add(req["state"])
        if req["state"] in ("completed", "failed"):
            req["seen"] = seen
            return req
        time.sleep(0.02)
    raise AssertionError("backup request did not finish")


def test_background_request_reports_progress_and_a_download_uri(client: Client) -> None:
    answer = client.post(CREATE, json={"passphrase": "pw", "request": True})
    assert answer.status_code == 202
    body = answer.json()  # a command answer: {"status", "data"}, no Location
    assert body["status"] == "success" and "Location" not in answer.headers
    uri = body["data"]["resource_uri"]
    listed = client.get(API + "status/v1/backup_request/").json()
    assert listed["meta"]["total_count"] == 1 and listed["objects"][0]["resource_uri"] == uri
    assert listed["objects"][0]["state"] in ("queued", "in_progress")
    req = _wait_request(client, uri)
    assert req["state"] == "completed" and req["seen"] >= {"completed"}
    assert set(req) >= {"state", "message", "download_uri", "created_at", "updated_at"}
    body = client.get(req["download_uri"]).content
    entry = client.get(CONF + "system_backup/").json()["objects"][0]
    assert hashlib.sha256(body).hexdigest() == entry["sha256sum"]


def test_download_mode_request_serves_bytes_only_at_the_download_uri() -> None:
    sim = make_sim(rooms=5, download_mode="request", backup_create_status=200)
    try:
        c = Client(sim)
        assert c.post(CREATE, json={"passphrase": "pw"}).status_code == 200
        entry = c.get(CONF + "system_backup/").json()["objects"][0]
        item = c.get(entry["resource_uri"])
        assert item.headers["Content-Type"] == "application/json" and item.json()["filename"] == entry["filename"]
        req = c.get(API + "status/v1/backup_request/").json()["objects"][0]
        assert req["state"] == "completed"
        body = c.get(req["download_uri"]).content
        assert hashlib.sha256(body).hexdigest() == entry["sha256sum"]
        assert c.get(API + "status/v1/backup_request/99/").status_code == 404
    finally:
        sim.stop()


def test_big_backup_is_padded_on_disk_and_streams(tmp_path) -> None:
    sim = make_sim(rooms=5, backup_padding_bytes=5 * 1024 * 1024 + 7, backup_dir=str(tmp_path))
    try:
        c = Client(sim)
        entry = c.backup()
        assert entry["size"] > 5 * 1024 * 1024
        digest, total = hashlib.sha256(), 0
        with c.session.get(sim.url + entry["resource_uri"], stream=True, timeout=30) as answer:
            for chunk in answer.iter_content(256 * 1024):
                digest.update(chunk)
                total += len(chunk)
        assert total == entry["size"] and digest.hexdigest() == entry["sha256sum"]
        # and it still restores: the padding is not part of the configuration
        package = c.get(entry["resource_uri"]).content
        sim.state.reset()
        assert c.post(RESTORE, files={"package": ("b", package)},
                      data={"passphrase": "correct horse"}).status_code == 200
        assert sim.state.room_count == 5
    finally:
        sim.stop()


def test_ranges_when_enabled() -> None:
    sim = make_sim(rooms=5, accept_ranges=True)
    try:
        c = Client(sim)
        entry = c.backup()
        whole = c.get(entry["resource_uri"]).content
        part = c.get(entry["resource_uri"], headers={"Range": "bytes=100-"})
        assert part.status_code == 206 and part.content == whole[100:]
        assert part.headers["Content-Range"] == f"bytes 100-{len(whole) - 1}/{len(whole)}"
        assert c.get(entry["resource_uri"], headers={"Range": f"bytes={len(whole)}-"}).status_code == 416
    finally:
        sim.stop()


def test_ranges_are_ignored_by_default(client: Client) -> None:
    entry = client.backup()
    answer = client.get(entry["resource_uri"], headers={"Range": "bytes=100-"})
    assert answer.status_code == 200 and len(answer.content) == entry["size"]


def test_backup_files_are_removed_with_the_simulator() -> None:
    sim: Simulator = make_sim(rooms=3)
    Client(sim).backup()
    directory = sim.backup_dir
    assert any(directory.iterdir())
    sim.stop()
    assert not directory.exists()


def test_restore_accepts_a_streamed_chunked_upload(client: Client) -> None:
    entry = client.backup()
    package = client.get(entry["resource_uri"]).content
    client.sim.state.delete_rooms(count=20)
    boundary = "sim-boundary-1234"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"passphrase\"\r\n\r\ncorrect horse\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"package\"; filename=\"b.bak\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def stream():  # a generator body: requests sends it chunked
        yield head
        for i in range(0, len(package), 1000):
            yield package[i:i + 1000]
        yield tail

    answer = client.post(RESTORE, data=stream(),
                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert answer.status_code == 200, answer.text
    assert client.sim.state.room_count == 60
    assert client.get(CONF + "conference/").status_code == 200  # the connection is still in step
