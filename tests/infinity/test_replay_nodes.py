"""Real answer shapes (written from the facts in shared/infinity-api.md, "Real answers", not
copied) replayed through the client and the probe: a v24-like node with no sync_status, one
node out of contact by its alarm's address, no workervm_status_event history (404), licences
answered as lists, and a command answer wrapped in {"status", "data"}."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from backup_agent.infinity import InfinityClient
from backup_agent.jobs import probe
from tests.infinity.conftest import deployment
from tests.infinity.peers import Handler, LocalServer

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
ANSWERS: dict[str, list[dict[str, Any]]] = {
    "status/v1/management_vm/": [{
        "id": 1, "name": "mgr01", "version": "24 (55691.0.0)", "primary": True,
        "configuration_id": 1, "upgrade_status": "IDLE",
        "last_attempted_contact": "2026-11-26T09:59:58.000101",
        "last_updated": "2026-11-25T07:12:09.000000", "resource_uri": "/api/admin/status/v1/management_vm/1/"}],
    "status/v1/worker_vm/": [
        {"id": 1, "name": "cn-osl-1", "version": "24 (55691.0.0)", "deploy_status": "deploy_succeeded",
         "last_attempted_contact": "2026-11-26T09:59:40.5", "last_reported": "2026-11-26T09:59:40",
         "last_updated": "2026-11-25T07:12:09", "configuration_id": 1, "node_type": "CONFERENCING"},
        {"id": 2, "name": "cn-lon-1", "version": "24 (55691.0.0)", "deploy_status": "deploy_succeeded",
         "last_attempted_contact": "2026-11-26T09:59:41.1", "last_reported": "2026-11-26T09:59:41",
         "last_updated": "2026-11-25T07:12:09", "configuration_id": 2, "node_type": "CONFERENCING"}],
    "configuration/v1/worker_vm/": [
        {"id": 1, "name": "cn-osl-1", "address": "10.1.0.11", "netmask": "255.255.255.0",
         "gateway": "10.1.0.1", "password": "$~!1c2VjcmV0", "managed": False},
        {"id": 2, "name": "cn-lon-1", "address": "10.2.0.11", "netmask": "255.255.255.0",
         "gateway": "10.2.0.1", "password": "", "managed": False}],
    "status/v1/alarm/": [
        {"id": 3, "identifier": 2002, "instance": "10.0.0.10", "level": "error",
         "name": "connectivity_lost", "node": "10.2.0.11", "acknowledged": False,
         "details": "", "time_raised": "2026-11-26T08:00:00.000000",
         "resource_uri": "/api/admin/status/v1/alarm/3/"},
        {"id": 4, "identifier": 4031, "instance": "", "level": "warning",
         "name": "autobackup_upload_failed", "node": "10.0.0.10", "acknowledged": False,
         "details": "", "time_raised": "2026-11-26T01:00:00", "resource_uri": "/api/admin/status/v1/alarm/4/"}],
    "configuration/v1/licence/": [
        {"entitlement_id": "E-1", "fulfillment_id": "F-1", "expiration_date": "2026-12-10",
         "status": "active", "resource_uri": "/api/admin/configuration/v1/licence/F-1/"}],
}
AUTOBACKUP = {"id": 1, "autobackup_enabled": True, "autobackup_interval": 24,
              "autobackup_start_hour": 1, "autobackup_passphrase": "$~!1cGFzcw==",
              "autobackup_upload_url": "ftps://backups.example.com/pexip/",
              "autobackup_upload_username": "pexip", "autobackup_upload_password": "$~!1eHl6"}


def _node(h: Handler) -> tuple[int, dict[str, str], bytes]:
    path = urlsplit(h.path).path.removeprefix("/api/admin/")
    if path == "configuration/v1/autobackup/1/":
        return 200, {}, json.dumps(AUTOBACKUP).encode()
    if path not in ANSWERS:
        return 404, {"Content-Type": "text/html"}, b"<h1>Not Found</h1>"
    objects = ANSWERS[path]
    meta = {"limit": 500, "offset": 0, "total_count": len(objects), "next": None, "previous": None}
    return 200, {}, json.dumps({"meta": meta, "objects": objects}).encode()


def test_a_v24_node_replayed_through_the_client_and_the_probe() -> None:
    with LocalServer(_node) as srv, InfinityClient(deployment(srv.url)) as client:
        live = probe.read(client, NOW)
        assert live.events is None and not live.unread  # no status events in this release
        assert live.health["cn-osl-1"].status == "up"
        lost = live.health["cn-lon-1"]
        assert lost.status == "unknown" and lost.out_of_contact_since == datetime(2026, 11, 26, 8, tzinfo=UTC)
        assert [(a["name"], a["node"]) for a in probe.alarm_view(live)] == [
            ("connectivity_lost", "cn-lon-1"), ("autobackup_upload_failed", "10.0.0.10")]
        audit, warnings = probe.autobackup_audit(client, live)
        assert audit == {"enabled": True, "interval_hours": 24, "start_hour_utc": 1,
                         "upload_url": "ftps://backups.example.com/pexip/", "passphrase_set": True}
        assert warnings == ["the built-in automatic backup failed to upload (autobackup_upload_failed "
                            "alarm): check autobackup_upload_url and its credentials"]
        licences, expiring = probe.licence_audit(client, live, NOW.date())
        assert licences[0]["entitlement_id"] == "E-1"
        assert expiring == ["licence E-1 expires on 2026-12-10 (in 14 day(s)): renew it"]
