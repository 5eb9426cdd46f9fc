"""After backup_restore a real node restarts its services (issue 8, defect 9): the next step
waits for it, bounded and said, instead of failing on the first 503s."""

from __future__ import annotations

import json
import time
from pathlib import Path

from backup_agent.sim import SimOptions, Simulator
from tests.jobs.conftest import PASSWORD, Runner
from tests.jobs.restore_helpers import config_with_nodes, path_number, plan


def test_the_step_after_a_restore_waits_for_the_node_to_come_back(agent: Runner, sim: Simulator,
                                                                   tmp_path: Path) -> None:
    cfg = config_with_nodes(tmp_path, sim)  # retries 0: without the wait the next step fails
    assert agent("--config", str(cfg), "backup")[0] == 0
    time.sleep(1.1)  # the export is newer than the backup: the path re-imports from it
    assert agent("--config", str(cfg), "export")[0] == 0
    sim.state.set_management_down()
    with Simulator(SimOptions(empty=True, password=PASSWORD, restore_restart_seconds=5)) as fresh:
        p = plan(agent, cfg, "--failed", "management")
        n = path_number(p, "restore-backup")
        assert any(s["title"].startswith("Re-import rooms") for s in p["paths"][n - 1]["steps"])
        started = time.monotonic()
        code, out, err = agent("--config", str(cfg), "restore", "--failed", "management",
                               "--path", str(n), "--target-url", fresh.url, "--yes")
        assert code == 0, out + err
        assert f"waiting up to 15 min for {fresh.url} to restart its services" in out
        assert "answers again after" in out and time.monotonic() - started >= 4
        assert fresh.state.room_count == sim.state.room_count
        code, out, _ = agent("--config", str(cfg), "restore", "--journal", "--json")
        assert code == 0 and json.loads(out)["state"] == "completed"
