"""``backup-agent prune`` / ``pin`` / ``unpin`` against real backups of the simulator.

Restore points are made by the real backup and export jobs at chosen times (the Env's clock),
so the calendar buckets are exercised with bytes in a real store and rows in a real catalog.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backup_agent import config
from backup_agent.jobs.backup import backup
from backup_agent.jobs.env import Env
from backup_agent.jobs.snapshots import take
from backup_agent.sim import Simulator
from tests.jobs.conftest import Runner, listing
from tests.jobs.test_snapshots import sim_config

NOW = datetime.now(UTC).replace(microsecond=0)
ROOT = Path(__file__).resolve().parents[2]


def backups_at(cfg: Path, days_ago: list[int]) -> list[str]:
    """Real config backups, one taken ``d`` days before now for each ``d``."""
    ids = []
    for d in days_ago:
        env = Env.open(config.load(cfg), clock=lambda d=d: NOW - timedelta(days=d))
        try:
            run = backup(env, env.config.deployment())
            assert run.outcome == "completed", run.to_dict()
            ids.append(run.summary["config_backup"]["id"])
        finally:
            env.close()
    return ids


def with_retention(cfg: Path, text: str) -> Path:
    cfg.write_text(cfg.read_text() + "\n" + text)
    return cfg


def stored(tmp_path: Path) -> set[str]:
    return {p.name for p in (tmp_path / "var" / "store" / "prod" / "config-backup").rglob("*")
            if p.is_file()}


def decided(out: str) -> dict[str, dict[str, object]]:
    return {p["id"]: p for p in json.loads(out)[0]["points"] if p["kind"] != "inventory"}


def backup_ids(agent: Runner, cfg: Path) -> list[str]:
    return [p["id"] for p in listing(agent, cfg) if p["kind"] == "config-backup"]


def test_prune_lists_every_point_then_removes_bytes_and_rows(agent: Runner, sim: Simulator,
                                                              tmp_path: Path) -> None:
    cfg = with_retention(sim_config(tmp_path, sim), "[retention]\nkeep_daily = 2\n")
    ids = backups_at(cfg, [4, 3, 2, 1])
    files_before = stored(tmp_path)
    code, out, err = agent("--config", str(cfg), "prune", "--dry-run", "--json")
    assert code == 0, err
    points = decided(out)
    assert set(points) == set(ids)
    assert points[ids[3]]["action"] == "keep" and "daily #1" in points[ids[3]]["reasons"]
    assert points[ids[2]]["reasons"] == ["daily #2"]
    assert points[ids[0]]["action"] == "remove" and points[ids[0]]["reasons"] == ["no rule keeps it"]
    assert stored(tmp_path) == files_before, "a dry run removes nothing"

    code, out, err = agent("--config", str(cfg), "prune")
    assert code == 0, err
    assert "REMOVE" in out and "rule: newest verified config-backup, daily #1" in out
    assert sorted(backup_ids(agent, cfg)) == sorted(ids[2:])
    assert len(stored(tmp_path)) == len(files_before) - 2
    code, out, _ = agent("--config", str(cfg), "verify")
    assert code == 0, "every restore point left has its bytes"
    code, out, _ = agent("--config", str(cfg), "status", "--no-probe", "--json")
    assert json.loads(out)[0]["last_runs"]["retention"]["outcome"] == "completed"


def test_pin_protects_a_point_and_unpin_lets_it_go(agent: Runner, sim: Simulator, tmp_path: Path) -> None:
    cfg = with_retention(sim_config(tmp_path, sim), "[retention]\nkeep_last = 1\n")
    old, new = backups_at(cfg, [10, 1])
    code, out, err = agent("--config", str(cfg), "pin", old)
    assert code == 0 and "pinned" in out, err
    code, out, _ = agent("--config", str(cfg), "prune", "--json")
    points = decided(out)
    assert points[old]["reasons"] == ["pinned"] and points[old]["action"] == "keep"
    assert agent("--config", str(cfg), "unpin", old)[0] == 0
    code, out, _ = agent("--config", str(cfg), "prune", "--json")
    assert {i: p["action"] for i, p in decided(out).items()} == {old: "remove", new: "keep"}
    code, _, err = agent("--config", str(cfg), "pin", "cb-nope")
    assert code == 1 and "no restore point 'cb-nope'" in err and "Traceback" not in err


def test_per_kind_and_per_deployment_tables_apply_exactly_as_written(agent: Runner, sim: Simulator,
                                                                     tmp_path: Path) -> None:
    cfg = with_retention(sim_config(tmp_path, sim),
                         "[retention]\nkeep_daily = 7\n[retention.config-backup]\nkeep_last = 1\n")
    old, _new = backups_at(cfg, [3, 1])
    code, out, _ = agent("--config", str(cfg), "prune", "--dry-run", "--json")
    points = decided(out)
    # keep_daily = 7 is not merged into the kind's table: the older backup goes.
    assert points[old]["action"] == "remove" and points[old]["policy"] == "retention.config-backup"
    # [deployments.retention] must sit inside the deployment: rebuild the file in that order.
    head, _, tail = cfg.read_text().partition("\n[[deployments.nodes]]")
    cfg.write_text(head + "\n[deployments.retention]\nkeep_within = \"5d\"\n\n[[deployments.nodes]]" + tail)
    code, out, err = agent("--config", str(cfg), "prune", "--dry-run", "--json")
    assert code == 0, err
    points = decided(out)
    assert points[old]["action"] == "keep" and points[old]["reasons"] == ["within 5d"]
    assert points[old]["policy"] == "deployments.prod.retention"


def test_no_retention_table_prunes_nothing_and_says_so(agent: Runner, sim: Simulator, tmp_path: Path) -> None:
    cfg = sim_config(tmp_path, sim)
    backups_at(cfg, [2, 1])
    code, _, err = agent("--config", str(cfg), "prune")
    assert code == 2 and "no [retention] table" in err
    code, out, _ = agent("--config", str(cfg), "prune", "--dry-run")
    assert code == 0 and "no [retention] configured, nothing is pruned" in out and "REMOVE" not in out


@pytest.mark.parametrize(("table", "message"), [
    ("[retention]\n", "retention: an empty retention policy is refused"),
    ("[retention]\nkeep_daly = 3\n", "retention: unknown key 'keep_daly'"),
    ("[retention.room-export]\n", "retention.room-export: an empty retention policy is refused"),
    ("[retention]\nkeep_daily = -1\n", "retention.keep_daily: expected a whole number"),
])
def test_bad_retention_tables_exit_2_naming_the_key(agent: Runner, sim: Simulator, tmp_path: Path,
                                                     table: str, message: str) -> None:
    cfg = with_retention(sim_config(tmp_path, sim), table)
    code, _, err = agent("--config", str(cfg), "prune", "--dry-run")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


CRASH = """
import os, sys
from backup_agent import config
from backup_agent.jobs.env import Env
from backup_agent.jobs import retention
env = Env.open(config.load(sys.argv[1]))
where = sys.argv[2]
if where == "store":
    env.store.delete = lambda rel: os._exit(9)          # the process dies deleting the bytes
