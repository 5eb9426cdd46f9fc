"""A checkpoint interrupted by SIGTERM records its run (failed, ``interrupted``) and its
checkpoint row, not ready, with the parts taken so far: retention keeps them as it keeps any
checkpoint's (before, the row was never written and the parts were unprotected)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from backup_agent import config as config_mod
from backup_agent.jobs import checkpoint
from backup_agent.jobs.env import Env
from backup_agent.sim import SimOptions, Simulator
from tests.jobs.conftest import PASSWORD
from tests.reliability import matrix_cell
from tests.reliability.faultproxy import FaultProxy


def test_sigterm_mid_checkpoint_records_it_not_ready_with_its_parts(tmp_path: Path) -> None:
    opts = SimOptions(rooms=20, conferencing_nodes=1, password=PASSWORD,
                      backup_request_seconds=0.05)
    with Simulator(opts) as sim, \
            FaultProxy(sim.url, "hold", "configuration/v1/conference/") as proxy:
        nodes = (opts.management_name, *(w["name"] for w in sim.state.worker_status()))
        cfg = matrix_cell.write_config(tmp_path, proxy.url, sim.url, nodes)
        p = matrix_cell.cli(cfg, "checkpoint", "create", "--json")
        assert proxy.held.wait(60), "the checkpoint reached its room export"
        p.send_signal(signal.SIGTERM)  # after the inventory and the config backup
        out, err = p.communicate(timeout=60)
        proxy.release(drop=True)
    assert p.returncode == 130 and "Traceback" not in err, err
    code, out, err = matrix_cell.run(cfg, "checkpoint", "list", "--json")
    assert code == 0, err
    [ckpt] = json.loads(out)
    assert ckpt["ready"] is False
    assert any("interrupted" in r for r in ckpt["reasons"]), ckpt["reasons"]
    kinds = {part["kind"] for part in ckpt["parts"]}
    assert "config-backup" in kinds, ckpt["parts"]
    with Env.open(config_mod.load(cfg)) as env:
        assert {p["id"] for p in ckpt["parts"]} <= checkpoint.protected_ids(env.catalog, "prod")
        [run] = env.catalog.runs("prod", job="checkpoint")
        assert str(run.outcome) in ("failed", "partially_failed")
        assert ("failed", "interrupted") in [(str(o), r) for o, r in run.items.values()]
