"""A restore's room import cut off after its rooms and before their automatic participants:
the resumed step completes the rooms it had made, and the journal's "completed" is true."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from backup_agent.config import Deployment, Secret
from backup_agent.errors import ApiError
from backup_agent.infinity import InfinityClient
from backup_agent.infinity.client import AUTOMATIC_PARTICIPANT
from backup_agent.jobs.export import assemble
from backup_agent.jobs.import_rooms import compare, import_rooms
from backup_agent.sim import Simulator
from tests.jobs.conftest import Runner
from tests.jobs.restore_helpers import config_with_nodes


def _client(sim: Simulator, cfg: Path) -> InfinityClient:
    return InfinityClient(Deployment(name="prod", url=sim.url, retries=0,
                                     password=Secret("pw", file=str(cfg.parent / "pw"))))


def _rooms(client: InfinityClient) -> list[dict[str, Any]]:
    return assemble(client.conferences(), client.aliases(), client.automatic_participants())


class _CutOff:
    """As the import step begins: its rooms are made without their participants (the earlier
    run got that far), then the target fails the step's next request."""

    def __init__(self, sim: Simulator, client: InfinityClient, lost: list[dict[str, Any]]) -> None:
        self.sim, self.client, self.lost = sim, client, lost

    def say(self, line: str) -> None:
        if line.startswith("Step 2/"):
            import_rooms(self.client, [{**r, "automatic_participants": []} for r in self.lost])
            self.sim.faults.fail_next(1, status=400, path="configuration/v1/conference/")

    def confirm(self, number: int, step: dict[str, Any]) -> bool:
        return True


def test_resumed_import_completes_the_rooms_it_had_made(agent: Runner, sim: Simulator,
                                                        tmp_path: Path) -> None:
    from backup_agent import config as config_mod
    from backup_agent.jobs import restore as job
    from backup_agent.jobs.env import Env

    cfg = config_with_nodes(tmp_path, sim)
    for command in ("backup", "export"):
        assert agent("--config", str(cfg), command)[0] == 0
    with _client(sim, cfg) as client:
        before = _rooms(client)
        lost = [r for r in before if r["automatic_participants"]][:3]
        assert lost, "the seeded deployment has rooms with automatic participants"
        participants = sim.state.counts()["automatic_participant"]
        sim.state.delete_rooms(names=[r["name"] for r in lost])
        for room in lost:  # what deleting the rooms by mistake took with them
            for part in room["automatic_participants"]:
                client.delete(AUTOMATIC_PARTICIPANT, part["id"])
        conf = config_mod.load(cfg)
        env = Env.open(conf)
        try:
            opts = job.RestoreOptions(path=1)
            path = job.choose_path(env, conf.deployment(), opts)
            assert [s["action"] for s in path["steps"]][1] == "import-rooms"
            with pytest.raises(ApiError):
                job.execute(env, conf.deployment(), path, opts, _CutOff(sim, client, lost))
        finally:
            env.close()
        assert sim.state.counts()["automatic_participant"] < participants
        code, out, err = agent("--config", str(cfg), "restore", "--resume", "--yes")
        assert code == 0, err
        code, out, _ = agent("--config", str(cfg), "restore", "--journal", "--json")
        assert json.loads(out)["state"] == "completed"
        assert sim.state.counts()["automatic_participant"] == participants
        check = compare(before, _rooms(client))
        assert check["matches"], check


def test_a_restore_whose_process_died_is_journalled_interrupted(agent: Runner, sim: Simulator,
                                                                 tmp_path: Path) -> None:
    """Killed outright (SIGKILL, a reboot), a restore cannot journal its end: the journal said
    "running" for ever. A free restore lock says no process runs it any more."""
    from datetime import UTC, datetime

    from backup_agent import config as config_mod
    from backup_agent.jobs import restore as job
    from backup_agent.jobs.env import Env
    from backup_agent.journal import Journal

    cfg = config_with_nodes(tmp_path, sim)
    assert agent("--config", str(cfg), "export")[0] == 0
    sim.state.delete_rooms(3)
    conf = config_mod.load(cfg)
    env = Env.open(conf)
    try:
        path = job.choose_path(env, conf.deployment(), job.RestoreOptions(path=1))
        journal = Journal(env.catalog)
        restore = journal.start("prod", path, {}, datetime(2026, 11, 26, 10, 0, tzinfo=UTC))
        journal.step(restore, 1, "done", datetime(2026, 11, 26, 10, 0, tzinfo=UTC), "ok")
        journal.step(restore, 2, "started", datetime(2026, 11, 26, 10, 1, tzinfo=UTC))
        with env.lock("restore-prod"):  # its process still runs: nothing is said for it
            code, out, _ = agent("--config", str(cfg), "restore", "--journal", "--json")
            assert json.loads(out)["state"] == "running"
    finally:
        env.close()
    code, out, _ = agent("--config", str(cfg), "restore", "--journal", restore.id, "--json")
    record = json.loads(out)
    assert code == 0 and record["state"] == "interrupted" and record["finished_at"]
    assert [s["state"] for s in record["steps"]] == ["done", "failed", "pending"]
    assert record["steps"][1]["detail"].startswith("interrupted: the restore's process ended")
    code, out, err = agent("--config", str(cfg), "restore", "--resume", "--yes")
    assert code == 0 and "resumed at step 2" in out, err


def test_sigterm_journals_the_restore_interrupted(sim: Simulator, tmp_path: Path) -> None:
    """SIGTERM (a service stopping, `kill`) ended the process with the journal "running"."""
    import os
    import signal
    import subprocess
    import sys
    import time

    cfg = config_with_nodes(tmp_path, sim)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    base = [sys.executable, "-m", "backup_agent.cli.main", "--config", str(cfg)]
    assert subprocess.run([*base, "export"], env=env, capture_output=True, timeout=60).returncode == 0
    sim.state.delete_rooms(60)
    sim.opts.latency_ms = 100  # 60 rooms, 5 at a time: over a second of import
    proc = subprocess.Popen([*base, "restore", "--path", "1", "--yes"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("Step 2/"):
                break
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        sim.opts.latency_ms = 0
    assert proc.returncode == 130, err
    out = subprocess.run([*base, "restore", "--journal", "--json"], env=env, capture_output=True,
                         text=True, timeout=60).stdout
    record = json.loads(out)
    assert record["state"] == "interrupted"
    assert record["steps"][1]["state"] == "failed" and record["steps"][1]["detail"] == "interrupted"
