"""A site lost (the Management Node and a Conferencing Node): the runbook's commands, pasted
in order, bring both back: the Management Node's path, then the node's printed command."""

from __future__ import annotations

from pathlib import Path

from backup_agent.sim import Simulator
from tests.jobs.conftest import Runner
from tests.jobs.restore_helpers import config_with_nodes, path_number, plan


def _command(step_detail: str) -> list[str]:
    return step_detail.split("`")[1].split()[1:]  # without the program name


def test_the_printed_redeploy_command_works_once_the_management_node_is_back(
        agent: Runner, sim: Simulator, tmp_path: Path) -> None:
    cfg = config_with_nodes(tmp_path, sim)
    node = sim.state.worker_status()[0]["name"]
    assert agent("--config", str(cfg), "export")[0] == 0
    assert agent("--config", str(cfg), "snapshot", "create", sim.opts.management_name)[0] == 0
    sim.state.set_node_down(node)
    sim.state.set_management_down()
    p = plan(agent, cfg, "--failed", "management", "--failed", node)
    first = p["paths"][path_number(p, "revert-snapshot") - 1]
    redeploy = p["paths"][path_number(p, "redeploy-node") - 1]
    assert first["ready"] and not redeploy["ready"]
    [revert] = [_command(s["detail"]) for s in first["steps"]
                if s["automated"] and "--dry-run" not in s["detail"]]
    [later] = [_command(s["detail"]) for s in redeploy["steps"] if s["automated"]]
    code, _, err = agent("--config", str(cfg), *revert, "--yes")
    assert code == 0, err
    assert sim.state.management_up
    code, out, err = agent("--config", str(cfg), *later, "--yes")
    assert code == 0, err
    assert f"deployment file for {node} written" in out
