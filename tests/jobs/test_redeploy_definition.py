"""Redeploying a node writes back its writable fields, never a secret read back (issue 8,
defect 4); the inventory keeps the full writable definition, netmask and gateway included."""

from __future__ import annotations

import json
from pathlib import Path

from backup_agent.sim import Simulator
from tests.jobs.conftest import Runner
from tests.jobs.restore_helpers import config_with_nodes, path_number, plan

NODE_PASSWORD = "Cn-Own-Pw-5e1"


def _redeploy(agent: Runner, cfg: Path, node: str) -> str:
    assert agent("--config", str(cfg), "backup")[0] == 0
    p = plan(agent, cfg, "--failed", node)
    code, out, err = agent("--config", str(cfg), "restore", "--failed", node, "--path",
                           str(path_number(p, "redeploy-node")), "--yes")
    assert code == 0, out + err
    return out


def test_a_secret_read_back_is_never_sent_and_the_step_says_so(agent: Runner, sim: Simulator,
                                                                tmp_path: Path) -> None:
    cfg = config_with_nodes(tmp_path, sim)
    node = sim.state.worker_status()[0]["name"]
    row = sim.state.config.find("worker_vm", "name", node)
    assert row is not None
    sim.state.config.update("worker_vm", row["id"], {"password": NODE_PASSWORD})
    out = _redeploy(agent, cfg, node)
    again = sim.state.config.find("worker_vm", "name", node)
    assert again is not None and again["id"] != row["id"]
    assert not str(again.get("password", "")).startswith("$~!1"), "the ciphertext was POSTed back"
    assert (again["netmask"], again["gateway"]) == (row["netmask"], row["gateway"])
    assert f"{node}'s password was not sent" in out and NODE_PASSWORD not in out


def test_the_configured_node_password_is_sent(agent: Runner, sim: Simulator, tmp_path: Path) -> None:
    cfg = config_with_nodes(tmp_path, sim)
    node = sim.state.worker_status()[1]["name"]
    (tmp_path / "node-pw").write_text(NODE_PASSWORD)
    text = cfg.read_text().replace(f'name = "{node}"\n',
                                   f'name = "{node}"\npassword_file = "{tmp_path / "node-pw"}"\n')
    cfg.write_text(text)
    row = sim.state.config.find("worker_vm", "name", node)
    assert row is not None
    sim.state.config.update("worker_vm", row["id"], {"password": "old-one"})
    out = _redeploy(agent, cfg, node)
    again = sim.state.config.find("worker_vm", "name", node)
    assert again is not None and again["password"] == NODE_PASSWORD
    assert "password was not sent" not in out and NODE_PASSWORD not in out


def test_the_inventory_keeps_the_writable_definition(agent: Runner, sim: Simulator,
                                                     tmp_path: Path) -> None:
    cfg = config_with_nodes(tmp_path, sim)
    row = sim.state.config.rows("worker_vm")[0]
    sim.state.config.update("worker_vm", row["id"], {"password": NODE_PASSWORD})
    assert agent("--config", str(cfg), "backup")[0] == 0
    files = list((tmp_path / "var").rglob("inventory.json"))
    assert files
    inv = json.loads(files[0].read_text())
    node = next(n for n in inv["conferencing_nodes"] if n["name"] == row["name"])
    definition = node["definition"]
    assert definition["netmask"] == row["netmask"] and definition["gateway"] == row["gateway"]
    assert "password" not in definition and "$~!1" not in files[0].read_text()
    assert "id" not in definition and "resource_uri" not in definition and "managed" not in definition


def test_the_body_holds_writable_fields_only() -> None:
    """A definition read back from a real node (shape from the facts in shared/), as a body."""
    from backup_agent.config import Deployment
    from backup_agent.infinity.schema import BUILT_IN
    from backup_agent.jobs.node_definition import body

    read_back = {"id": 4, "resource_uri": "/api/admin/configuration/v1/worker_vm/4/",
                 "managed": False, "name": "cn-osl-1", "address": "10.44.0.11",
                 "netmask": "255.255.255.0", "gateway": "10.44.0.1", "password": "$~!1Zm9vYmFy",
                 "snmp_privacy_password": "", "snmp_authentication_password": "$~!1YmFy",
                 "system_location": "/api/admin/configuration/v1/system_location/1/"}
    sent, notes = body(read_back, Deployment(name="prod", url="https://mgr"), set(BUILT_IN["worker_vm"]))
    assert sent == {"name": "cn-osl-1", "address": "10.44.0.11", "netmask": "255.255.255.0",
                    "gateway": "10.44.0.1",
                    "system_location": "/api/admin/configuration/v1/system_location/1/"}
    assert len(notes) == 2 and "password_file" in notes[0]
