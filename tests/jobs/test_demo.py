"""backup-agent demo: the whole product on the simulator, 3,000 rooms, well under a minute."""

from __future__ import annotations

import time

from tests.jobs.conftest import Runner


def test_demo_plans_and_drills_under_a_minute(agent: Runner) -> None:
    t0 = time.monotonic()
    code, out, err = agent("demo")
    elapsed = time.monotonic() - t0
    assert code == 0, (out, err)
    assert elapsed < 60, f"the demo took {elapsed:.0f} s"
    assert "3,000 rooms" in out
    assert "pre-upgrade checkpoint ckpt-demo-" in out and "(to 39.1): READY, 7 of 7 gates" in out
    assert "redeployed from the Management Node" in out
    assert "upgraded to 39.1 (simulated); checkpoint release: 1 snapshot(s) deleted" in out
    assert "Plan if the Management Node were lost now: P2" in out
    assert "drill management-lost of demo (version 38.1): verified" in out
    assert "2997 of 2997 match export" in out and "aliases 5994 of 5994" in out
    assert "restore-backup ~" in out.split("Plan again, estimates from the drill:")[1]
    service = out.split("The agent as a service:")[1]
    assert '"ok": true' in service and "SIGTERM: the daemon stopped, exit code 0" in service
    assert 'backup_agent_runs_total{deployment="demo",job="backup",outcome="completed"}' in service
    assert "/ showed 1 deployment card(s): demo" in service, service
