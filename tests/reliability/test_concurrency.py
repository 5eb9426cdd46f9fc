"""Defects 10 and 11: runs beside a restore, and two processes on one fresh storage."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from backup_agent.sim import Simulator
from tests.jobs.conftest import Runner
from tests.jobs.restore_helpers import config_with_nodes

ROOT = Path(__file__).resolve().parents[2]


class _RunsJobsMidRestore:
    """An operator under --yes that, as step 2 (the import) begins, starts a backup and an
    export of the same deployment, as cron or the daemon would."""

    def __init__(self, agent: Runner, cfg: Path) -> None:
        self.agent, self.cfg, self.results = agent, cfg, {}  # type: ignore[var-annotated]

    def say(self, line: str) -> None:
        if line.startswith("Step 2/") and not self.results:
            for job in ("backup", "export"):
                self.results[job] = self.agent("--config", str(self.cfg), job)

    def confirm(self, number: int, step: dict[str, Any]) -> bool:
        return True


def test_no_backup_or_export_during_a_restore(agent: Runner, sim: Simulator,
                                              tmp_path: Path) -> None:
    from backup_agent import config as config_mod
    from backup_agent.jobs import restore as job
    from backup_agent.jobs.env import Env

    cfg = config_with_nodes(tmp_path, sim)
    for name in ("backup", "export"):
        assert agent("--config", str(cfg), name)[0] == 0
    sim.state.delete_rooms(4)
    conf = config_mod.load(cfg)
    env = Env.open(conf)
    operator = _RunsJobsMidRestore(agent, cfg)
    try:
        opts = job.RestoreOptions(path=1)
        path = job.choose_path(env, conf.deployment(), opts)
        assert path["kind"] == "import-rooms"
        job.execute(env, conf.deployment(), path, opts, operator)
    finally:
        env.close()
    for name in ("backup", "export"):
        code, _, err = operator.results[name]
        assert code == 4 and "a restore of prod is already running" in err, (name, err)
    code, out, _ = agent("--config", str(cfg), "list", "--json")
    exports = [rp for rp in json.loads(out) if rp["kind"] == "room-export"]
    assert len(exports) == 1, "no export was taken mid-import"
    assert agent("--config", str(cfg), "export")[0] == 0, "the lock is released after"


def test_two_processes_open_a_fresh_catalog_at_once(sim: Simulator, tmp_path: Path) -> None:
    from tests.jobs.conftest import write_config
    cfg = write_config(tmp_path, sim.url)
    procs = [subprocess.Popen([sys.executable, "-m", "backup_agent.cli.main", "--config",
                               str(cfg), "list"], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [p.communicate(timeout=120) for p in procs]
    for p, (_out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err
        assert "already exists" not in err and "locked" not in err
