"""``snapshot revert`` and ``snapshot delete`` leave their trace in agent.log (support bundles)."""

from __future__ import annotations

from pathlib import Path

from backup_agent.sim import Simulator
from tests.jobs.conftest import Runner, agent, listing, sim
from tests.jobs.test_snapshots import sim_config

__all__ = ["agent", "sim"]  # fixtures used below


def test_revert_and_delete_are_in_the_agent_log(agent: Runner, sim: Simulator, tmp_path: Path) -> None:
    cfg = sim_config(tmp_path, sim)
    assert agent("--config", str(cfg), "snapshot", "create", "mgr01")[0] == 0
    [snap] = [p for p in listing(agent, cfg) if p["kind"] == "snapshot"]
    assert agent("--config", str(cfg), "snapshot", "revert", snap["id"], "--yes")[0] == 0
    assert agent("--config", str(cfg), "snapshot", "delete", snap["id"])[0] == 0
    log = (tmp_path / "var" / "logs" / "agent.log").read_text()
    assert f"reverting node mgr01 to snapshot {snap['id']}" in log
    assert f"node mgr01 reverted to snapshot {snap['id']}" in log
    assert f"snapshot {snap['id']} deleted at provider hv (provider id {snap['provider_id']})" in log


def test_a_wrong_provider_key_is_exit_2_at_load_not_3_when_used(agent: Runner, sim: Simulator,
                                                                 tmp_path: Path) -> None:
    cfg = sim_config(tmp_path, sim)
    cfg.write_text(cfg.read_text().replace('type = "sim"', 'type = "sim"\ntimeuot = 5'))
    code, out, err = agent("--config", str(cfg), "snapshot", "create", "mgr01")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "providers.hv: unknown key 'timeuot' for a sim provider (known: " in err
    code, _, err = agent("--config", str(cfg), "list")
    assert code == 2 and "timeuot" in err
