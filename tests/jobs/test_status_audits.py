"""``status`` shows what the live probe audits: the built-in automatic backups (disabled, kept
on the node only, an upload failing), licences expiring, and nodes out of contact."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests

from backup_agent.sim import Simulator
from tests.jobs.conftest import PASSWORD, Runner

AUTOBACKUP = "/api/admin/configuration/v1/autobackup/1/"


def _status(agent: Runner, cfg: Path) -> tuple[dict[str, Any], str]:
    # 10 (degraded): no config backup yet in these tests; the audits are warnings, not health
    code, out, err = agent("--config", str(cfg), "status", "--json")
    assert code in (0, 10), err
    [data] = json.loads(out)
    code, text, err = agent("--config", str(cfg), "status")
    assert code in (0, 10), err
    return data, text


def test_autobackups_disabled_then_kept_on_the_node_then_failing(agent: Runner, sim: Simulator,
                                                                cfg: Path) -> None:
    data, text = _status(agent, cfg)
    assert data["autobackup"]["enabled"] is False
    assert "WARNING: built-in automatic backups are disabled" in text
    answer = requests.patch(sim.url + AUTOBACKUP, auth=("admin", PASSWORD), timeout=10, json={
        "autobackup_enabled": True, "autobackup_interval": 6,
        "autobackup_passphrase": "auto-Phrase-91"})
    assert answer.status_code == 202
    data, text = _status(agent, cfg)
    assert data["autobackup"] == {"enabled": True, "interval_hours": 6, "start_hour_utc": 1,
                                  "upload_url": None, "passphrase_set": True}
    assert "kept on the Management Node only" in text and "auto-Phrase-91" not in text
    sim.state.events.raise_alarm("autobackup_upload_failed", sim.opts.management_address)
    data, text = _status(agent, cfg)
    assert "failed to upload (autobackup_upload_failed alarm)" in text
    assert [a["name"] for a in data["alarms"]] == ["autobackup_upload_failed"]


def test_an_expiring_licence_shows_in_status(agent: Runner, sim: Simulator, cfg: Path) -> None:
    data, text = _status(agent, cfg)
    [lic] = data["licences"]
    assert lic["entitlement_id"] and lic["expiration_date"] and "licence" not in text.lower()
    sim.state.licences.set_expiry(sim.opts.now().date() + timedelta(days=9))
    data, text = _status(agent, cfg)
    assert f"WARNING: licence {lic['entitlement_id']} expires on" in text and "(in 9 day(s))" in text
    assert "licenses_expiring" in [a["name"] for a in data["alarms"]]


def test_a_node_out_of_contact_shows_in_status(agent: Runner, sim: Simulator, cfg: Path) -> None:
    node = sim.state.worker_status()[1]["name"]
    sim.state.set_node_down(node)
    data, text = _status(agent, cfg)
    assert f"node {node}: unknown (out of contact with the Management Node" in text
    assert {n["name"]: n["status"] for n in data["nodes"]}[node] == "unknown"


def test_licences_reach_the_inventory_and_the_runbooks(agent: Runner, sim: Simulator,
                                                       cfg: Path) -> None:
    """A rebuilt or restored Management Node must be re-licensed: the runbooks say with what,
    from the inventory when the node is down."""
    [lic] = sim.state.licences.listing()
    assert agent("--config", str(cfg), "backup")[0] == 0
    sim.state.set_management_down()
    code, out, err = agent("--config", str(cfg), "plan", "--failed", "management", "--json")
    assert code == 0, err
    plan = json.loads(out)
    for kind in ("restore-backup", "rebuild"):
        [path] = [p for p in plan["paths"] if p["kind"] == kind]
        [step] = [s for s in path["steps"] if s["title"] == "Re-license the Management Node"]
        assert lic["entitlement_id"] in step["detail"] and lic["expiration_date"] in step["detail"]


def test_a_node_of_another_release_is_a_warning_another_build_is_not(
        agent: Runner, sim: Simulator, cfg: Path) -> None:
    first, second = (w["name"] for w in sim.state.worker_status()[:2])
    sim.state.set_node_version(first, "37.2 (79000.0.0)")
    sim.state.set_node_version(second, "38.1", "81600.0.0")
    data, text = _status(agent, cfg)
    assert [w for w in data["warnings"] if " runs " in w] == [
        f"{first} runs 37.2 (79000.0.0), the Management Node 38.1 (81522.0.0): an upgrade under "
        "way, or a node left behind"]
    assert f"WARNING: {first} runs 37.2" in text