else:
    env.catalog.mark_deleted = lambda *a: os._exit(9)    # the process dies before hiding the row
retention.prune(env, env.config.deployment())
"""


@pytest.mark.parametrize("where", ["catalog", "store"])
def test_a_crash_in_the_middle_leaves_the_point_or_nothing(agent: Runner, sim: Simulator,
                                                           tmp_path: Path, where: str) -> None:
    cfg = with_retention(sim_config(tmp_path, sim), "[retention]\nkeep_last = 1\n")
    old, new = backups_at(cfg, [5, 1])
    done = subprocess.run([sys.executable, "-c", CRASH, str(cfg), where], cwd=ROOT, capture_output=True)
    assert done.returncode == 9
    left = backup_ids(agent, cfg)
    assert agent("--config", str(cfg), "verify")[0] == 0, "no row without its bytes"
    if where == "catalog":
        assert sorted(left) == sorted([old, new]), "the point is whole"
    else:
        assert left == [new], "nothing visible is left of the point"
        assert len(stored(tmp_path)) == 2, "its bytes wait for the next run"
    code, _out, err = agent("--config", str(cfg), "prune", "--json")
    assert code == 0, err
    assert backup_ids(agent, cfg) == [new] and len(stored(tmp_path)) == 1


def test_expired_agent_snapshots_are_deleted_through_their_provider(agent: Runner, sim: Simulator,
                                                                    tmp_path: Path) -> None:
    cfg = with_retention(sim_config(tmp_path, sim), "[retention.config-backup]\nkeep_last = 5\n")
    env = Env.open(config.load(cfg), clock=lambda: NOW - timedelta(days=20))
    try:
        dep = env.config.deployment()
        take(env, dep, [dep.node("mgr01")], "old")
        env.clock = lambda: NOW - timedelta(days=1)
        take(env, dep, [dep.node("mgr01")], "new")
    finally:
        env.close()
    snaps = sorted((p for p in listing(agent, cfg) if p["kind"] == "snapshot"), key=lambda p: p["taken_at"])
    assert len(snaps) == 2
    assert agent("--config", str(cfg), "pin", snaps[0]["id"])[0] == 0
    code, out, _ = agent("--config", str(cfg), "prune", "--json")
    assert {i: p["action"] for i, p in decided(out).items()}[snaps[0]["id"]] == "keep"
    assert agent("--config", str(cfg), "unpin", snaps[0]["id"])[0] == 0
    code, out, err = agent("--config", str(cfg), "prune", "--json")
    assert code == 0, err
    points = decided(out)
    assert points[snaps[0]["id"]]["action"] == "remove"
    assert str(points[snaps[0]["id"]]["reasons"][0]).startswith("expired ")  # type: ignore[index]
    assert points[snaps[1]["id"]]["reasons"] == ["newest verified snapshot", "no retention rule for its kind"]
    code, out, _ = agent("--config", str(cfg), "snapshot", "list", "--live", "--json")
    assert [s["id"] for s in json.loads(out)] == [snaps[1]["id"]]
