"""``backup --harvest``: the node's own automatic backups, verified and recorded."""

from __future__ import annotations

import json
from pathlib import Path

from backup_agent.sim import Simulator
from tests.jobs.conftest import Runner, listing


def _autobackups(sim: Simulator, count: int) -> list[str]:
    sim.state.config.autobackup.update(autobackup_enabled=True, autobackup_passphrase="auto-pp-3")
    return [sim.run_autobackup()["filename"] for _ in range(count)]


def test_harvest_records_the_nodes_backups_once(agent: Runner, sim: Simulator, cfg: Path) -> None:
    names = _autobackups(sim, 2)
    assert agent("--config", str(cfg), "backup")[0] == 0  # the agent's own is not harvested again
    before = sim.state.requests_served
    code, out, err = agent("--config", str(cfg), "backup", "--harvest")
    assert code == 0, err
    assert sum(f"harvested {n} as restore point" in out for n in names) == 2, out
    points = [p for p in listing(agent, cfg) if p["kind"] == "config-backup"]
    harvested = [p for p in points if p.get("origin") == "harvested"]
    assert sorted(p["filename"] for p in harvested) == sorted(names)
    assert all(p["verified"] and p["node_type"] == "automatic" for p in harvested)
    assert len(points) == 3
    assert sim.state.requests_by_path["/api/admin/command/v1/platform/backup_create/"] == 1
    assert sim.state.requests_served > before
    code, out, err = agent("--config", str(cfg), "backup", "--harvest", "--json")
    assert code == 0, err
    assert json.loads(out)["summary"]["harvested"] == []  # nothing new: nothing downloaded


def test_a_backup_that_does_not_verify_fails_its_item_only(agent: Runner, sim: Simulator,
                                                          cfg: Path) -> None:
    _autobackups(sim, 1)
    sim.faults.cut_download(after_bytes=10, times=10)
    code, out, err = agent("--config", str(cfg), "backup", "--harvest", "--json")
    run = json.loads(out)
    # It made no restore point: failed (exit 1), though the inventory was refreshed.
    assert code == 1 and run["outcome"] == "failed", out + err
    assert not [p for p in listing(agent, cfg) if p["kind"] == "config-backup"]
