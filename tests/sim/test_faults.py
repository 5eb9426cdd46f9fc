"""Every fault: armed, seen by a real HTTP client, used up, then normal service again."""

from __future__ import annotations

import hashlib

import pytest
import requests

from tests.sim.conftest import CONF, Client

ROOMS = CONF + "conference/"


def test_fail_next_is_a_burst_then_normal(client: Client) -> None:
    client.sim.faults.fail_next(3, status=503)
    assert [client.get(ROOMS).status_code for _ in range(4)] == [503, 503, 503, 200]


def test_fail_next_with_a_path_filter_spares_other_paths(client: Client) -> None:
    client.sim.faults.fail_next(1, status=500, path="system_location")
    assert client.get(ROOMS).status_code == 200
    assert client.get(CONF + "system_location/").status_code == 500
    assert client.get(CONF + "system_location/").status_code == 200


def test_faults_come_before_auth(sim) -> None:
    sim.faults.fail_next(1, status=502)
    assert requests.get(sim.url + ROOMS, timeout=10).status_code == 502


def test_rate_limit_has_retry_after(client: Client) -> None:
    client.sim.faults.rate_limit_next(2, retry_after=7)
    first = client.get(ROOMS)
    assert first.status_code == 429 and first.headers["Retry-After"] == "7"
    assert client.get(ROOMS).status_code == 429
    assert client.get(ROOMS).status_code == 200


def test_html_next(client: Client) -> None:
    client.sim.faults.html_next(1)
    answer = client.get(ROOMS)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/html")
    with pytest.raises(ValueError):
        answer.json()
    assert client.get(ROOMS).json()["meta"]["total_count"] == 60


def test_malformed_json_next(client: Client) -> None:
    client.sim.faults.malformed_json_next(2)
    for _ in range(2):
        answer = client.get(ROOMS)
        assert answer.headers["Content-Type"] == "application/json"
        with pytest.raises(ValueError):
            answer.json()
    assert client.get(ROOMS).json()["objects"]


def test_cut_download_closes_mid_body_then_recovers(client: Client) -> None:
    entry = client.backup()
    client.sim.faults.cut_download(after_bytes=1000, times=1)
    got = bytearray()
    with pytest.raises(requests.exceptions.ChunkedEncodingError), \
            client.session.get(client.url(entry["resource_uri"]), stream=True, timeout=10) as answer:
        assert int(answer.headers["Content-Length"]) == entry["size"]
        for chunk in answer.iter_content(100):
            got.extend(chunk)
    assert len(got) == 1000
    whole = client.get(entry["resource_uri"]).content
    assert hashlib.sha256(whole).hexdigest() == entry["sha256sum"]


def test_cut_download_does_not_touch_json_requests(client: Client) -> None:
    entry = client.backup()
    client.sim.faults.cut_download(after_bytes=10, times=1)
    assert client.get(ROOMS).status_code == 200
    assert client.get(CONF + "system_backup/").status_code == 200
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        client.get(entry["resource_uri"])


def test_wrong_sha256_then_right(client: Client) -> None:
    entry = client.backup()
    whole = client.get(entry["resource_uri"]).content
    client.sim.faults.wrong_sha256(times=1)
    wrong = client.get(CONF + "system_backup/").json()["objects"][0]
    assert len(wrong["sha256sum"]) == 64 and wrong["sha256sum"] != hashlib.sha256(whole).hexdigest()
    right = client.get(CONF + "system_backup/").json()["objects"][0]
    assert right["sha256sum"] == hashlib.sha256(whole).hexdigest()


def test_evil_filename(client: Client) -> None:
    client.sim.faults.evil_filename("../../etc/passwd")
    evil = client.backup()
    assert evil["filename"] == "../../etc/passwd"
    assert evil["resource_uri"] == CONF + "system_backup/..%2F..%2Fetc%2Fpasswd/"
    body = client.get(evil["resource_uri"])  # still served, by its encoded name
    assert hashlib.sha256(body.content).hexdigest() == evil["sha256sum"]
    assert "passwd" not in body.headers["Content-Disposition"].replace("etc_passwd", "")
    assert client.backup()["filename"].startswith("pexip_backup_")  # only the next one
    assert not any("passwd" in p.name for p in client.sim.backup_dir.iterdir())


def test_management_down_503_and_close(client: Client) -> None:
    client.sim.state.set_management_down("503")
    assert client.get(ROOMS).status_code == 503
    client.sim.state.set_management_down("close")
    with pytest.raises(requests.exceptions.ConnectionError):
        client.get(ROOMS)
    client.sim.state.set_management_up()
    assert client.get(ROOMS).status_code == 200


def test_bad_fault_arguments_are_refused(client: Client) -> None:
    with pytest.raises(ValueError):
        client.sim.faults.fail_next(1, status=200)
    with pytest.raises(ValueError):
        client.sim.faults.cut_download(after_bytes=-1)
    with pytest.raises(ValueError):
        client.sim.faults.arm({"kind": "meteor"})
    with pytest.raises(ValueError):
        client.sim.state.set_management_down("explode")


def test_clear_disarms_everything(client: Client) -> None:
    faults = client.sim.faults
    faults.fail_next(5)
    faults.wrong_sha256(2)
    faults.cut_download(10)
    faults.evil_filename("x/y")
    faults.fail_backup(2)
    faults.clear()
    assert faults.describe() == {"responses": [], "download_cuts": [], "wrong_sha256": 0,
                                 "evil_filenames": [], "backup_failures": 0, "list_changes": []}
    assert client.get(ROOMS).status_code == 200


def test_fail_backup_now_and_as_a_request(client: Client) -> None:
    import time
    create = "/api/admin/command/v1/platform/backup_create/"
    client.sim.faults.fail_backup(2, message="disk full")
    now = client.post(create, json={"passphrase": "pw"})
    assert now.status_code == 500 and "disk full" in now.json()["error"]
    answer = client.post(create, json={"passphrase": "pw", "request": True})
    uri = answer.json()["data"]["resource_uri"]
    deadline = time.monotonic() + 10
    while (req := client.get(uri).json())["state"] not in ("completed", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert req["state"] == "failed" and "disk full" in req["message"] and req["download_uri"] is None
    assert client.get(CONF + "system_backup/").json()["meta"]["total_count"] == 0
    assert client.backup()["size"] > 0  # used up: the next one works
