"""The simulator answers as real nodes do (infinity-api.md, "Real answers"): node definitions,
status per release profile, alarms and history, licences, autobackup secrets, commands."""

from __future__ import annotations

import time

from backup_agent.sim.nodes import WORKER_VM_FIELDS
from tests.sim.conftest import API, CONF, Client, make_sim


def test_worker_vm_has_the_full_field_set_with_secrets_encrypted(client: Client) -> None:
    node = client.get(CONF + "worker_vm/1/").json()
    assert len(node) >= 44 and {"netmask", "gateway", "password", "snmp_mode"} <= set(node)
    client.sim.state.config.update("worker_vm", 1, {"password": "Node-Pw-1"})
    node = client.get(CONF + "worker_vm/1/").json()
    assert node["password"].startswith("$~!1") and "Node-Pw-1" not in str(node)
    assert node["snmp_privacy_password"] == ""  # blank stays blank
    schema = client.get(CONF + "worker_vm/schema/").json()["fields"]
    assert schema["id"]["readonly"] and schema["managed"]["readonly"]
    assert not schema["netmask"]["readonly"] and "valid_choices" in schema["node_type"]
    assert set(schema) == set(WORKER_VM_FIELDS)


def test_worker_vm_writes_ignore_read_only_fields_and_check_choices(client: Client) -> None:
    assert client.patch(CONF + "worker_vm/1/", json={"managed": True, "id": 99,
                                                     "description": "x"}).status_code == 202
    node = client.get(CONF + "worker_vm/1/").json()
    assert node["managed"] is False and node["id"] == 1 and node["description"] == "x"
    assert client.patch(CONF + "worker_vm/1/", json={"node_type": "BOGUS"}).status_code == 400
    body = {k: v for k, v in node.items() if k not in ("id", "resource_uri")}
    assert client.post(CONF + "worker_vm/", json=dict(body, name="cn-new", address="10.9.9.9",
                                                      hostname="cn-new")).status_code == 201
    stored = client.sim.state.config.find("worker_vm", "name", "cn-new")
    # a secret read back and POSTed again is stored as that ciphertext: never send one back
    assert stored is not None and stored["password"] == node["password"]


def test_release_profiles_shape_the_status_objects() -> None:
    for release, sync, reported, version in (("current", True, False, "38.1 (81522.0.0)"),
                                             ("v24", False, True, "24 (55691.0.0)")):
        sim = make_sim(rooms=2, conferencing_nodes=2, release=release)
        try:
            c = Client(sim)
            [worker, _] = c.get(API + "status/v1/worker_vm/").json()["objects"]
            assert ("sync_status" in worker) is sync and ("last_reported" in worker) is reported
            assert worker["version"] == version and worker["deploy_status"] == "deploy_succeeded"
            assert worker["last_updated"] < worker["last_attempted_contact"]  # not a heartbeat
            events = c.get(API + "history/v1/workervm_status_event/")
            assert events.status_code == (200 if release == "current" else 404)
            backup = c.backup()
            assert f"{backup['version']} ({backup['build']})" == version
        finally:
            sim.stop()


def test_history_of_a_node_out_of_contact(client: Client) -> None:
    name = client.sim.state.worker_status()[0]["name"]
    client.post(f"/_sim/nodes/{name}/down")
    client.post(f"/_sim/nodes/{name}/up")
    events = client.all(API + "history/v1/workervm_status_event/")
    mine = [(e["event_type"], e["state"]) for e in events if e["workervm_configuration_name"] == name]
    assert mine == [("workervm_added", "running"), ("workervm_state_changed", "unreachable"),
                    ("workervm_state_changed", "running")]
    [alarm] = client.get(API + "history/v1/alarm/").json()["objects"]
    assert alarm["name"] == "connectivity_lost" and alarm["time_lowered"] >= alarm["time_raised"]


def test_licences_and_licensing(client: Client) -> None:
    [lic] = client.get(CONF + "licence/").json()["objects"]
    assert {"entitlement_id", "fulfillment_id", "expiration_date", "status"} <= set(lic)
    licensing = client.get(API + "status/v1/licensing/").json()
    assert licensing["meta"]["total_count"] == 1 and licensing["objects"][0]["port_total"] > 0
    assert client.post("/_sim/licence", json={"expires_in_days": 5}).status_code == 200
    alarms = client.get(API + "status/v1/alarm/").json()["objects"]
    assert [a["name"] for a in alarms] == ["licenses_expiring"]
    assert alarms[0]["node"] == client.sim.opts.management_address


def test_autobackup_secrets_are_encrypted_on_read_back(client: Client) -> None:
    client.patch(CONF + "autobackup/1/", json={"autobackup_passphrase": "Auto-Pp-7",
                                               "autobackup_upload_password": ""})
    settings = client.get(CONF + "autobackup/1/").json()
    assert settings["autobackup_passphrase"].startswith("$~!1")
    assert settings["autobackup_upload_password"] == "" and "Auto-Pp-7" not in str(settings)


def test_the_node_restarts_after_a_restore() -> None:
    sim = make_sim(rooms=3, restore_restart_seconds=0.6)
    try:
        c = Client(sim)
        package = c.get(c.backup("pp-restart-1")["resource_uri"]).content
        answer = c.post(API + "command/v1/platform/backup_restore/",
                        files={"package": ("b.tar.enc", package)}, data={"passphrase": "pp-restart-1"})
        assert answer.status_code == 200 and answer.json() == {
            "status": "success", "data": {"message": "Configuration restored"}}
        assert c.get(API + "status/v1/management_vm/").status_code == 503
        time.sleep(0.7)
        assert c.get(API + "status/v1/management_vm/").status_code == 200
    finally:
        sim.stop()
